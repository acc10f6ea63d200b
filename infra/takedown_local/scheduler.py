"""EventBridge scheduled rules, locally: invoke each rule's Lambda target every period.

`resources.py` records each enabled `rate(...)` rule of the template as a `Schedule`; the
`Scheduler` fires them on a thread (`run`) and, for local runs and tests that cannot wait an
hour, all at once on demand (`run_now`: time passing).
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any, Callable, NamedTuple

_RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}


class Schedule(NamedTuple):
    period: int          # seconds between invocations
    function_name: str   # the rule's Lambda target
    payload: str         # the target's Input (JSON text)


def rate_seconds(expression: str) -> int | None:
    """The period of a `rate(N unit)` schedule expression in seconds; None for anything else."""
    m = _RATE.fullmatch(expression)
    if not m:
        return None
    return int(m.group(1)) * _UNIT_SECONDS[m.group(2).rstrip("s")]


class Scheduler:
    """Fires schedules through Lambda's Invoke API, as EventBridge would."""

    def __init__(self, schedules: list[Schedule], client: Callable[[str], Any], stop: threading.Event) -> None:
        self.schedules, self.client, self.stop = schedules, client, stop

    def run_now(self) -> None:
        """Fire every schedule once."""
        lam = self.client("lambda")
        for _, fn, payload in self.schedules:
            lam.invoke(FunctionName=fn, Payload=payload.encode())

    def run(self) -> None:
        """Fire each schedule every period until `stop` is set (a thread's target)."""
        lam = self.client("lambda")
        due = {i: time.monotonic() + period for i, (period, _, _) in enumerate(self.schedules)}
        while not self.stop.wait(1.0):
            for i, (period, fn, payload) in enumerate(self.schedules):
                if time.monotonic() >= due[i]:
                    due[i] += period
                    lam.invoke(FunctionName=fn, Payload=payload.encode())
