"""A reviewer's queue link: signed like the review links, expiring, no side effects on GET, 405
for other methods; and the form error that sends the evidence page back (the real handler over
the real services on the in-memory fakes, as tests/unit/test_review_api_headers.py)."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from takedown_core.cases import AuditEvent, Case, Source, Status
from takedown_core.review_links import (
    LinkError,
    queue_path,
    queue_url,
    sign_link,
    sign_queue,
    verify_link,
    verify_queue,
)
from takedown_core.workflow import WorkflowService
from takedown_handlers import _env
from tests.unit.test_review_api_headers import KEY, NOW, SETTINGS, TTL, Api, assert_security_headers

QUEUE = re.compile(r"https://review\.label\.example/queue\?[^\s\"'<>]+")


# --------------------------------------------------------------------------- signing


def test_given_a_queue_link_then_it_verifies_for_its_reviewer_until_it_expires():
    sig = sign_queue(KEY, reviewer="alice@label.example", expires_at=NOW + 60)
    assert verify_queue(KEY, reviewer="alice@label.example", expires_at=str(NOW + 60), sig=sig, now=NOW) \
        == "alice@label.example"
    with pytest.raises(LinkError) as e:
        verify_queue(KEY, reviewer="alice@label.example", expires_at=NOW + 60, sig=sig, now=NOW + 60)
    assert e.value.kind == "expired"


@pytest.mark.parametrize("change", ["reviewer", "exp", "key"])
def test_given_a_queue_link_moved_to_another_reviewer_or_extended_then_it_is_forged(change):
    sig = sign_queue(KEY, reviewer="alice@label.example", expires_at=NOW + 60)
    reviewer = "bob@label.example" if change == "reviewer" else "alice@label.example"
    exp = NOW + 6000 if change == "exp" else NOW + 60
    key = b"another-key-0123456789" if change == "key" else KEY
    with pytest.raises(LinkError) as e:
        verify_queue(key, reviewer=reviewer, expires_at=exp, sig=sig, now=NOW)
    assert e.value.kind == "forged"


def test_given_a_review_link_signature_then_it_does_not_open_a_queue_nor_the_reverse():
    review_sig = sign_link(KEY, review_id="alice@label.example", case_id="", reviewer="", expires_at=NOW + 60)
    with pytest.raises(LinkError):
        verify_queue(KEY, reviewer="alice@label.example", expires_at=NOW + 60, sig=review_sig, now=NOW)
    queue_sig = sign_queue(KEY, reviewer="alice@label.example", expires_at=NOW + 60)
    with pytest.raises(LinkError):
        verify_link(KEY, review_id="alice@label.example", case_id="", reviewer="", expires_at=NOW + 60,
                    sig=queue_sig, now=NOW)


@pytest.mark.parametrize("reviewer", [None, "", "x" * 321, 7])
def test_given_no_usable_reviewer_then_the_queue_link_is_malformed(reviewer):
    with pytest.raises(LinkError) as e:
        verify_queue(KEY, reviewer=reviewer, expires_at=NOW + 60, sig="v1.x", now=NOW)
    assert e.value.kind == "malformed"


def test_given_a_reviewer_with_url_characters_then_the_link_carries_it_back_exactly():
    url = queue_url("https://r.example/v1/", key=KEY, reviewer="a+b&c=d@label.example", expires_at=NOW + 60)
    assert url.startswith("https://r.example/v1/queue?reviewer=")
    q = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert q["reviewer"] == "a+b&c=d@label.example"
    assert verify_queue(KEY, reviewer=q["reviewer"], expires_at=q["exp"], sig=q["sig"], now=NOW)
    assert queue_path(key=KEY, reviewer="a@b", expires_at=1).startswith("queue?reviewer=a@b&exp=1&sig=v1.")


# --------------------------------------------------------------------------- the handler


class QueueApi(Api):
    """The handler with alice's review waiting, and the queue link from her mail."""

    def __init__(self) -> None:
        super().__init__()
        url = urlsplit(QUEUE.search(self.mailer.sent[-1]["text"]).group(0))
        self.queue = {k: v[0] for k, v in parse_qs(url.query).items()}

    def open_case(self, title: str, *, reviewer_round: int = 0) -> str:
        case = Case.open(
            track_id=f"trk-{title}", work={"title": title, "owner": "Example Records Ltd"},
            source=Source(partner="scanco", platform="tiktok", url=f"https://www.tiktok.com/@x/video/{title}",
                          uploader="u", title=title, bucket="b", key=title),
            evidence={"score": 30, "false_match_rate": 1e-4, "query_start_s": 0.0, "matched_duration_s": 10.0},
            policy={"auto_approve": False}, submission=title.encode().hex().ljust(64, "0")[:64])
        self.repo.create_case(case, AuditEvent(case.case_id, "2026-01-01T09:00:00.000Z", "system:ingest",
                                               "opened", None, "DETECTED"))
        WorkflowService(repo=self.repo, mailer=self.mailer, settings=SETTINGS, clock=lambda: self.now).request_review(
            case_id=case.case_id, round_=reviewer_round, task_token=f"token-{title}")
        return case.case_id


@pytest.fixture
def qapi():
    yield QueueApi()
    _env.reset()


def test_given_every_review_mail_then_it_carries_the_reviewers_queue_link(qapi):
    assert qapi.queue["reviewer"] == "alice@label.example"
    assert int(qapi.queue["exp"]) == NOW + TTL
    html = qapi.mailer.sent[-1]["html"]
    assert 'href="https://review.label.example/queue?reviewer=alice@label.example&amp;exp=' in html


def test_given_a_queue_link_when_opened_then_the_waiting_cases_are_listed_oldest_first_each_linking_to_its_page(qapi):
    qapi.now += 10
    qapi.open_case("Second Song")
    before = (qapi.repo.cases.copy(), {k: (r.used, r.decision) for k, r in qapi.repo.reviews.items()})
    r = qapi.call("GET", "/queue", qapi.queue)
    assert r["statusCode"] == 200
    assert_security_headers(r)
    body = r["body"]
    assert "2 cases waiting" in body and body.index("Midnight Harbour") < body.index("Second Song")
    links = re.findall(r'href="(review/[^"]+)"', body)
    assert len(links) == 2
    # each link is the case's current review, signed: it opens its evidence page
    for link in links:
        u = urlsplit(link.replace("&amp;", "&"))
        params = {k: v[0] for k, v in parse_qs(u.query).items()}
        page = qapi.call("GET", "/" + u.path, params)
        assert page["statusCode"] == 200 and "Your decision" in page["body"]
        assert 'href="../queue?reviewer=alice@label.example&amp;exp=' in page["body"]
    # opening the queue (twice, and HEAD) changed nothing
    assert qapi.call("HEAD", "/queue", qapi.queue)["statusCode"] == 200
    assert qapi.call("HEAD", "/queue", qapi.queue)["body"] == ""
    assert (qapi.repo.cases, {k: (r.used, r.decision) for k, r in qapi.repo.reviews.items()}) == before


def test_given_a_decided_case_then_it_leaves_the_queue(qapi):
    qapi.call("POST", f"/review/{qapi.review_id}/decision", body=qapi.form(decision="approve"))
    assert qapi.repo.get_case(qapi.case_id).status == Status.APPROVED
    body = qapi.call("GET", "/queue", qapi.queue)["body"]
    assert "Nothing is waiting for your decision." in body and "Midnight Harbour" not in body


def test_given_a_case_for_another_reviewer_then_it_is_not_in_alices_queue(qapi):
    other = qapi.open_case("Not Yours", reviewer_round=2)  # escalated: the fallback reviewer's
    assert qapi.repo.get_case(other).reviewer == "head-of-rights@label.example"
    body = qapi.call("GET", "/queue", qapi.queue)["body"]
    assert "Not Yours" not in body and "Midnight Harbour" in body


@pytest.mark.parametrize("tamper, status, title", [
    ({"reviewer": "head-of-rights@label.example"}, 403, "This link is not valid"),
    ({"exp": str(NOW + 10 * TTL)}, 403, "This link is not valid"),
    ({"sig": "v1.AAAA"}, 400, "This link is not valid"),
    ({"sig": None}, 400, "This link is not valid"),
])
def test_given_a_forged_queue_link_then_the_plain_page_and_no_cases(qapi, tamper, status, title):
    query = {k: v for k, v in {**qapi.queue, **tamper}.items() if v is not None}
    r = qapi.call("GET", "/queue", query)
    assert r["statusCode"] == status and title in r["body"] and "Midnight Harbour" not in r["body"]
    assert_security_headers(r)


def test_given_an_expired_queue_link_then_410_and_no_cases(qapi):
    qapi.now = int(qapi.queue["exp"])
    r = qapi.call("GET", "/queue", qapi.queue)
    assert r["statusCode"] == 410 and "This link to your queue is out of date" in r["body"]
    assert "Midnight Harbour" not in r["body"]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_given_another_method_on_the_queue_then_405_with_allow_and_nothing_listed(qapi, method):
    r = qapi.call(method, "/queue", qapi.queue, body="x=1" if method != "OPTIONS" else None)
    assert r["statusCode"] == 405
    headers = {**(r.get("headers") or {}), **{k: ", ".join(v) for k, v in (r.get("multiValueHeaders") or {}).items()}}
    assert headers["Allow"] == "GET, HEAD" and "Midnight Harbour" not in r["body"]


# --------------------------------------------------------------------------- the form sent back


def test_given_reject_other_without_explanation_then_the_page_again_with_the_error_and_choices_kept(qapi):
    before = qapi.repo.get_case(qapi.case_id)
    r = qapi.call("POST", f"/review/{qapi.review_id}/decision",
                  body=qapi.form(decision="reject", reason="other", note=""))
    assert r["statusCode"] == 422
    assert_security_headers(r)
    body = r["body"]
    assert "This link is not valid" not in body
    assert 'id="note-error"' in body and "Explain the reason for rejecting in the Explanation field." in body
    assert 'value="other" checked' in body
    # served at /review/<id>/decision: its relative links are made for that address
    assert body.count('action="decision#decide"') == 2 and 'href="../../queue?reviewer=' in body
    # the forms carry the same link signature and a CSRF token, so the reviewer can send again
    r = qapi.call("POST", f"/review/{qapi.review_id}/decision",
                  body=qapi.form(decision="reject", reason="other", note="a cover we licensed"))
    assert r["statusCode"] == 200 and "Decision recorded: rejected" in r["body"]
    assert before.status == Status.IN_REVIEW and qapi.repo.get_case(qapi.case_id).status == Status.REJECTED
    # the confirmation's time is readable, and it leads back to the queue
    assert re.search(r"at \d{1,2} [A-Z][a-z]{2} \d{4}, \d\d:\d\d UTC", r["body"])
    assert 'href="../../queue?reviewer=' in r["body"]


def test_given_a_form_error_after_the_link_expired_then_the_expired_page_not_the_form(qapi):
    qapi.now = NOW + TTL
    r = qapi.call("POST", f"/review/{qapi.review_id}/decision", body=qapi.form(decision="reject"))
    assert r["statusCode"] == 410


def test_given_the_local_front_then_the_queue_is_routed_like_api_gateway():
    from takedown_local.apigw import route

    assert route("/queue") == ("/queue", {})
    assert route("/review/abc/decision") == ("/review/{review_id}/decision", {"review_id": "abc"})
