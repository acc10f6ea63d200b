"""The reconciler (takedown_core.reconcile): nothing stays stuck in a live state past a deadline."""

from __future__ import annotations

import pytest

from takedown_core.cases import AuditEvent, Case, Source, Status
from takedown_core.reconcile import Reconciler
from tests.fakes import InMemoryCaseRepository, RecordingStarter, approve_as_reviewer

pytestmark = pytest.mark.usefixtures("no_network")

OLD = "2026-11-30T10:00:00.000Z"


class FakeExecutions:
    def __init__(self) -> None:
        self.states: dict[str, str] = {}

    def status(self, case_id: str) -> str | None:
        return self.states.get(case_id)


def make_case(n: int, updated_at: str = OLD) -> Case:
    case = Case.open(track_id="trk-1", work={"title": "T"}, evidence={}, policy={"auto_approve": n == 9},
                     submission=f"{n:02d}" * 32,
                     source=Source(partner="p", platform="youtube", url=f"https://youtu.be/v{n}", bucket="b", key="k"))
    case.updated_at = updated_at
    return case


@pytest.fixture
def world():
    repo, ex, starter = InMemoryCaseRepository(), FakeExecutions(), RecordingStarter()
    clock = {"now": 1_796_036_400.0}  # 2026-11-30T11:00:00Z: an hour after OLD
    rec = Reconciler(repo=repo, executions=ex, starter=starter, stuck_after_seconds=900, clock=lambda: clock["now"])
    return repo, ex, starter, rec


def put(repo, case: Case) -> Case:
    repo.create_case(case, AuditEvent(case.case_id, case.updated_at, "system:ingest", "opened", None, "DETECTED"))
    return case


def test_given_a_case_whose_execution_never_started_then_the_reconciler_starts_it(world):
    """StartExecution failed after the case was written (issue 13): nothing may be orphaned."""
    repo, ex, starter, rec = world
    case = put(repo, make_case(9))
    out = rec.run()
    assert out["started"] == [case.case_id]
    assert starter.started[case.case_id] == {"case_id": case.case_id, "round": 0, "auto_approve": True}
    assert repo.audit_trail(case.case_id)[-1].action == "execution_started"


def test_given_a_running_execution_then_the_case_is_left_alone(world):
    repo, ex, starter, rec = world
    case = put(repo, make_case(1))
    ex.states[case.case_id] = "RUNNING"
    assert rec.run() == {"checked": 1, "started": [], "failed": [], "running": 1}
    assert repo.get_case(case.case_id).status is Status.DETECTED


@pytest.mark.parametrize("state", ["FAILED", "TIMED_OUT", "ABORTED", "SUCCEEDED"])
@pytest.mark.parametrize("live", ["DETECTED", "APPROVED"])
def test_given_an_execution_that_ended_without_its_case_then_the_case_fails_with_the_cause(world, state, live):
    """An execution died inside 'Record failure' (issue 13): the case waited in DETECTED forever."""
    repo, ex, starter, rec = world
    case = put(repo, make_case(1))
    if live == "APPROVED":
        approve_as_reviewer(repo, case.case_id, at=OLD)
        repo.cases[case.case_id].updated_at = OLD
    ex.states[case.case_id] = state
    out = rec.run()
    now = repo.get_case(case.case_id)
    assert out["failed"] == [case.case_id] and now.status is Status.FAILED
    assert state in now.failure["cause"] and live in now.failure["cause"]
    assert repo.audit_trail(case.case_id)[-1].actor == "system:reconciler"


def test_given_a_recent_or_ended_case_then_it_is_not_touched(world):
    repo, ex, starter, rec = world
    recent = put(repo, make_case(1, updated_at="2026-11-30T10:55:00.000Z"))
    done = put(repo, make_case(2))
    repo.cases[done.case_id].status = Status.REJECTED
    assert rec.run()["checked"] == 0 and starter.started == {}
    assert rec.run(stuck_after_seconds=0)["started"] == [recent.case_id]
