"""The review API's logic (takedown_core.review_service.ReviewService) over fakes.

Reviews are created by the real WorkflowService.request_review, and links are read back from
the email it sent, so these tests exercise the same path a reviewer's click does.
"""

from __future__ import annotations

import copy
import re
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from takedown_core.cases import AuditEvent, Case, Source, Status
from takedown_core.review_links import csrf_token, sign_link
from takedown_core.review_service import ReviewService
from takedown_core.workflow import ReviewSettings, WorkflowService
from tests.fakes import InMemoryCaseRepository, RecordingCallback, RecordingMailer

pytestmark = pytest.mark.usefixtures("no_network")

NOW = 1_767_268_800  # fixed clock, epoch seconds
TTL = 3 * 86400
KEY = b"review-link-key-" * 2
SETTINGS = ReviewSettings(
    base_url="https://review.label.example", link_key=KEY, link_ttl_seconds=TTL, reminders=1, escalations=1,
    allow=("alice@label.example", "bob@label.example"), fallback="head-of-rights@label.example",
)
LINK = re.compile(r"https://review\.label\.example/review/[^\s\"'<>]+")


class World:
    def __init__(self) -> None:
        self.now = NOW
        self.repo = InMemoryCaseRepository()
        self.mailer = RecordingMailer()
        self.callback = RecordingCallback()
        clock = lambda: self.now  # noqa: E731
        self.wf = WorkflowService(repo=self.repo, mailer=self.mailer, settings=SETTINGS, clock=clock)
        self.api = ReviewService(repo=self.repo, callback=self.callback, link_key=KEY, clock=clock)
        case = Case.open(
            track_id="trk-0042",
            work={"title": "Midnight Harbour", "artist": "The Lanterns", "isrc": "GBXYZ2400123",
                  "owner": "Example Records Ltd"},
            source=Source(partner="scanco", platform="youtube", url="https://www.youtube.com/watch?v=abc123",
                          uploader="nightcore_fan", title="Midnight Harbour (sped up)", bucket="b", key="k"),
            evidence={"score": 8.4, "false_match_rate": 4e-9, "offset_s": 52.5, "query_start_s": 12.0,
                      "matched_duration_s": 40.0},
            policy={"auto_approve": False, "reason": "match above threshold: human review required"},
            submission="ab" * 32,
        )
        self.repo.create_case(case, AuditEvent(case.case_id, "2025-03-01T12:00:00.000Z", "system:ingest",
                                               "opened", None, "DETECTED"))
        self.case_id = case.case_id

    def request(self, round_: int = 0, token: str | None = None) -> tuple[str, dict[str, str], str]:
        """(review id, link params {exp, sig}, reviewer) of a new review round, read from its email."""
        out = self.wf.request_review(case_id=self.case_id, round_=round_, task_token=token or f"token-{round_}")
        url = LINK.search(self.mailer.sent[-1]["text"]).group(0)
        parts = urlsplit(url)
        review_id = unquote(parts.path.rsplit("/", 1)[1])
        assert review_id == out["review_id"]
        return review_id, {k: v[0] for k, v in parse_qs(parts.query).items()}, out["reviewer"]

    def form(self, review_id: str, params: dict[str, str], **fields) -> dict[str, str]:
        review = self.repo.get_review(review_id)
        csrf = csrf_token(KEY, review_id=review_id, reviewer=review.reviewer, expires_at=review.expires_at)
        return {**params, "csrf": csrf, **fields}

    def case(self) -> Case:
        return self.repo.get_case(self.case_id)

    def snapshot(self) -> dict:
        return copy.deepcopy({k: v for k, v in vars(self.repo).items() if k != "_lock"})


@pytest.fixture
def world() -> World:
    return World()


# --------------------------------------------------------------------------- GET


def test_given_a_valid_link_when_opened_then_the_page_is_shown_and_nothing_changes(world):
    review_id, params, reviewer = world.request()
    before = world.snapshot()

    status, page = world.api.show(review_id, params)

    assert status == 200
    assert "Midnight Harbour" in page and reviewer in page
    assert world.snapshot() == before
    assert world.callback.calls == []


def test_given_a_link_when_opened_five_times_then_nothing_changes(world):
    """Mail scanners and link previews follow links: GET must never decide or consume."""
    review_id, params, _ = world.request()
    before = world.snapshot()
    pages = [world.api.show(review_id, params) for _ in range(5)]
    assert {status for status, _ in pages} == {200}
    assert world.snapshot() == before
    assert world.callback.calls == []
    assert world.repo.get_review(review_id).used is False


def test_given_the_page_then_it_never_shows_the_task_token(world):
    review_id, params, _ = world.request(token="very-secret-task-token")
    _, page = world.api.show(review_id, params)
    assert "very-secret-task-token" not in page


@pytest.mark.parametrize(
    ("mangle", "code"),
    [
        (lambda p: {**p, "sig": p["sig"][:-2] + ("AA" if not p["sig"].endswith("AA") else "BB")}, 403),
        (lambda p: {**p, "exp": str(int(p["exp"]) + 86400)}, 403),
        (lambda p: {**p, "sig": ""}, 400),
        (lambda p: {"exp": p["exp"]}, 400),
    ],
    ids=["tampered-sig", "extended-expiry", "empty-sig", "no-sig"],
)
def test_given_a_bad_link_when_opened_then_it_is_refused_and_nothing_changes(world, mangle, code):
    review_id, params, _ = world.request()
    before = world.snapshot()
    status, _ = world.api.show(review_id, mangle(params))
    assert status == code
    assert world.snapshot() == before


def test_given_an_expired_link_when_opened_then_410(world):
    review_id, params, _ = world.request()
    world.now = NOW + TTL
    assert world.api.show(review_id, params)[0] == 410


# --------------------------------------------------------------------------- POST


def test_given_an_approval_when_posted_then_the_case_is_approved_and_the_workflow_resumed_once(world):
    review_id, params, reviewer = world.request(token="tok-approve")

    status, page = world.api.decide(review_id, world.form(review_id, params, decision="approve", note="clear copy"),
                                    source={"ip": "203.0.113.9"})

    assert status == 200
    case = world.case()
    assert case.status is Status.APPROVED
    assert case.decision["decision"] == "approve" and case.decision["by"] == reviewer
    assert case.decision["source"] == {"ip": "203.0.113.9"}
    [(kind, token, output)] = world.callback.calls
    assert (kind, token) == ("succeed", "tok-approve")
    assert {k: output[k] for k in ("decision", "reason", "note", "by", "review_id")} == {
        "decision": "approve", "reason": None, "note": "clear copy", "by": reviewer, "review_id": review_id}
    ev = world.repo.audit_trail(world.case_id)[-1]
    assert (ev.actor, ev.action, ev.from_status, ev.to_status) == (f"reviewer:{reviewer}", "approved", "IN_REVIEW",
                                                                   "APPROVED")
    assert world.repo.get_review(review_id).used is True


def test_given_a_decided_review_when_posted_again_then_409_and_no_second_callback(world):
    review_id, params, _ = world.request()
    assert world.api.decide(review_id, world.form(review_id, params, decision="approve"))[0] == 200
    before = world.snapshot()

    again = world.api.decide(review_id, world.form(review_id, params, decision="reject", reason="licensed"))

    assert again[0] == 409
    assert len(world.callback.calls) == 1
    assert world.snapshot() == before
    assert world.case().status is Status.APPROVED


def test_given_a_decided_review_when_the_link_is_opened_then_it_says_already_decided(world):
    review_id, params, reviewer = world.request()
    world.api.decide(review_id, world.form(review_id, params, decision="approve"))
    status, page = world.api.show(review_id, params)
    assert status == 409 and reviewer in page


def test_given_a_rejection_without_reason_when_posted_then_the_page_again_with_422_and_nothing_changes(world):
    review_id, params, _ = world.request()
    before = world.snapshot()
    status, page = world.api.decide(review_id, world.form(review_id, params, decision="reject"))
    assert status == 422 and "Choose a reason for rejecting." in page and 'id="reason-error"' in page
    assert world.snapshot() == before
    assert world.callback.calls == []


def test_given_no_decision_when_posted_then_422_and_nothing_changes(world):
    review_id, params, _ = world.request()
    before = world.snapshot()
    status, page = world.api.decide(review_id, world.form(review_id, params))
    assert status == 422 and "Choose approve or reject." in page
    assert world.snapshot() == before


def test_given_a_rejection_with_reason_when_posted_then_the_case_is_rejected(world):
    review_id, params, reviewer = world.request(token="tok-reject")
    status, _ = world.api.decide(review_id, world.form(review_id, params, decision="reject", reason="licensed"))
    assert status == 200
    case = world.case()
    assert case.status is Status.REJECTED
    assert (case.decision["decision"], case.decision["reason"]) == ("reject", "licensed")
    [(kind, token, output)] = world.callback.calls
    assert (kind, token, output["decision"], output["reason"]) == ("succeed", "tok-reject", "reject", "licensed")
    assert world.repo.audit_trail(world.case_id)[-1].action == "rejected"


def test_given_a_tampered_signature_when_posted_then_403_and_nothing_changes(world):
    review_id, params, _ = world.request()
    before = world.snapshot()
    forged = sign_link(b"another-key-entirely-32-bytes-xx", review_id=review_id, case_id=world.case_id,
                       reviewer=world.repo.get_review(review_id).reviewer, expires_at=int(params["exp"]))
    form = world.form(review_id, {**params, "sig": forged}, decision="approve")
    assert world.api.decide(review_id, form)[0] == 403
    assert world.snapshot() == before and world.callback.calls == []


def test_given_an_expired_link_when_posted_then_410_and_nothing_changes(world):
    review_id, params, _ = world.request()
    form = world.form(review_id, params, decision="approve")
    before = world.snapshot()
    world.now = world.repo.get_review(review_id).expires_at + 1
    assert world.api.decide(review_id, form)[0] == 410
    assert world.snapshot() == before and world.callback.calls == []


def test_given_an_unknown_review_id_when_posted_or_opened_then_404(world):
    _, params, _ = world.request()
    assert world.api.decide("no-such-review", {**params, "decision": "approve", "csrf": "v1.x"})[0] == 404
    assert world.api.show("no-such-review", params)[0] == 404
    assert world.api.show("", params)[0] == 404


@pytest.mark.parametrize(
    "csrf",
    [None, "", "v1.AAAA", "not-a-token"],
    ids=["missing", "empty", "wrong", "garbage"],
)
def test_given_a_missing_or_wrong_csrf_token_when_posted_then_403_and_nothing_changes(world, csrf):
    review_id, params, _ = world.request()
    form = {**params, "decision": "approve"}
    if csrf is not None:
        form["csrf"] = csrf
    before = world.snapshot()
    assert world.api.decide(review_id, form)[0] == 403
    assert world.snapshot() == before and world.callback.calls == []


def test_given_a_link_signature_used_as_csrf_token_when_posted_then_403(world):
    review_id, params, _ = world.request()
    assert world.api.decide(review_id, {**params, "csrf": params["sig"], "decision": "approve"})[0] == 403


def test_given_a_newer_review_round_when_the_old_link_is_used_then_it_is_not_accepted(world):
    old_id, old_params, _ = world.request(round_=0, token="tok-0")
    old_form = world.form(old_id, old_params, decision="approve")
    new_id, new_params, _ = world.request(round_=1, token="tok-1")
    before = world.snapshot()

    assert world.api.show(old_id, old_params)[0] == 404
    assert world.api.decide(old_id, old_form)[0] == 404
    assert world.snapshot() == before and world.callback.calls == []

    assert world.api.decide(new_id, world.form(new_id, new_params, decision="approve"))[0] == 200
    assert [token for _, token, _ in world.callback.calls] == ["tok-1"]


def test_given_a_review_for_someone_other_than_the_cases_reviewer_when_posted_then_403(world):
    review_id, _, _ = world.request()
    # The stored review names another person than the case does (e.g. reassigned in between);
    # their link and form are genuine, but they are not the case's reviewer.
    world.repo.reviews[review_id].reviewer = "mallory@label.example"
    review = world.repo.get_review(review_id)
    sig = sign_link(KEY, review_id=review_id, case_id=world.case_id, reviewer=review.reviewer,
                    expires_at=review.expires_at)
    params = {"exp": str(review.expires_at), "sig": sig}
    before = world.snapshot()

    assert world.api.show(review_id, params)[0] == 403
    assert world.api.decide(review_id, world.form(review_id, params, decision="approve"))[0] == 403
    assert world.snapshot() == before and world.callback.calls == []


def test_given_a_case_that_left_review_without_a_decision_when_posted_then_409_case_closed(world):
    review_id, params, _ = world.request()
    form = world.form(review_id, params, decision="approve")
    world.wf.review_timeout(case_id=world.case_id, round_=2)  # past the last round: expires the case
    assert world.case().status is Status.REVIEW_EXPIRED
    before = world.snapshot()
    assert world.api.decide(review_id, form)[0] == 409
    assert world.snapshot() == before and world.callback.calls == []


def test_given_the_workflow_moved_on_when_resuming_fails_then_409_and_it_is_recorded(world):
    review_id, params, _ = world.request()

    def gone(token, output):
        raise RuntimeError("TaskTimedOut")

    world.callback.succeed = gone
    status, _ = world.api.decide(review_id, world.form(review_id, params, decision="approve"))
    assert status == 409
    case = world.case()
    assert case.status is Status.FAILED and case.decision["decision"] == "approve"  # decision kept, case ended
    assert "TaskTimedOut" in case.failure["cause"]
    assert world.repo.audit_trail(world.case_id)[-1].action == "resume_failed"
