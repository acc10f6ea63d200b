"""The HTTPS API notice channel against a real HTTP server on loopback (not a mock of the
client): accepted with a ticket, rejected with a reason, a timeout, 429 with Retry-After; and
the notice service's outcomes for each."""

from __future__ import annotations

import json
import time

import pytest

from takedown_adapters.https_channel import HttpsApiChannel, retry_after
from takedown_core.cases import AuditEvent, Status
from takedown_core.channels import SIGNATURE_HEADER, verify
from takedown_core.dispatch import NoticeChannelError, NoticeInDoubt, NoticeService
from takedown_local.platform_api import Answer, PlatformApi
from tests.fakes import COMPLAINANT, InMemoryCaseRepository, RecordingMailer, approve_as_reviewer
from tests.unit.test_dispatch_service import make_case

SECRET = b"platform-hmac-secret-0123456789"


def platforms(url: str, **api) -> dict:
    return {"vidshare": {"name": "VidShare", "law": "DMCA", "channel": "api", "address": url,
                         "api": {"secret": "takedown/test/vidshare", "ticket_field": "ticket_id",
                                 "timeout_seconds": 1, **api}}}


class World:
    def __init__(self, url: str, *, rate_limit=None, **api) -> None:
        self.repo = InMemoryCaseRepository()
        self.mailer = RecordingMailer()
        self.secrets_read: list[str] = []
        self.platforms = platforms(url, **api)
        if rate_limit:
            self.platforms["vidshare"]["rate_limit"] = rate_limit

        def secret_for(name: str) -> bytes:
            self.secrets_read.append(name)
            return SECRET

        self.service = NoticeService(repo=self.repo, mailer=self.mailer, complainant=COMPLAINANT,
                                     platforms=self.platforms, channels={"api": HttpsApiChannel(secret_for)},
                                     rights_desk="rights@label.example", jitter=lambda cap: 0.0)

    def approved(self, n: int = 0):
        case = make_case(platform="vidshare", url=f"https://vidshare.example/v/{n}")
        self.repo.create_case(case, AuditEvent(case.case_id, "2025-03-01T12:00:00.000Z", "system:ingest", "opened",
                                               None, "DETECTED"))
        approve_as_reviewer(self.repo, case.case_id)
        return case


@pytest.fixture
def api():
    with PlatformApi(SECRET) as server:
        yield server


def test_accepted_the_ticket_is_recorded_and_the_request_is_signed(api):
    w = World(api.url)
    case = w.approved()
    out = w.service.dispatch(case_id=case.case_id)
    assert out["status"] == "NOTICE_SENT" and out["ticket"] == "T-00001"
    [req] = api.received
    assert req["signed"] and req["headers"]["Idempotency-Key"] == f"{case.case_id}:api:{api.url}"
    assert verify(SECRET, req["headers"][SIGNATURE_HEADER], req["body"], now=int(time.time()))
    doc = json.loads(req["body"])
    assert doc["schema"] == "takedown-notice/1" and doc["law"] == "DMCA" and doc["case_id"] == case.case_id
    assert doc["location"]["url"] == "https://vidshare.example/v/0"
    assert "I have a good faith belief" in doc["elements"]["good_faith_statement"]
    record = w.repo.get_notice(case.case_id, f"api:{api.url}")
    assert record["state"] == "sent" and record["ticket"] == "T-00001"
    assert record["response"] == {"status": 201, "body": {"ticket_id": "T-00001", "status": "received"}}
    assert record["kept"]["media_type"] == "application/json"
    assert w.repo.get_case(case.case_id).status is Status.NOTICE_SENT
    assert w.secrets_read == ["takedown/test/vidshare"]
    # the rights desk's copy says where it went and carries the document
    [copy] = w.mailer.sent
    assert copy["to"] == ["rights@label.example"] and "ticket T-00001" in copy["text"]
    assert json.loads(copy["attachments"]["notice.json"])["case_id"] == case.case_id
    # a second dispatch sends nothing more
    w.service.dispatch(case_id=case.case_id)
    assert len(api.received) == 1


def test_rejected_with_a_reason_the_case_is_notice_rejected_and_never_resent(api):
    api.script.append(Answer(422, {"error": "the URL does not identify content on our service"}))
    w = World(api.url)
    case = w.approved()
    out = w.service.dispatch(case_id=case.case_id)
    assert out["status"] == "NOTICE_REJECTED"
    assert "the URL does not identify content on our service" in out["reason"]
    now = w.repo.get_case(case.case_id)
    assert now.status is Status.NOTICE_REJECTED
    record = w.repo.get_notice(case.case_id, f"api:{api.url}")
    assert record["state"] == "rejected" and record["response"]["status"] == 422
    w.service.dispatch(case_id=case.case_id)
    assert len(api.received) == 1


def test_429_with_retry_after_waits_then_sends(api):
    api.script.append(Answer(429, {"error": "slow down"}, {"Retry-After": "7"}))
    w = World(api.url)
    case = w.approved()
    out = w.service.dispatch(case_id=case.case_id)
    assert out["status"] == "DEFERRED" and out["deferred_seconds"] == 7.0
    assert w.repo.get_case(case.case_id).status is Status.APPROVED
    out = w.service.dispatch(case_id=case.case_id)  # after the state machine's Wait
    assert out["status"] == "NOTICE_SENT" and out["ticket"] == "T-00001"
    assert len(api.received) == 2


def test_a_timeout_after_sending_is_in_doubt_and_not_resent(api):
    api.script.append(Answer(201, None, delay_s=2.5))
    w = World(api.url)
    case = w.approved()
    with pytest.raises(NoticeInDoubt, match="did not answer"):
        w.service.dispatch(case_id=case.case_id)
    with pytest.raises(NoticeInDoubt):
        w.service.dispatch(case_id=case.case_id)
    assert len(api.received) == 1
    assert w.repo.get_notice(case.case_id, f"api:{api.url}")["state"] == "in_doubt"


def test_a_timeout_to_a_platform_that_honours_the_idempotency_key_is_retried(api):
    api.script.append(Answer(201, None, delay_s=2.5))
    w = World(api.url, idempotency_key=True)
    case = w.approved()
    with pytest.raises(NoticeChannelError, match="retry is safe"):
        w.service.dispatch(case_id=case.case_id)
    out = w.service.dispatch(case_id=case.case_id)
    assert out["status"] == "NOTICE_SENT"
    keys = {r["headers"]["Idempotency-Key"] for r in api.received}
    assert len(api.received) == 2 and len(keys) == 1  # the same key both times


def test_a_server_error_is_retried_and_a_refused_connection_too(api):
    api.script.append(Answer(503, {"message": "maintenance"}))
    w = World(api.url)
    case = w.approved()
    with pytest.raises(NoticeChannelError, match="503"):
        w.service.dispatch(case_id=case.case_id)
    assert w.service.dispatch(case_id=case.case_id)["status"] == "NOTICE_SENT"

    closed = PlatformApi(SECRET)
    url = closed.url
    closed.close()  # nothing listens there now
    w2 = World(url)
    case2 = w2.approved(1)
    with pytest.raises(NoticeChannelError, match="could not connect"):
        w2.service.dispatch(case_id=case2.case_id)
    assert w2.repo.get_notice(case2.case_id, f"api:{url}")["state"] == "failed"


def test_a_burst_over_the_rate_limit_is_queued_not_dropped(api):
    w = World(api.url, rate_limit={"notices": 3, "per_seconds": 60})
    cases = [w.approved(i) for i in range(5)]
    outs = [w.service.dispatch(case_id=c.case_id) for c in cases]
    assert [o["status"] for o in outs] == ["NOTICE_SENT"] * 3 + ["DEFERRED"] * 2
    assert all(0 < o["deferred_seconds"] <= 61 for o in outs[3:])
    assert len(api.received) == 3
    assert {w.repo.get_case(c.case_id).status for c in cases[3:]} == {Status.APPROVED}


def test_an_unsigned_request_is_refused_by_the_platform(api):
    w = World(api.url)
    w.service.channels["api"] = HttpsApiChannel(lambda name: b"the wrong secret")
    case = w.approved()
    out = w.service.dispatch(case_id=case.case_id)
    assert out["status"] == "NOTICE_REJECTED" and "signature" in out["reason"]


@pytest.mark.parametrize("value,expected", [("7", 7.0), (None, 60.0), ("soon", 60.0),
                                            ("Wed, 21 Oct 2015 07:28:00 GMT", 30.0)])
def test_retry_after_reads_seconds_and_http_dates(value, expected):
    from email.utils import parsedate_to_datetime
    now = parsedate_to_datetime("Wed, 21 Oct 2015 07:27:30 GMT").timestamp()
    assert retry_after(value, now) == expected
