"""The reconciler: no case stays in a non-terminal state past a deadline without a reason.

A case is written before its workflow execution starts (ingest), and a failure is recorded by
a state of that execution ("Record failure"). Either step can be lost: StartExecution fails
after the case was written and the message is dead-lettered; the execution dies inside the
failure-recording step; an execution is stopped by hand. The case then waits in DETECTED,
IN_REVIEW or APPROVED forever. Run on a schedule, :meth:`Reconciler.run` looks at every case
in those states untouched for ``stuck_after_seconds`` and moves it on:

- no execution was ever started for it: start one (named after the case: a repeat is a no-op);
- its execution is still running: leave it (a review may wait for days; retries take time);
- its execution has ended (succeeded, failed, timed out, aborted) while the case did not: the
  case is FAILED with that cause, visibly, so a person can act on it.

Every move is audited (actor ``system:reconciler``).
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any, Callable

from .cases import AuditEvent, ConcurrentChange, Status, utcnow
from .ports import CaseStore, Executions, WorkflowStarter

NON_TERMINAL_WAITING = (Status.DETECTED, Status.IN_REVIEW, Status.APPROVED)
DEFAULT_STUCK_AFTER = 15 * 60  # seconds: far longer than any step (Lambda's 15-minute cap), far shorter than a review
MAX_PER_PASS = 10_000          # cases per status per pass, least recently changed first


class Reconciler:
    def __init__(self, *, repo: CaseStore, executions: Executions, starter: WorkflowStarter,
                 stuck_after_seconds: float = DEFAULT_STUCK_AFTER, clock: Callable[[], float] = time.time) -> None:
        self.repo, self.executions, self.starter = repo, executions, starter
        self.stuck_after, self.clock = stuck_after_seconds, clock

    def run(self, *, stuck_after_seconds: float | None = None) -> dict[str, Any]:
        """One pass; returns {"checked": n, "started": [ids], "failed": [ids], "running": n}."""
        limit = self.stuck_after if stuck_after_seconds is None else stuck_after_seconds
        cutoff = datetime.fromtimestamp(self.clock() - limit, timezone.utc).isoformat(timespec="milliseconds")
        cutoff = cutoff.replace("+00:00", "Z") + "~"  # "~" sorts after "#<case id>": the cutoff's own millisecond counts
        out: dict[str, Any] = {"checked": 0, "started": [], "failed": [], "running": 0}
        for status in NON_TERMINAL_WAITING:
            for case in self.repo.list_cases(status, limit=MAX_PER_PASS, updated_before=cutoff):
                out["checked"] += 1
                state = self.executions.status(case.case_id)
                if state is None:
                    self.starter.start(case.case_id, {"case_id": case.case_id, "round": 0,
                                                      "auto_approve": bool(case.policy.get("auto_approve"))})
                    self.repo.append_audit(AuditEvent(case.case_id, utcnow(), "system:reconciler", "execution_started",
                                                      case.status.value, case.status.value,
                                                      {"why": "no workflow execution existed for this case"}))
                    out["started"].append(case.case_id)
                elif state == "RUNNING":
                    out["running"] += 1
                else:
                    cause = {"error": "ExecutionEnded",
                             "cause": f"the case's workflow execution ended {state} while the case was "
                                      f"{case.status.value}; found by the reconciler"}
                    try:
                        self.repo.transition(case.case_id, case.status, Status.FAILED,
                                             AuditEvent(case.case_id, utcnow(), "system:reconciler", "failed",
                                                        case.status.value, Status.FAILED.value, cause),
                                             updates={"failure": cause})
                        out["failed"].append(case.case_id)
                    except ConcurrentChange:  # it moved meanwhile: nothing is stuck
                        pass
        return out
