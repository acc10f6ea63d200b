"""Workflow steps (takedown_core.workflow.WorkflowService) over fakes."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from takedown_core.cases import AuditEvent, Case, CaseKind, ConcurrentChange, Source, Status
from takedown_core.review_links import verify_link
from takedown_core.workflow import REVIEW_RECORD_GRACE, CaseNotFound, ReviewSettings, WorkflowService, assign_reviewer
from tests.fakes import InMemoryCaseRepository, RecordingMailer, approve_as_reviewer

pytestmark = pytest.mark.usefixtures("no_network")

NOW = 1_767_268_800  # fixed clock, epoch seconds
KEY = b"k" * 32
TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAV-secret-task-token-/+=="
ALICE, BOB, HEAD = "alice@label.example", "bob@label.example", "head-of-rights@label.example"
SETTINGS = ReviewSettings(
    base_url="https://review.label.example/",
    link_key=KEY,
    link_ttl_seconds=3 * 86400,
    reminders=1,
    escalations=1,
    allow=(ALICE, BOB),
    fallback=HEAD,
)
LINK = re.compile(r"https://review\.label\.example/review/[^\s\"'<>]+")


def make_case(*, owner="Example Records Ltd", url="https://www.youtube.com/watch?v=abc123", auto=False,
              stay_down_case: str | None = None) -> Case:
    return Case.open(
        track_id="trk-0042",
        work={"title": "Midnight Harbour", "artist": "The Lanterns", "isrc": "GBXYZ2400123", "owner": owner},
        source=Source(partner="scanco", platform="youtube", url=url, uploader="nightcore_fan", bucket="b", key="k"),
        evidence={"score": 8.4, "false_match_rate": 4e-9, "offset_s": 52.5},
        policy={"auto_approve": auto, "reason": "stay-down: identical content was taken down before in case-x"
                if auto else "match above threshold: human review required",
                **({"stay_down_case": stay_down_case} if stay_down_case else {})},
        submission="ab" * 32,
    )


class World:
    def __init__(self) -> None:
        self.repo = InMemoryCaseRepository()
        self.mailer = RecordingMailer()
        self.now = NOW
        self.wf = WorkflowService(repo=self.repo, mailer=self.mailer, settings=SETTINGS, clock=lambda: self.now)

    def open(self, **kw) -> Case:
        case = make_case(**kw)
        self.repo.create_case(case, AuditEvent(case.case_id, "2025-03-01T12:00:00.000Z", "system:ingest", "opened",
                                               None, "DETECTED"))
        return case

    def actions(self, case_id: str) -> list[str]:
        return [e.action for e in self.repo.audit_trail(case_id)]


@pytest.fixture
def world() -> World:
    return World()


def link_in(mail: dict) -> tuple[str, dict[str, str]]:
    """(review id, {exp, sig}) from the link in an email's text."""
    url = LINK.search(mail["text"]).group(0)
    parts = urlsplit(url)
    review_id = unquote(parts.path.rsplit("/", 1)[1])
    return review_id, {k: v[0] for k, v in parse_qs(parts.query).items()}


# --------------------------------------------------------------------------- assign_reviewer


def test_given_one_owner_when_assigning_then_all_its_cases_go_to_the_same_reviewer():
    a = make_case(url="https://x.example/1")
    b = make_case(url="https://x.example/2")
    assert assign_reviewer(a, SETTINGS, 0) == assign_reviewer(b, SETTINGS, 0)
    assert assign_reviewer(a, SETTINGS, 0)[0] in SETTINGS.allow


def test_given_many_owners_when_assigning_then_they_spread_over_the_allow_list():
    chosen = {assign_reviewer(make_case(owner=f"Owner {i}"), SETTINGS, 0)[0] for i in range(40)}
    assert chosen == set(SETTINGS.allow)


def test_given_rounds_when_assigning_then_request_reminder_escalation():
    case = make_case()
    primary, kind = assign_reviewer(case, SETTINGS, 0)
    assert kind == "request"
    assert assign_reviewer(case, SETTINGS, 1) == (primary, "reminder")
    assert assign_reviewer(case, SETTINGS, 2) == (HEAD, "escalation")


def test_given_a_case_already_assigned_when_reminding_then_the_same_reviewer_is_reminded():
    case = make_case()
    case.reviewer = "carol@label.example"
    assert assign_reviewer(case, SETTINGS, 0) == ("carol@label.example", "request")
    assert assign_reviewer(case, SETTINGS, 1) == ("carol@label.example", "reminder")


# --------------------------------------------------------------------------- request_review


def test_given_a_detected_case_when_review_is_requested_then_the_token_is_stored_and_never_emailed(world):
    case = world.open()
    out = world.wf.request_review(case_id=case.case_id, round_=0, task_token=TOKEN)

    review = world.repo.get_review(out["review_id"])
    assert review.task_token == TOKEN
    assert (review.case_id, review.round, review.used) == (case.case_id, 0, False)
    assert review.expires_at == NOW + SETTINGS.link_ttl_seconds
    [mail] = world.mailer.sent
    for part in (mail["subject"], mail["text"], mail["html"]):
        assert TOKEN not in part
        assert "secret-task-token" not in part
    assert out["message_id"] == "msg-1"


def test_given_a_review_request_then_the_case_is_in_review_with_this_review_and_reviewer(world):
    case = world.open()
    out = world.wf.request_review(case_id=case.case_id, round_=0, task_token=TOKEN)
    now = world.repo.get_case(case.case_id)
    assert now.status is Status.IN_REVIEW
    assert (now.review_id, now.reviewer, now.review_round) == (out["review_id"], out["reviewer"], 0)
    [ev] = world.repo.audit_trail(case.case_id)[1:]
    assert (ev.action, ev.from_status, ev.to_status) == ("review_request", "DETECTED", "IN_REVIEW")
    assert ev.detail == {"reviewer": out["reviewer"], "round": 0, "expires_at": NOW + SETTINGS.link_ttl_seconds,
                         "delivery": "email"}


def test_given_a_review_request_then_the_email_goes_to_the_assigned_reviewer(world):
    case = world.open()
    out = world.wf.request_review(case_id=case.case_id, round_=0, task_token=TOKEN)
    expected, _ = assign_reviewer(make_case(), SETTINGS, 0)
    assert out["reviewer"] == expected
    assert world.mailer.sent[0]["to"] == [expected]


def test_given_the_emailed_link_then_it_verifies_for_this_review_and_carries_only_id_expiry_and_signature(world):
    case = world.open()
    out = world.wf.request_review(case_id=case.case_id, round_=0, task_token=TOKEN)
    review_id, params = link_in(world.mailer.sent[0])
    assert review_id == out["review_id"]
    assert set(params) == {"exp", "sig"}
    verify_link(KEY, review_id=review_id, case_id=case.case_id, reviewer=out["reviewer"],
                expires_at=params["exp"], sig=params["sig"], now=NOW)
    assert case.case_id not in LINK.search(world.mailer.sent[0]["text"]).group(0)


def test_given_two_requests_then_each_review_id_is_new_and_unguessable(world):
    case = world.open()
    a = world.wf.request_review(case_id=case.case_id, round_=0, task_token="t1")["review_id"]
    b = world.wf.request_review(case_id=case.case_id, round_=1, task_token="t2")["review_id"]
    assert a != b and len(a) >= 20 and len(b) >= 20


def test_given_a_case_that_was_decided_when_review_is_requested_then_it_refuses(world):
    case = world.open()
    approve_as_reviewer(world.repo, case.case_id)
    with pytest.raises(ConcurrentChange):
        world.wf.request_review(case_id=case.case_id, round_=0, task_token=TOKEN)
    assert world.mailer.sent == []


def test_given_an_unknown_case_when_review_is_requested_then_case_not_found(world):
    with pytest.raises(CaseNotFound):
        world.wf.request_review(case_id="case-nope", round_=0, task_token=TOKEN)


def test_given_a_review_record_then_it_outlives_its_link_for_the_audit(world, monkeypatch):
    ttl = {}
    real = world.repo.put_review
    monkeypatch.setattr(world.repo, "put_review", lambda r, ttl_epoch: (ttl.update(v=ttl_epoch), real(r, ttl_epoch)))
    case = world.open()
    world.wf.request_review(case_id=case.case_id, round_=0, task_token=TOKEN)
    assert ttl["v"] == NOW + SETTINGS.link_ttl_seconds + REVIEW_RECORD_GRACE


# --------------------------------------------------------------------------- rounds


def test_given_nobody_decides_then_reminder_then_escalation_then_the_case_expires(world):
    case = world.open()
    cid = case.case_id

    first = world.wf.request_review(case_id=cid, round_=0, task_token="t0")
    t0 = world.wf.review_timeout(case_id=cid, round_=0)
    assert t0 == {"case_id": cid, "round": 1, "expired": False, "auto_approve": False}

    reminder = world.wf.request_review(case_id=cid, round_=t0["round"], task_token="t1")
    assert reminder["reviewer"] == first["reviewer"]
    t1 = world.wf.review_timeout(case_id=cid, round_=1)
    assert t1["expired"] is False and t1["round"] == 2

    escalation = world.wf.request_review(case_id=cid, round_=t1["round"], task_token="t2")
    assert escalation["reviewer"] == HEAD
    t2 = world.wf.review_timeout(case_id=cid, round_=2)
    assert t2 == {"case_id": cid, "round": 3, "expired": True, "auto_approve": False}

    assert world.repo.get_case(cid).status is Status.REVIEW_EXPIRED
    assert [m["to"] for m in world.mailer.sent] == [[first["reviewer"]], [first["reviewer"]], [HEAD]]
    assert world.actions(cid) == ["opened", "review_request", "review_timed_out", "review_reminder",
                                  "review_timed_out", "review_escalation", "review_expired"]
    expired = world.repo.audit_trail(cid)[-1]
    assert (expired.from_status, expired.to_status) == ("IN_REVIEW", "REVIEW_EXPIRED")
    assert expired.detail == {"rounds": 3, "last_reviewer": HEAD}


def test_given_a_new_round_then_the_case_points_at_the_newest_review(world):
    case = world.open()
    world.wf.request_review(case_id=case.case_id, round_=0, task_token="t0")
    second = world.wf.request_review(case_id=case.case_id, round_=1, task_token="t1")
    now = world.repo.get_case(case.case_id)
    assert (now.review_id, now.review_round) == (second["review_id"], 1)


def test_given_a_decision_in_the_last_instant_when_the_timeout_fires_then_the_decision_stands(world):
    case = world.open()
    world.wf.request_review(case_id=case.case_id, round_=0, task_token="t0")
    world.repo.transition(case.case_id, Status.IN_REVIEW, Status.APPROVED,
                          AuditEvent(case.case_id, "2025-03-01T12:01:00.000Z", "reviewer:x", "approved",
                                     "IN_REVIEW", "APPROVED"))
    before = world.actions(case.case_id)
    out = world.wf.review_timeout(case_id=case.case_id, round_=0)
    assert out["expired"] is True
    assert world.repo.get_case(case.case_id).status is Status.APPROVED
    assert world.actions(case.case_id) == before


# --------------------------------------------------------------------------- policy and failures


def taken_down(world, url="https://www.youtube.com/watch?v=first", *, by_policy_of: Case | None = None) -> Case:
    """An earlier case for the same bytes whose notice went out: reviewed by a person, or (with
    ``by_policy_of``) itself approved by the stay-down policy on that case."""
    case = world.open(url=url, auto=by_policy_of is not None, stay_down_case=by_policy_of and by_policy_of.case_id)
    if by_policy_of is None:
        approve_as_reviewer(world.repo, case.case_id, reviewer=ALICE, at="2025-03-01T12:30:00.000Z")
    else:
        assert world.wf.approve_by_policy(case_id=case.case_id)["approved"] is True
    world.repo.transition(case.case_id, Status.APPROVED, Status.NOTICE_SENT,
                          AuditEvent(case.case_id, "2025-03-01T12:31:00.000Z", "system:notice", "notice_sent",
                                     "APPROVED", "NOTICE_SENT"),
                          updates={"notice": {"sent_at": "2025-03-01T12:31:00.000Z", "law": "DMCA"}})
    return world.repo.get_case(case.case_id)


def test_given_a_stay_down_case_when_approved_by_policy_then_it_is_approved_with_its_basis_on_record(world):
    earlier = taken_down(world)
    case = world.open(auto=True, stay_down_case=earlier.case_id)
    assert world.wf.approve_by_policy(case_id=case.case_id) == {"case_id": case.case_id, "approved": True}
    now = world.repo.get_case(case.case_id)
    assert now.status is Status.APPROVED
    assert now.decision["decision"] == "approve" and now.decision["by"] == "policy:stay-down"
    basis = now.decision["basis"]
    assert (basis["case_id"], basis["status"], basis["notice_sent_at"]) == (
        earlier.case_id, "NOTICE_SENT", "2025-03-01T12:31:00.000Z")
    assert basis["reviewed"] == {"case_id": earlier.case_id, "at": "2025-03-01T12:30:00.000Z"}
    ev = world.repo.audit_trail(case.case_id)[-1]
    assert (ev.actor, ev.action, ev.from_status, ev.to_status) == ("policy:stay-down", "approved", "DETECTED",
                                                                   "APPROVED")
    assert "stay-down" in ev.detail["reason"]
    assert world.mailer.sent == []


def test_given_a_chain_of_stay_down_cases_then_the_basis_names_the_case_a_person_reviewed(world):
    first = taken_down(world)
    second = taken_down(world, "https://www.youtube.com/watch?v=second", by_policy_of=first)
    third = world.open(url="https://www.youtube.com/watch?v=third", auto=True, stay_down_case=second.case_id)
    world.wf.approve_by_policy(case_id=third.case_id)
    basis = world.repo.get_case(third.case_id).decision["basis"]
    assert basis["case_id"] == second.case_id and basis["reviewed"]["case_id"] == first.case_id


@pytest.mark.parametrize("earlier_state", ["none", "missing", "disputed", "in_review", "other_content"])
def test_given_no_standing_basis_when_approved_by_policy_then_it_declines_and_a_person_decides(world, earlier_state):
    """A notice may not say the content was taken down before unless a standing takedown says so."""
    if earlier_state == "none":
        ref = None
    elif earlier_state == "missing":
        ref = "case-gone"
    elif earlier_state == "in_review":
        e = world.open(url="https://www.youtube.com/watch?v=e")
        world.wf.request_review(case_id=e.case_id, round_=0, task_token="t")
        ref = e.case_id
    else:
        e = taken_down(world)
        ref = e.case_id
        if earlier_state == "disputed":
            world.wf.record_outcome(case_id=e.case_id, outcome="disputed", actor="ops:x", note="counter-notice")
        else:
            world.repo.cases[e.case_id].submission = "cd" * 32
    case = world.open(url="https://www.youtube.com/watch?v=again", auto=True, stay_down_case=ref)
    out = world.wf.approve_by_policy(case_id=case.case_id)
    assert out["approved"] is False and out["reason"]
    assert world.repo.get_case(case.case_id).status is Status.DETECTED
    assert world.actions(case.case_id)[-1] == "policy_declined"


@pytest.mark.parametrize("kind", [CaseKind.PARTIAL, CaseKind.SUSPECTED_AI_COVER, CaseKind.SUSPECTED_DEEPFAKE])
def test_given_a_case_that_is_not_a_plain_copy_then_the_stay_down_policy_never_approves_it(world, kind):
    earlier = taken_down(world)
    case = world.open(url="https://www.youtube.com/watch?v=again", auto=True, stay_down_case=earlier.case_id)
    world.repo.cases[case.case_id].kind = kind
    out = world.wf.approve_by_policy(case_id=case.case_id)
    assert out["approved"] is False and "always goes to a person" in out["reason"]
    assert world.repo.get_case(case.case_id).status is Status.DETECTED


def test_given_a_case_in_review_when_approved_by_policy_then_it_refuses(world):
    case = world.open()
    world.wf.request_review(case_id=case.case_id, round_=0, task_token="t0")
    with pytest.raises(ConcurrentChange):
        world.wf.approve_by_policy(case_id=case.case_id)
    assert world.repo.get_case(case.case_id).status is Status.IN_REVIEW


@pytest.mark.parametrize("setup", ["detected", "in_review", "approved"])
def test_given_a_live_case_when_a_failure_is_recorded_then_it_is_failed_with_the_cause(world, setup):
    case = world.open()
    if setup == "in_review":
        world.wf.request_review(case_id=case.case_id, round_=0, task_token="t0")
    if setup == "approved":
        approve_as_reviewer(world.repo, case.case_id)
    before = world.repo.get_case(case.case_id).status

    out = world.wf.record_failure(case_id=case.case_id,
                                  error={"Error": "NoticeChannelError", "Cause": "smtp said no"})

    # an approved case failed at its notice: NOTICE_FAILED; before approval: FAILED
    ending = Status.NOTICE_FAILED if setup == "approved" else Status.FAILED
    assert out == {"case_id": case.case_id, "failed": True, "status": ending.value, "error": "NoticeChannelError",
                   "cause": "smtp said no"}
    now = world.repo.get_case(case.case_id)
    assert now.status is ending
    assert now.failure == {"error": "NoticeChannelError", "cause": "smtp said no"}
    ev = world.repo.audit_trail(case.case_id)[-1]
    assert (ev.action, ev.from_status, ev.to_status) == ("failed", before.value, ending.value)
    assert ev.detail == now.failure


def test_given_no_error_details_when_a_failure_is_recorded_then_the_cause_says_unknown(world):
    case = world.open()
    out = world.wf.record_failure(case_id=case.case_id, error=None)
    assert (out["error"], out["cause"]) == ("Unknown", "")
    assert world.repo.get_case(case.case_id).status is Status.FAILED


def test_given_a_huge_cause_when_a_failure_is_recorded_then_it_is_truncated(world):
    case = world.open()
    world.wf.record_failure(case_id=case.case_id, error={"Error": "E", "Cause": "x" * 10_000})
    assert len(world.repo.get_case(case.case_id).failure["cause"]) == 4000


@pytest.mark.parametrize("terminal", [Status.REVIEW_EXPIRED, Status.FAILED])
def test_given_a_terminal_case_when_a_failure_is_recorded_then_only_an_audit_event_is_appended(world, terminal):
    case = world.open()
    world.wf.request_review(case_id=case.case_id, round_=0, task_token="t0")
    world.repo.transition(case.case_id, Status.IN_REVIEW, terminal,
                          AuditEvent(case.case_id, "2025-03-01T12:01:00.000Z", "system:test", "end",
                                     "IN_REVIEW", terminal.value))
    before = world.repo.get_case(case.case_id)
    trail = world.repo.audit_trail(case.case_id)

    world.wf.record_failure(case_id=case.case_id, error={"Error": "States.Timeout", "Cause": "late"})

    assert world.repo.get_case(case.case_id) == before
    after = world.repo.audit_trail(case.case_id)
    assert after[: len(trail)] == trail and len(after) == len(trail) + 1
    ev = after[-1]
    assert (ev.action, ev.from_status, ev.to_status) == ("failure_after_end", terminal.value, terminal.value)
    assert ev.detail == {"error": "States.Timeout", "cause": "late"}


def test_given_an_unknown_case_when_a_failure_is_recorded_then_case_not_found_carries_the_cause(world):
    with pytest.raises(CaseNotFound) as err:
        world.wf.record_failure(case_id="case-nope", error={"Error": "Boom", "Cause": "why"})
    assert "Boom" in str(err.value)


def test_given_a_sent_notice_when_the_platform_removes_the_content_then_the_outcome_is_recorded(world):
    from takedown_core.cases import AuditEvent, utcnow

    case = world.open()
    for frm, to in ((Status.DETECTED, Status.APPROVED), (Status.APPROVED, Status.NOTICE_SENT)):
        world.repo.transition(case.case_id, frm, to, AuditEvent(case.case_id, utcnow(), "t", "t", frm.value, to.value))
    out = world.wf.record_outcome(case_id=case.case_id, outcome="removed", actor="ops:alice", note="YT ref 123")
    assert out["status"] == "CONTENT_REMOVED"
    last = world.repo.audit_trail(case.case_id)[-1]
    assert (last.action, last.actor, last.detail["note"]) == ("outcome_removed", "ops:alice", "YT ref 123")


def test_given_a_case_in_review_when_an_outcome_is_recorded_then_it_is_refused(world):
    from takedown_core.cases import ConcurrentChange

    case = world.open()
    with pytest.raises(ConcurrentChange) as err:  # said plainly: nothing concurrent happened
        world.wf.record_outcome(case_id=case.case_id, outcome="removed", actor="ops:alice")
    assert str(err.value) == (f"case {case.case_id} is {case.status.value}: the outcome 'removed' applies only to a "
                              "case that is NOTICE_SENT")
    with pytest.raises(ValueError):
        world.wf.record_outcome(case_id=case.case_id, outcome="maybe", actor="ops:alice")


def _sent(world):
    from takedown_core.cases import AuditEvent, utcnow

    case = world.open()
    for frm, to in ((Status.DETECTED, Status.APPROVED), (Status.APPROVED, Status.NOTICE_SENT)):
        world.repo.transition(case.case_id, frm, to, AuditEvent(case.case_id, utcnow(), "t", "t", frm.value, to.value))
    return case


def test_given_a_counter_notice_then_the_clock_runs_in_business_days_and_a_person_is_told_the_date(world):
    case = _sent(world)
    world.wf.record_outcome(case_id=case.case_id, outcome="removed", actor="ops:alice")
    out = world.wf.record_counter_notice(case_id=case.case_id, text="I have a good faith belief the material was "
                                         "removed as a result of mistake ...", actor="ops:alice",
                                         received_on="2026-12-18", notify="counsel@label.example")
    # 10 and 14 US business days after Friday 18 December 2026: Christmas and New Year's Day skipped
    assert (out["restore_earliest"], out["restore_latest"], out["decide_by"]) == ("2027-01-05", "2027-01-11",
                                                                                "2027-01-04")
    now = world.repo.get_case(case.case_id)
    assert now.status is Status.COUNTER_NOTICED and "mistake" in now.counter_notice["text"]
    [mail] = [m for m in world.mailer.sent if m["to"] == ["counsel@label.example"]]
    assert "decide by 2027-01-04" in mail["subject"] and "2027-01-05" in mail["text"] and "512(g)" in mail["text"]
    assert world.wf.record_outcome(case_id=case.case_id, outcome="legal_action", actor="ops:counsel",
                                   note="N.D. Cal. 3:27-cv-00012")["status"] == "LEGAL_ACTION"


def test_given_a_counter_notice_without_text_or_on_a_case_in_review_then_it_is_refused(world):
    from takedown_core.cases import ConcurrentChange

    case = _sent(world)
    with pytest.raises(ValueError, match="text"):
        world.wf.record_counter_notice(case_id=case.case_id, text="  ", actor="ops:a")
    world.wf.record_outcome(case_id=case.case_id, outcome="rejected", actor="ops:a", note="no")
    with pytest.raises(ConcurrentChange):  # nothing to counter: the notice was rejected
        world.wf.record_counter_notice(case_id=case.case_id, text="x", actor="ops:a")


def test_given_a_sent_notice_the_platform_may_reject_it_with_a_reason(world):
    case = _sent(world)
    out = world.wf.record_outcome(case_id=case.case_id, outcome="rejected", actor="ops:a",
                                  note="not enough information to locate the material")
    now = world.repo.get_case(case.case_id)
    assert out["status"] == "NOTICE_REJECTED" and "locate" in now.notice["reason"]
    from takedown_core.cases import ConcurrentChange

    with pytest.raises(ConcurrentChange):  # restored follows a counter-notice only
        world.wf.record_outcome(case_id=case.case_id, outcome="restored", actor="ops:a")
