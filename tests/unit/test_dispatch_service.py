"""Notice dispatch (takedown_core.dispatch.NoticeService) over fakes: one notice, ever."""

from __future__ import annotations

import pytest

from takedown_core.cases import AuditEvent, Case, Source, Status
from takedown_core.dispatch import NoticeChannelError, NoticeInDoubt, NoticeNotAllowed, NoticeService
from takedown_core.review_links import csrf_token, sign_link
from takedown_core.review_service import ReviewService
from takedown_core.workflow import ReviewSettings, WorkflowService
from tests.fakes import COMPLAINANT, InMemoryCaseRepository, RecordingCallback, RecordingMailer, approve_as_reviewer

pytestmark = pytest.mark.usefixtures("no_network")

URL = "https://www.youtube.com/watch?v=abc123"
LIKENESS_ROUTE = {"channel": "email", "address": "privacy@youtube.example", "law": "US-ROP",
                  "policy": "YouTube's impersonation policy",
                  "basis": "the right of publicity, including Tennessee's ELVIS Act (Tenn. Code Ann. § 47-25-1101 et seq.)"}
PLATFORMS = {
    "youtube": {"name": "YouTube", "law": "DMCA", "channel": "email", "address": "copyright@youtube.example",
                "likeness": LIKENESS_ROUTE},
    "tiktok": {"name": "TikTok", "law": "DSA", "channel": "email", "address": "dsa-notices@tiktok.example"},
}
KEY = b"review-link-key-" * 2
NOW = 1_767_268_800


SIGNAL = {"artist": {"id": "lanterns", "name": "The Lanterns"},
          "names": [{"field": "title", "alias": "Lanterns", "found": "Lanterns"}],
          "terms": [{"field": "title", "term": "ai cover", "lang": "en", "found": "AI cover"}]}


def make_case(*, platform="youtube", url=URL, kind="copy") -> Case:
    if kind == "suspected_deepfake":
        return Case.open(
            track_id="artist:lanterns",
            work={"track_id": "artist:lanterns", "title": "The voice and likeness of The Lanterns",
                  "artist": "The Lanterns", "artist_id": "lanterns"},
            source=Source(partner="scanco", platform=platform, url=url, uploader="ai covers",
                          title="Lanterns - new song (AI cover)", bucket="scanco-landing", key="up/song.mp3"),
            evidence={}, policy={"auto_approve": False}, submission="cd" * 32, kind=kind, likeness=SIGNAL,
        )
    return Case.open(
        track_id="trk-0042",
        work={"title": "Midnight Harbour", "artist": "The Lanterns", "isrc": "GBXYZ2400123",
              "owner": "Example Records Ltd"},
        source=Source(partner="scanco", platform=platform, url=url, uploader="nightcore_fan",
                      title="Midnight Harbour (sped up)", partner_ref="SC-1", bucket="scanco-landing", key="up/clip.mp4"),
        evidence={"track_id": "trk-0042", "score": 8.398, "false_match_rate": 4e-9, "transform": "speed", "offset_s": 52.5,
                  "query_start_s": 12.0, "matched_duration_s": 40.0, "speed": 1.0, "pitch_semitones": 0.0,
                  "aligned_hashes": 120, "landmarks": []},
        policy={"auto_approve": True, "reason": "stay-down"},
        submission="ab" * 32,
        kind=kind,
        likeness=SIGNAL if kind == "suspected_ai_cover" else None,
    )


class World:
    def __init__(self) -> None:
        self.repo = InMemoryCaseRepository()
        self.mailer = RecordingMailer()
        self.wf = WorkflowService(
            repo=self.repo, mailer=RecordingMailer(), clock=lambda: NOW,
            settings=ReviewSettings(base_url="https://review.label.example", link_key=KEY, link_ttl_seconds=86400,
                                    reminders=1, escalations=1, allow=("alice@label.example",),
                                    fallback="head@label.example"),
        )

    def service(self, mailer=None) -> NoticeService:
        return NoticeService(repo=self.repo, mailer=mailer or self.mailer, complainant=COMPLAINANT,
                             platforms=PLATFORMS)

    def open(self, **kw) -> Case:
        case = make_case(**kw)
        self.repo.create_case(case, AuditEvent(case.case_id, "2025-03-01T12:00:00.000Z", "system:ingest",
                                               "opened", None, "DETECTED"))
        return case

    def approved(self, **kw) -> Case:
        case = self.open(**kw)
        approve_as_reviewer(self.repo, case.case_id)
        return case


@pytest.fixture
def world() -> World:
    return World()


def channel_of(platform: str) -> str:
    p = PLATFORMS[platform]
    return f"{p['channel']}:{p['address']}"


# --------------------------------------------------------------------------- the happy path


def test_given_an_approved_case_when_dispatched_then_one_notice_goes_to_the_platform(world):
    case = world.approved()

    out = world.service().dispatch(case_id=case.case_id)

    [mail] = world.mailer.sent
    assert mail["to"] == ["copyright@youtube.example"]
    assert URL in mail["text"] and "Midnight Harbour" in mail["text"]
    assert out["law"] == "DMCA" and out["provider_id"] == "msg-1" and out["channel"] == channel_of("youtube")
    now = world.repo.get_case(case.case_id)
    assert now.status is Status.NOTICE_SENT
    assert now.notice["to"] == "copyright@youtube.example" and now.notice["provider_id"] == "msg-1"
    ev = world.repo.audit_trail(case.case_id)[-1]
    assert (ev.actor, ev.action, ev.from_status, ev.to_status) == ("system:notice", "notice_sent", "APPROVED",
                                                                   "NOTICE_SENT")
    assert world.repo.get_notice(case.case_id, channel_of("youtube"))["state"] == "sent"


def test_given_a_platform_under_the_dsa_when_dispatched_then_the_notice_follows_the_dsa(world):
    case = world.approved(platform="tiktok", url="https://www.tiktok.com/@x/video/1")
    out = world.service().dispatch(case_id=case.case_id)
    assert out["law"] == "DSA"
    assert world.mailer.sent[0]["to"] == ["dsa-notices@tiktok.example"]


def test_given_a_notice_was_sent_then_the_content_is_marked_stay_down(world):
    case = world.approved()
    world.service().dispatch(case_id=case.case_id)
    assert world.repo.get_stay_down("trk-0042", "ab" * 32) == case.case_id


def test_given_a_case_approved_by_a_reviewer_when_dispatched_then_the_notice_is_sent(world):
    case = world.open()
    review_id = world.wf.request_review(case_id=case.case_id, round_=0, task_token="tok")["review_id"]
    review = world.repo.get_review(review_id)
    sig = sign_link(KEY, review_id=review_id, case_id=case.case_id, reviewer=review.reviewer,
                    expires_at=review.expires_at)
    form = {"exp": str(review.expires_at), "sig": sig, "decision": "approve",
            "csrf": csrf_token(KEY, review_id=review_id, reviewer=review.reviewer, expires_at=review.expires_at)}
    api = ReviewService(repo=world.repo, callback=RecordingCallback(), link_key=KEY, clock=lambda: NOW)
    assert api.decide(review_id, form)[0] == 200

    world.service().dispatch(case_id=case.case_id)
    assert len(world.mailer.sent) == 1
    assert world.repo.get_case(case.case_id).status is Status.NOTICE_SENT


# --------------------------------------------------------------------------- idempotency


def test_given_a_notice_was_sent_when_dispatched_again_then_nothing_more_is_sent(world):
    case = world.approved()
    svc = world.service()
    first = svc.dispatch(case_id=case.case_id)
    trail = world.repo.audit_trail(case.case_id)

    second = svc.dispatch(case_id=case.case_id)
    third = svc.dispatch(case_id=case.case_id)

    assert len(world.mailer.sent) == 1
    assert second["already_sent"] is True and third["already_sent"] is True
    assert second["provider_id"] == first["provider_id"]
    assert world.repo.audit_trail(case.case_id) == trail


def test_given_a_failing_channel_when_dispatched_then_channel_error_and_the_slot_is_freed(world):
    case = world.approved()

    with pytest.raises(NoticeChannelError) as err:
        world.service(RecordingMailer(fail=True)).dispatch(case_id=case.case_id)

    assert "mail channel down" in str(err.value)
    slot = world.repo.get_notice(case.case_id, channel_of("youtube"))
    assert slot["state"] == "failed" and "RuntimeError" in slot["error"]
    assert world.repo.get_case(case.case_id).status is Status.APPROVED
    assert world.repo.get_stay_down("trk-0042", "ab" * 32) is None


def test_given_a_failed_attempt_when_retried_with_a_working_channel_then_exactly_one_notice_is_sent(world):
    case = world.approved()
    with pytest.raises(NoticeChannelError):
        world.service(RecordingMailer(fail=True)).dispatch(case_id=case.case_id)

    world.service().dispatch(case_id=case.case_id)
    world.service().dispatch(case_id=case.case_id)

    assert len(world.mailer.sent) == 1
    assert world.repo.get_case(case.case_id).status is Status.NOTICE_SENT
    assert world.repo.get_notice(case.case_id, channel_of("youtube"))["state"] == "sent"


def test_given_an_attempt_whose_result_is_unknown_when_dispatched_then_in_doubt_and_nothing_sent(world):
    case = world.approved()
    # A previous attempt claimed the slot and died before recording the outcome.
    assert world.repo.claim_notice(case.case_id, channel_of("youtube"), {"rendered_at": "2025-03-01T12:05:00.000Z"})

    with pytest.raises(NoticeInDoubt) as err:
        world.service().dispatch(case_id=case.case_id)

    assert "2025-03-01T12:05:00.000Z" in str(err.value)
    assert world.mailer.sent == []
    assert world.repo.get_case(case.case_id).status is Status.APPROVED


def test_given_a_send_that_timed_out_unanswered_then_in_doubt_and_never_resent(world):
    """A notice endpoint that times out after taking the request (issue 13): resending could
    deliver the notice twice, so the attempt is recorded in doubt and a person checks."""
    from takedown_core.ports import DeliveryInDoubt

    class Unanswered(RecordingMailer):
        def send_raw(self, **kw):
            super().send_raw(**kw)
            raise DeliveryInDoubt("read timeout")

    case = world.approved()
    first = Unanswered()
    with pytest.raises(NoticeInDoubt, match="check the platform"):
        world.service(first).dispatch(case_id=case.case_id)
    with pytest.raises(NoticeInDoubt):
        world.service().dispatch(case_id=case.case_id)  # the state machine's retry, or a second approval
    assert len(first.sent) == 1 and world.mailer.sent == []
    assert world.repo.get_notice(case.case_id, channel_of("youtube"))["state"] == "in_doubt"


def test_given_a_notice_sent_but_the_case_not_yet_moved_when_dispatched_then_it_is_recorded_not_resent(world):
    case = world.approved()
    channel = channel_of("youtube")
    world.repo.claim_notice(case.case_id, channel, {"law": "DMCA", "to": "copyright@youtube.example"})
    world.repo.complete_notice(case.case_id, channel, {"state": "sent", "sent_at": "2025-03-01T12:06:00.000Z",
                                                       "provider_id": "msg-earlier"})

    out = world.service().dispatch(case_id=case.case_id)

    assert world.mailer.sent == []
    assert out["provider_id"] == "msg-earlier"
    assert world.repo.get_case(case.case_id).status is Status.NOTICE_SENT
    assert world.repo.get_stay_down("trk-0042", "ab" * 32) == case.case_id


# --------------------------------------------------------------------------- never send


@pytest.mark.parametrize("status", ["detected", "in_review", "rejected", "failed"])
def test_given_a_case_that_is_not_approved_when_dispatched_then_not_allowed_and_nothing_sent(world, status):
    case = world.open()
    if status in ("in_review", "rejected"):
        world.wf.request_review(case_id=case.case_id, round_=0, task_token="tok")
    if status == "rejected":
        world.repo.transition(case.case_id, Status.IN_REVIEW, Status.REJECTED,
                              AuditEvent(case.case_id, "2025-03-01T12:01:00.000Z", "reviewer:x", "rejected",
                                         "IN_REVIEW", "REJECTED"))
    if status == "failed":
        world.wf.record_failure(case_id=case.case_id, error={"Error": "E", "Cause": "c"})

    with pytest.raises(NoticeNotAllowed) as err:
        world.service().dispatch(case_id=case.case_id)

    assert "not APPROVED" in str(err.value)
    assert world.mailer.sent == [] and world.repo.notices == {}


def test_given_a_source_without_url_when_dispatched_then_the_case_is_notice_invalid_with_what_is_missing(world):
    case = world.approved(url=None)
    out = world.service().dispatch(case_id=case.case_id)
    assert out["status"] == "NOTICE_INVALID"
    invalid = out["invalid"]["copyright"]
    assert invalid["law"] == "DMCA" and "infringing_material" in invalid["missing"]
    assert world.mailer.sent == [] and world.repo.notices == {}
    now = world.repo.get_case(case.case_id)
    assert now.status is Status.NOTICE_INVALID and now.notice["invalid"]["copyright"]["missing"] == invalid["missing"]
    ev = world.repo.audit_trail(case.case_id)[-1]
    assert (ev.action, ev.to_status) == ("notice_invalid", "NOTICE_INVALID")
    # dispatching again changes nothing and sends nothing
    assert world.service().dispatch(case_id=case.case_id)["status"] == "NOTICE_INVALID"
    assert world.mailer.sent == []


def test_given_a_platform_without_a_channel_when_dispatched_then_not_allowed(world):
    case = world.approved(platform="myspace")
    with pytest.raises(NoticeNotAllowed) as err:
        world.service().dispatch(case_id=case.case_id)
    assert "myspace" in str(err.value)
    assert world.mailer.sent == []


def test_given_an_unknown_case_when_dispatched_then_not_allowed(world):
    with pytest.raises(NoticeNotAllowed):
        world.service().dispatch(case_id="case-nope")


# --------------------------------------------------------------------------- each kind's legal route (issue 15)


def test_given_an_approved_deepfake_then_a_likeness_complaint_goes_to_the_likeness_route_and_no_copyright_notice(world):
    case = world.approved(kind="suspected_deepfake")
    out = world.service().dispatch(case_id=case.case_id)
    [mail] = world.mailer.sent
    assert mail["to"] == ["privacy@youtube.example"] and out["law"] == "LIKENESS-US-ROP"
    assert "ELVIS Act" in mail["text"] and "asserts no copyright" in mail["text"]
    assert "DMCA" not in mail["subject"] and "good faith belief that use of the" not in mail["text"]
    assert world.repo.get_notice(case.case_id, channel_of("youtube")) is None
    assert world.repo.get_notice(case.case_id, "likeness:email:privacy@youtube.example")["state"] == "sent"
    assert world.repo.get_case(case.case_id).status is Status.NOTICE_SENT


def test_given_an_approved_ai_cover_then_a_copyright_notice_and_a_likeness_complaint_each_once(world):
    case = world.approved(kind="suspected_ai_cover")
    out = world.service().dispatch(case_id=case.case_id)
    assert [m["to"] for m in world.mailer.sent] == [["copyright@youtube.example"], ["privacy@youtube.example"]]
    assert [n["law"] for n in out["notices"]] == ["DMCA", "LIKENESS-US-ROP"]
    world.service().dispatch(case_id=case.case_id)  # a repeated step sends nothing more
    assert len(world.mailer.sent) == 2


def test_given_the_likeness_complaint_fails_after_the_copyright_notice_went_then_the_retry_sends_only_the_complaint(world):
    case = world.approved(kind="suspected_ai_cover")

    class FailSecond(RecordingMailer):
        failed = False

        def send_raw(self, **kw):
            if not self.failed and kw["to"] == ["privacy@youtube.example"]:
                self.failed = True
                raise ConnectionError("mail relay down")
            return super().send_raw(**kw)

    mailer = FailSecond()
    with pytest.raises(NoticeChannelError):
        world.service(mailer).dispatch(case_id=case.case_id)
    world.service(mailer).dispatch(case_id=case.case_id)
    assert [m["to"] for m in mailer.sent] == [["copyright@youtube.example"], ["privacy@youtube.example"]]
    assert world.repo.get_case(case.case_id).status is Status.NOTICE_SENT


def test_given_a_deepfake_on_a_platform_without_a_likeness_route_then_nothing_is_sent_and_it_says_why(world):
    case = world.approved(kind="suspected_deepfake", platform="tiktok", url="https://www.tiktok.com/@x/video/1")
    out = world.service().dispatch(case_id=case.case_id)
    assert out["status"] == "NOTICE_INVALID"
    assert out["invalid"]["likeness"]["missing"] == ["route"]
    assert "TikTok takes no likeness notices" in out["invalid"]["likeness"]["reasons"]["route"]
    assert world.mailer.sent == []
    assert world.repo.get_case(case.case_id).status is Status.NOTICE_INVALID


def test_given_a_location_off_the_platform_when_dispatched_then_no_notice_goes_to_that_platform(world):
    """A partner's location_template can make a URL on the partner's own host (a monitoring
    vendor's item page): YouTube could not find the material from it, so no notice goes."""
    hosts = {"location": {"hosts": ["www.youtube.com", "youtube.com", "youtu.be"]}}
    platforms = {**PLATFORMS, "youtube": {**PLATFORMS["youtube"], **hosts}}
    service = NoticeService(repo=world.repo, mailer=world.mailer, complainant=COMPLAINANT, platforms=platforms)
    off = world.approved(url="https://items.monitor-a.example/monitor-a/noisy.ogg")
    out = service.dispatch(case_id=off.case_id)
    assert out["status"] == "NOTICE_INVALID" and world.mailer.sent == []
    reason = out["invalid"]["copyright"]["reasons"]["infringing_material"]
    assert "https://items.monitor-a.example/monitor-a/noisy.ogg is not an address on YouTube" in reason
    on = world.approved(url="https://youtu.be/abc123")  # one of the platform's own hosts: sent
    assert service.dispatch(case_id=on.case_id)["status"] == "NOTICE_SENT"


def test_given_a_partial_case_then_its_notice_is_the_copyright_notice(world):
    case = world.approved(kind="partial")
    assert world.service().dispatch(case_id=case.case_id)["law"] == "DMCA"


def test_given_notices_sent_then_the_uploader_is_counted_and_the_review_page_shows_it(world):
    from takedown_core.pages import review_page

    first = world.approved()
    world.service().dispatch(case_id=first.case_id)
    assert world.repo.notices_for("youtube", "NIGHTCORE_FAN") == 1
    world.service().dispatch(case_id=first.case_id)  # a repeated step counts nothing more
    assert world.repo.notices_for("youtube", "nightcore_fan") == 1
    page = review_page(case=make_case(url=URL + "&again").to_dict(), review={"reviewer": "a@x", "expires_at": NOW + 60},
                       action_url="x/decision", csrf="c", exp=NOW + 60, sig="s", now=NOW,
                       repeat_notices=world.repo.notices_for("youtube", "nightcore_fan"))
    assert "1 earlier notice on YouTube for this uploader" in page
