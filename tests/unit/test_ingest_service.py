"""Ingest (takedown_core.ingest.IngestService) over fakes: every object gets one outcome."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from takedown_core.audio import DecodeError
from takedown_core.cases import Status, case_id_for
from takedown_core.ingest import IngestPolicy, IngestService, Reason, TooLarge
from tests.fakes import FakeMatcher as TypedFakeMatcher
from tests.fakes import InMemoryCaseRepository, InMemoryEvidenceStore, RecordingStarter, make_match

pytestmark = pytest.mark.usefixtures("no_network")

SCAN = "scanco-landing"
FEED = "feedco-landing"
PARTNERS = [
    {"id": "scanco", "bucket": SCAN, "default_platform": "youtube"},
    {"id": "feedco", "bucket": FEED, "default_platform": "soundcloud",
     "location_template": "https://feed.example/items/{key}"},
]
PLATFORMS = {
    "youtube": {"name": "YouTube", "law": "DMCA", "channel": "email", "address": "copyright@youtube.example",
                "licensed_uploaders": ["Example Records", "ExampleRecordsVEVO"],
                "location": {"hosts": ["www.youtube.com", "youtube.com", "m.youtube.com", "youtu.be"],
                             "ids": [{"host": "youtu.be", "path": "/{id}"}, {"path": "/watch", "param": "v"},
                                     {"path": "/shorts/{id}"}],
                             "url": "https://www.youtube.com/watch?v={id}", "ignore_params": ["t"]}},
    "tiktok": {"name": "TikTok", "law": "DSA", "channel": "email", "address": "ip@tiktok.example",
               "location": {"hosts": ["www.tiktok.com", "tiktok.com"], "ids": [{"path": "/@{*}/video/{id}"}]}},
    "soundcloud": {"name": "SoundCloud", "law": "DSA", "channel": "email", "address": "copyright@soundcloud.example"},
}
MAX_BYTES = 1000
LIKENESS = {"artists": [{"id": "lanterns", "name": "The Lanterns", "aliases": ["Lanterns"]},
                        {"id": "ai", "name": "Ai"}],
            "terms": {"en": ["ai", "ai cover", "rvc", "voice model"], "es": ["cover ia"]}}

MATCHING = b"ID3 a re-upload of Midnight Harbour"
OTHER_MATCHING = b"ID3 the same work, re-encoded"
UNRELATED = b"ID3 somebody's own song"
NOT_AUDIO = b"%PDF-1.7 not audio at all"
CORRUPT = b"fLaC truncated"

BEST = make_match("trk-0042", score=8.4, false_match_rate=4e-9, offset_s=52.5,
                  metadata={"title": "Midnight Harbour", "artist": "The Lanterns", "isrc": "GBXYZ2400123",
                            "owner": "Example Records Ltd"})
URL_1 = "https://www.youtube.com/watch?v=abc123"
URL_2 = "https://www.tiktok.com/@someone/video/987"


class FakeMediaStore:
    """Partner buckets in memory: objects[(bucket, key)] = bytes."""

    def __init__(self) -> None:
        self.objects: dict[tuple[str, str], bytes] = {}
        self.quarantined: list[dict[str, str]] = []
        self.downloads = 0

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.objects[(bucket, key)] = data

    def download(self, bucket: str, key: str, dest: str, *, max_bytes: int) -> tuple[str, int]:
        self.downloads += 1
        data = self.objects[(bucket, key)]
        if len(data) > max_bytes:
            raise TooLarge(f"{bucket}/{key} is over {max_bytes} bytes")
        with open(dest, "wb") as f:
            f.write(data)
        return hashlib.sha256(data).hexdigest(), len(data)

    def read_first(self, bucket: str, keys: list[str], *, max_bytes: int) -> tuple[str, bytes] | None:
        for k in keys:
            if (bucket, k) in self.objects:
                return k, self.objects[(bucket, k)][:max_bytes]
        return None

    def quarantine(self, bucket: str, key: str, *, reason: str, detail: str) -> str:
        self.quarantined.append({"bucket": bucket, "key": key, "reason": reason, "detail": detail})
        return f"s3://quarantine/{reason}/{bucket}/{key}"


class FakeMatcher(TypedFakeMatcher):
    """Canned answers by content: a match, no match, or the decoder's error."""

    def __init__(self) -> None:
        super().__init__({
            MATCHING: BEST,
            OTHER_MATCHING: BEST,
            UNRELATED: None,
            NOT_AUDIO: DecodeError("not_audio", "no audio stream in the upload"),
            CORRUPT: DecodeError("corrupt", "the FLAC stream ends in the middle of a frame"),
        })


class CountingStarter(RecordingStarter):
    """RecordingStarter (one execution per case id) that also counts start calls."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def start(self, case_id: str, payload: dict[str, Any]) -> str:
        self.calls.append((case_id, payload))
        return super().start(case_id, payload)


class World:
    def __init__(self, *, stay_down_auto_approve: bool = True) -> None:
        self.repo = InMemoryCaseRepository()
        self.media = FakeMediaStore()
        self.matcher = FakeMatcher()
        self.starter = CountingStarter()
        self.evidence = InMemoryEvidenceStore()
        self.service = IngestService(
            repo=self.repo,
            media=self.media,
            matcher_factory=lambda: self.matcher,
            starter=self.starter,
            partners=PARTNERS,
            platforms=PLATFORMS,
            policy=IngestPolicy(max_upload_bytes=MAX_BYTES, max_false_match_rate=1e-6,
                                stay_down_auto_approve=stay_down_auto_approve),
            decode_error=DecodeError,
            evidence=self.evidence,
            likeness=LIKENESS,
        )

    def upload(self, key: str, data: bytes, *, bucket: str = SCAN, sidecar: dict | bytes | None = None,
               sidecar_key: str | None = None, size: int | None = None):
        self.media.put(bucket, key, data)
        if sidecar is not None:
            body = sidecar if isinstance(sidecar, bytes) else json.dumps(sidecar).encode()
            self.media.put(bucket, sidecar_key or f"{key}.json", body)
        return self.process(key, data, bucket=bucket, size=size)

    def process(self, key: str, data: bytes, *, bucket: str = SCAN, size: int | None = None):
        return self.service.process(bucket=bucket, key=key, size=len(data) if size is None else size,
                                    etag=hashlib.md5(data).hexdigest())


@pytest.fixture
def world() -> World:
    return World()


# --------------------------------------------------------------------------- quarantine


def test_given_an_empty_upload_when_processed_then_it_is_quarantined_as_empty(world):
    rec = world.upload("empty.mp3", b"")
    assert (rec.outcome, rec.reason, rec.partner) == ("quarantined", Reason.EMPTY, "scanco")
    assert world.media.quarantined[0]["reason"] == "empty"
    assert rec.extra["quarantined_to"] == "s3://quarantine/empty/scanco-landing/empty.mp3"
    assert world.matcher.calls == [] and world.media.downloads == 0


def test_given_an_upload_over_the_limit_when_processed_then_it_is_quarantined_without_download(world):
    rec = world.upload("big.mp3", b"x" * (MAX_BYTES + 1))
    assert (rec.outcome, rec.reason) == ("quarantined", Reason.OVERSIZE)
    assert str(MAX_BYTES) in rec.extra["detail"]
    assert world.media.downloads == 0


def test_given_an_upload_that_grew_past_the_limit_when_downloaded_then_it_is_quarantined_as_oversize(world):
    rec = world.upload("grew.mp3", b"x" * (MAX_BYTES + 1), size=10)
    assert (rec.outcome, rec.reason) == ("quarantined", Reason.OVERSIZE)
    assert world.matcher.calls == []


@pytest.mark.parametrize(
    ("sidecar", "says"),
    [
        (b"{not json", "not valid UTF-8 JSON"),
        ({"source_url": "ftp://example.com/x"}, "'source_url'"),
        ({"surprise": 1}, "unknown field"),
    ],
)
def test_given_a_bad_sidecar_when_processed_then_it_is_quarantined_with_the_parsers_message(world, sidecar, says):
    rec = world.upload("clip.mp4", MATCHING, sidecar=sidecar)
    assert (rec.outcome, rec.reason) == ("quarantined", Reason.BAD_SIDECAR)
    assert says in rec.extra["detail"]
    assert world.repo.cases == {} and world.matcher.calls == []


@pytest.mark.parametrize(("sidecar", "field"), [
    (b"{not json", None),
    ({"tags": 5}, "tags"),
    ({"surprise": 1, "also": 2}, "also,surprise"),
    ({"platform": "myspace"}, "platform"),
    ({"platform": "tiktok", "source_url": "https://youtu.be/abc123"}, "platform"),
])
def test_given_a_bad_sidecar_when_quarantined_then_the_record_names_the_field_at_fault(world, sidecar, field):
    rec = world.upload("clip.mp4", MATCHING, sidecar=sidecar)
    assert rec.outcome == "quarantined"
    assert rec.extra.get("sidecar_field") == field


def test_given_a_sidecar_url_with_an_invalid_port_when_processed_then_it_is_quarantined(world):
    rec = world.upload("clip.mp4", MATCHING, sidecar={"source_url": "https://www.youtube.com:99999/watch?v=1"})
    assert (rec.outcome, rec.reason) == ("quarantined", Reason.BAD_SIDECAR)


@pytest.mark.parametrize(("data", "reason"), [(NOT_AUDIO, "not_audio"), (CORRUPT, "corrupt")])
def test_given_an_undecodable_upload_when_processed_then_it_is_quarantined_with_the_decoders_reason(
    world, data, reason
):
    rec = world.upload("clip.mp3", data)
    assert (rec.outcome, rec.reason) == ("quarantined", reason)
    assert rec.content_hash == hashlib.sha256(data).hexdigest()
    assert rec.extra["detail"] == str(world.matcher.answers[data])
    assert world.repo.get_submission(rec.content_hash).outcome == "quarantined"


def test_given_undecodable_content_seen_again_when_processed_then_the_reason_is_reused_without_decoding(world):
    world.upload("a.mp3", CORRUPT)
    rec = world.upload("b.mp3", CORRUPT)
    assert (rec.outcome, rec.reason) == ("quarantined", "corrupt")
    assert "middle of a frame" in rec.extra["detail"]
    assert len(world.matcher.calls) == 1


def test_given_an_object_in_an_unknown_bucket_when_processed_then_it_is_quarantined(world):
    rec = world.upload("clip.mp3", MATCHING, bucket="someone-elses-bucket")
    assert (rec.outcome, rec.reason, rec.partner) == ("quarantined", Reason.UNKNOWN_BUCKET, "unknown")
    assert world.matcher.calls == []


def test_given_a_sidecar_object_when_its_event_arrives_then_it_is_skipped(world):
    world.media.put(SCAN, "clip.mp4.json", b"{}")
    assert world.service.process(bucket=SCAN, key="clip.mp4.json", size=2) is None
    assert world.repo.uploads == {}


# --------------------------------------------------------------------------- no match / match


def test_given_content_that_matches_nothing_when_processed_then_it_is_recorded_as_no_match(world):
    rec = world.upload("own-song.mp3", UNRELATED)
    assert (rec.outcome, rec.reason, rec.case_id) == ("no_match", None, None)
    assert world.repo.cases == {} and world.starter.calls == []
    assert world.repo.get_submission(rec.content_hash).outcome == "no_match"


def test_given_an_upload_sharing_only_a_loop_with_a_track_then_no_case_but_the_record_names_the_track(world):
    shared = [{"track_id": "trk-9", "false_match_rate": 1e-9, "salient_share": 0.08, "offset_s": 12.0,
               "query_start_s": 0.0, "matched_duration_s": 9.5, "declined_reason": "repeated", "shared_with": []}]
    world.matcher.partial = [make_match("trk-9", false_match_rate=1e-9, salient_share=0.08, offset_s=12.0,
                                        query_start_s=0.0, matched_duration_s=9.5, declined_reason="repeated")]
    rec = world.upload("remix.mp3", UNRELATED)
    assert (rec.outcome, rec.case_id) == ("no_match", None)
    assert world.repo.cases == {} and world.starter.calls == []
    assert rec.extra["partial"] == shared
    assert world.repo.get_upload(SCAN, "remix.mp3").extra["partial"] == shared


def test_given_a_match_when_processed_then_one_case_is_opened_and_one_workflow_started(world):
    rec = world.upload("clip.mp4", MATCHING, sidecar={"source_url": URL_1})
    assert rec.outcome == "case" and rec.track_id == "trk-0042"
    assert rec.case_id == case_id_for("trk-0042", "youtube:abc123")  # the item, however its URL is spelt
    case = world.repo.get_case(rec.case_id)
    assert case.status is Status.DETECTED
    assert case.work["title"] == "Midnight Harbour" and case.work["track_id"] == "trk-0042"
    assert case.evidence["false_match_rate"] == 4e-9
    assert case.policy["auto_approve"] is False
    assert case.submission == hashlib.sha256(MATCHING).hexdigest()
    assert [e.action for e in world.repo.audit_trail(rec.case_id)] == ["opened"]
    assert world.starter.calls == [(rec.case_id, {"case_id": rec.case_id, "auto_approve": False, "round": 0})]


def test_given_the_same_event_twice_when_processed_then_the_second_is_a_no_op(world):
    first = world.upload("clip.mp4", MATCHING, sidecar={"source_url": URL_1})
    second = world.process("clip.mp4", MATCHING)
    assert second == first
    assert len(world.repo.cases) == 1
    assert len(world.starter.calls) == 1
    assert len(world.matcher.calls) == 1
    assert len(world.repo.audit_trail(first.case_id)) == 1


def test_given_the_same_bytes_under_a_second_key_at_the_same_url_then_there_is_one_case_and_one_execution(world):
    a = world.upload("a.mp4", MATCHING, sidecar={"source_url": URL_1})
    b = world.upload("b.mp4", MATCHING, sidecar={"source_url": URL_1 + "&utm_source=feed"})
    assert a.case_id == b.case_id
    assert len(world.repo.cases) == 1
    assert list(world.starter.started) == [a.case_id]  # a repeat start (same execution name) is a no-op
    assert {cid for cid, _ in world.starter.calls} == {a.case_id}
    assert len(world.repo.audit_trail(a.case_id)) == 1  # opened once
    assert len(world.matcher.calls) == 1


def test_given_a_case_already_in_review_when_the_same_location_arrives_again_then_no_start_is_requested(world):
    a = world.upload("a.mp4", MATCHING, sidecar={"source_url": URL_1})
    case = world.repo.get_case(a.case_id)
    world.repo.cases[a.case_id].status = Status.IN_REVIEW
    b = world.upload("b.mp4", MATCHING, sidecar={"source_url": URL_1})
    assert (b.outcome, b.case_id, b.extra.get("duplicate")) == ("case", case.case_id, True)
    assert len(world.starter.calls) == 1


def test_given_a_notice_was_sent_when_a_partner_reports_the_item_again_then_the_case_records_it_still_up(world):
    a = world.upload("a.mp4", MATCHING, sidecar={"source_url": URL_1})
    world.repo.cases[a.case_id].status = Status.NOTICE_SENT
    b = world.upload("b.mp4", MATCHING, sidecar={"source_url": URL_1})
    assert (b.outcome, b.case_id, b.extra.get("duplicate")) == ("case", a.case_id, True)
    last = world.repo.audit_trail(a.case_id)[-1]
    assert (last.action, last.from_status, last.to_status) == ("reported_again", "NOTICE_SENT", "NOTICE_SENT")
    assert last.detail["key"] == "b.mp4" or last.detail["key"].endswith("b.mp4")
    assert len(world.starter.calls) == 1


def test_given_the_same_bytes_at_a_different_url_then_there_are_two_cases(world):
    a = world.upload("a.mp4", MATCHING, sidecar={"source_url": URL_1})
    b = world.upload("b.mp4", MATCHING, sidecar={"source_url": URL_2})
    assert a.case_id != b.case_id
    assert set(world.repo.cases) == {a.case_id, b.case_id}
    assert set(world.starter.started) == {a.case_id, b.case_id}
    assert len(world.matcher.calls) == 1  # the analysis of the bytes is reused


def test_given_repeat_content_then_the_analysis_is_reused_and_the_matcher_called_once(world):
    for i in range(4):
        world.upload(f"copy-{i}.mp3", UNRELATED)
    assert world.matcher.calls == [UNRELATED]
    assert world.media.downloads == 4  # hashing needs the bytes; decoding does not


def test_given_different_bytes_of_the_same_work_at_the_same_url_then_they_share_the_case(world):
    a = world.upload("a.mp4", MATCHING, sidecar={"source_url": URL_1})
    b = world.upload("b.mp4", OTHER_MATCHING, sidecar={"source_url": URL_1})
    assert a.case_id == b.case_id and len(world.repo.cases) == 1
    assert len(world.matcher.calls) == 2


def test_given_sidecar_fields_when_a_case_is_opened_then_they_travel_into_its_source(world):
    side = {"source_url": URL_2, "platform": "TikTok", "uploader": "someone", "title": "harbour (sped up)",
            "partner_ref": "SC-77", "territory": "DE"}
    rec = world.upload("dir/clip.mp4", MATCHING, sidecar=side, sidecar_key="dir/clip.json")
    src = world.repo.get_case(rec.case_id).source
    assert (src.partner, src.platform, src.url, src.uploader, src.title, src.partner_ref, src.territory) == (
        "scanco", "tiktok", URL_2, "someone", "harbour (sped up)", "SC-77", "DE")
    assert (src.bucket, src.key) == (SCAN, "dir/clip.mp4")


def test_given_no_sidecar_when_a_case_is_opened_then_the_location_is_the_landing_object(world):
    rec = world.upload("clip.mp4", MATCHING)
    case = world.repo.get_case(rec.case_id)
    assert case.location == f"s3://{SCAN}/clip.mp4"
    assert case.source.platform == "youtube"


def test_given_a_partner_with_a_location_template_when_a_case_is_opened_then_the_url_comes_from_it(world):
    rec = world.upload("items/42 b.mp3", MATCHING, bucket=FEED)
    case = world.repo.get_case(rec.case_id)
    assert case.source.url == "https://feed.example/items/items/42%20b.mp3"
    assert (case.source.partner, case.source.platform) == ("feedco", "soundcloud")
    assert rec.partner == "feedco"


def test_given_a_template_url_off_the_platform_when_a_case_is_opened_then_the_case_says_so(world):
    """feedco's template makes feed.example URLs; had its default platform been YouTube, whose
    hosts the registry lists, a notice to YouTube could not locate the item: the case says so
    (the review page shows it; the notice is refused), and the audit trail records it."""
    world.service.partners[FEED] = {**world.service.partners[FEED], "default_platform": "youtube"}
    rec = world.upload("items/43.mp3", MATCHING, bucket=FEED)
    case = world.repo.get_case(rec.case_id)
    assert case.source.platform == "youtube"
    assert case.location_problem.startswith("https://feed.example/items/items/43.mp3 is not an address on YouTube")
    assert world.repo.audit_trail(rec.case_id)[0].detail["location_problem"] == case.location_problem
    on = world.repo.get_case(world.upload("a.mp4", MATCHING, sidecar={"source_url": URL_1}).case_id)
    assert on.location_problem is None


def test_given_a_match_without_metadata_then_the_work_is_known_by_its_track_id(world):
    world.matcher.answers[MATCHING] = make_match("trk-7", score=5.0, false_match_rate=1e-8)
    rec = world.upload("clip.mp4", MATCHING)
    assert world.repo.get_case(rec.case_id).work == {"track_id": "trk-7", "title": "trk-7"}


# --------------------------------------------------------------------------- stay-down


def test_given_content_taken_down_before_when_it_reappears_elsewhere_then_the_case_is_auto_approved(world):
    first = world.upload("a.mp4", MATCHING, sidecar={"source_url": URL_1})
    world.repo.mark_stay_down("trk-0042", first.content_hash, first.case_id)

    again = world.upload("b.mp4", MATCHING, sidecar={"source_url": URL_2})

    case = world.repo.get_case(again.case_id)
    assert again.case_id != first.case_id
    assert case.policy["auto_approve"] is True
    assert first.case_id in case.policy["reason"]
    assert world.starter.started[again.case_id]["auto_approve"] is True
    assert world.starter.started[first.case_id]["auto_approve"] is False
    assert world.repo.audit_trail(again.case_id)[0].detail["policy"]["auto_approve"] is True


def test_given_stay_down_is_switched_off_when_content_reappears_then_a_person_reviews_it():
    world = World(stay_down_auto_approve=False)
    first = world.upload("a.mp4", MATCHING, sidecar={"source_url": URL_1})
    world.repo.mark_stay_down("trk-0042", first.content_hash, first.case_id)
    again = world.upload("b.mp4", MATCHING, sidecar={"source_url": URL_2})
    assert world.repo.get_case(again.case_id).policy["auto_approve"] is False
    assert world.starter.started[again.case_id]["auto_approve"] is False


def test_given_only_similar_content_was_taken_down_when_new_bytes_appear_then_it_is_not_auto_approved(world):
    first = world.upload("a.mp4", MATCHING, sidecar={"source_url": URL_1})
    world.repo.mark_stay_down("trk-0042", first.content_hash, first.case_id)
    other = world.upload("b.mp4", OTHER_MATCHING, sidecar={"source_url": URL_2})
    assert world.repo.get_case(other.case_id).policy["auto_approve"] is False


# --------------------------------------------------------------------------- nothing lost


def test_given_a_mixed_batch_when_processed_then_every_object_has_an_upload_record(world):
    batch = [
        (SCAN, "empty.mp3", b"", None),
        (SCAN, "big.mp3", b"x" * (MAX_BYTES + 1), None),
        (SCAN, "bad-side.mp4", MATCHING, b"[]"),
        (SCAN, "doc.pdf", NOT_AUDIO, None),
        (SCAN, "own.mp3", UNRELATED, None),
        (SCAN, "clip.mp4", MATCHING, {"source_url": URL_1}),
        (SCAN, "clip-again.mp4", MATCHING, {"source_url": URL_1}),
        (FEED, "feed/1.mp3", MATCHING, None),
        ("stranger", "x.mp3", MATCHING, None),
    ]
    for bucket, key, data, side in batch:
        world.upload(key, data, bucket=bucket, sidecar=side)

    outcomes = {(b, k): world.repo.get_upload(b, k) for b, k, _, _ in batch}
    assert all(rec is not None for rec in outcomes.values()), outcomes
    assert {k: (r.outcome, r.reason) for (_, k), r in outcomes.items()} == {
        "empty.mp3": ("quarantined", "empty"),
        "big.mp3": ("quarantined", "oversize"),
        "bad-side.mp4": ("quarantined", "bad_sidecar"),
        "doc.pdf": ("quarantined", "not_audio"),
        "own.mp3": ("no_match", None),
        "clip.mp4": ("case", None),
        "clip-again.mp4": ("case", None),
        "feed/1.mp3": ("case", None),
        "x.mp3": ("quarantined", "unknown_partner_bucket"),
    }
    assert all(r.recorded_at and r.extra["etag"] for r in outcomes.values() if r.key != "empty.mp3")
    assert len(world.repo.cases) == 2


def test_given_storage_trouble_when_downloading_then_the_error_escapes_for_a_retry_and_nothing_is_recorded(world):
    def broken(*a, **kw):
        raise ConnectionError("S3 read timed out")

    world.media.put(SCAN, "clip.mp4", MATCHING)
    world.media.download = broken
    with pytest.raises(ConnectionError):
        world.process("clip.mp4", MATCHING)
    assert world.repo.get_upload(SCAN, "clip.mp4") is None  # the queue retries; no false outcome recorded


# --------------------------------------------------------------------------- the hostile trial (issue 13)


ONE_VIDEO = ["https://youtu.be/abc123", "https://m.youtube.com/watch?v=abc123", "https://youtube.com/watch?v=abc123",
             "https://www.youtube.com/watch?v=abc123&t=30s", "https://www.youtube.com/watch?v=abc123"]


def test_given_five_spellings_of_one_video_when_uploaded_then_one_case_and_one_execution(world):
    """Found by the trial: youtu.be, m., no www and &t=30s each opened a case and sent a notice."""
    recs = [world.upload(f"clip{i}.mp4", MATCHING, sidecar={"source_url": url}) for i, url in enumerate(ONE_VIDEO)]
    assert {r.outcome for r in recs} == {"case"}
    assert len({r.case_id for r in recs}) == 1
    assert len(world.repo.cases) == 1 and len(world.starter.started) == 1
    assert world.repo.get_case(recs[0].case_id).location == "https://www.youtube.com/watch?v=abc123"


def test_given_keys_with_dot_segments_when_placed_by_a_template_then_they_are_not_another_items_case(world):
    """Found by the trial: key `a/../b.mp3` made the notice URL `/items/b.mp3`, another item."""
    plain = world.upload("b.mp3", MATCHING, bucket=FEED)
    dotted = world.upload("a/../b.mp3", MATCHING, bucket=FEED)
    assert plain.case_id != dotted.case_id
    url = world.repo.get_case(dotted.case_id).source.url
    assert url == "https://feed.example/items/a%2F..%2Fb.mp3"


@pytest.mark.parametrize(("sidecar", "says"), [
    (b"[" * 20000 + b"]" * 20000, "recursion limit"),
    ({"source_url": "http://[oops/x"}, "'source_url'"),
    ({"source_url": "https://www.youtube.com:99999/watch?v=1"}, "'source_url'"),
])
def test_given_a_partners_typo_when_processed_then_the_media_is_quarantined_not_lost(world, sidecar, says):
    """Found by the trial: RecursionError / ValueError escaped the parser and the upload went to the DLQ."""
    rec = world.upload("clip.mp4", MATCHING, sidecar=sidecar)
    assert (rec.outcome, rec.reason) == ("quarantined", Reason.BAD_SIDECAR)
    assert says in rec.extra["detail"]


def test_given_an_unconfigured_platform_when_processed_then_it_is_caught_at_ingest(world):
    """Found by the trial: accepted at ingest, reviewed, then FAILED at dispatch with an empty reason."""
    rec = world.upload("clip.mp4", MATCHING, sidecar={"platform": "myspace", "source_url": "https://myspace.example/v/1"})
    assert (rec.outcome, rec.reason) == ("quarantined", Reason.UNKNOWN_PLATFORM)
    assert "'myspace'" in rec.extra["detail"] and "youtube" in rec.extra["detail"]
    assert world.repo.cases == {} and world.matcher.calls == []


def test_given_a_sidecar_naming_one_platform_with_another_platforms_url_then_it_is_quarantined(world):
    rec = world.upload("clip.mp4", MATCHING, sidecar={"platform": "tiktok", "source_url": "https://youtu.be/abc123"})
    assert (rec.outcome, rec.reason) == ("quarantined", Reason.BAD_SIDECAR)


def test_given_a_url_without_platform_then_the_platform_comes_from_its_host(world):
    feed = world.upload("clip.mp4", MATCHING, bucket=FEED, sidecar={"source_url": "https://youtu.be/abc123"})
    assert world.repo.get_case(feed.case_id).source.platform == "youtube"  # not the feed partner's soundcloud


@pytest.mark.parametrize("uploader", ["Example Records", "  example   RECORDS ", "ExampleRecordsVEVO"])
def test_given_the_labels_own_channel_when_it_matches_then_no_case_and_no_stay_down(world, uploader):
    """Found by the trial: stay-down sent a notice against the label's official channel."""
    first = world.upload("a.mp4", MATCHING, sidecar={"source_url": URL_1})
    world.repo.mark_stay_down("trk-0042", first.content_hash, first.case_id)
    rec = world.upload("own.mp4", MATCHING, sidecar={"source_url": "https://youtu.be/own0001", "uploader": uploader})
    assert (rec.outcome, rec.reason, rec.case_id, rec.track_id) == ("licensed", Reason.LICENSED, None, "trk-0042")
    assert "licensed" in rec.extra["detail"]
    assert len(world.repo.cases) == 1 and list(world.starter.started) == [first.case_id]


def test_given_a_licensed_name_on_another_platform_then_it_is_not_licensed_there(world):
    rec = world.upload("c.mp4", MATCHING, sidecar={"source_url": URL_2, "uploader": "Example Records"})
    assert rec.outcome == "case"  # the allow-list is per platform: this name is YouTube's


def test_given_a_folder_marker_when_processed_then_nothing_is_recorded(world):
    """Found by the trial: the S3 console's "create folder" object was quarantined as `empty`."""
    assert world.upload("incoming/", b"") is None
    assert world.repo.uploads == {} and world.media.quarantined == []
    assert world.upload("incoming/empty.mp3", b"").reason == Reason.EMPTY  # a real empty file still is


def _huge_match():
    """A 15-minute compilation against a catalogue of many versions: 239 others, 200 landmarks each."""
    from dataclasses import replace

    landmarks = [(round(i * 4.5, 3), round(i * 4.5 + 12.0, 3)) for i in range(200)]
    other = replace(BEST, landmarks=landmarks, metadata={**BEST.metadata, "notes": "n" * 5000})
    return replace(BEST, landmarks=landmarks), [replace(other, track_id=f"trk-v{i}", score=8.0 - i / 100)
                                                for i in range(239)]


def test_given_evidence_larger_than_an_item_then_the_case_keeps_it_bounded_and_s3_keeps_it_whole(world):
    """Found by the trial: 1 MB of evidence failed the DynamoDB write and the upload went to the DLQ."""
    huge, others = _huge_match()
    world.matcher.answers[MATCHING] = huge
    world.matcher.others = others
    world.matcher.query_duration_s = 900.0
    rec = world.upload("compilation.mp4", MATCHING, sidecar={"source_url": URL_1})
    case = world.repo.get_case(rec.case_id)
    stored = json.dumps(case.to_dict())
    assert len(json.dumps({**huge.to_dict(), "others": [o.to_dict() for o in others]})) > 400_000 > len(stored)
    assert len(json.dumps(case.evidence)) <= 64 * 1024
    assert case.evidence["others_total"] == 239 and len(case.evidence["others"]) == 10
    assert case.evidence["others"][0]["track_id"] == "trk-v0"
    full = world.evidence.documents[case.evidence["full_evidence"]]
    assert case.evidence["full_evidence"].startswith(f"s3://evidence/cases/{case.case_id}/")
    assert len(full["others"]) == 239 and len(full["others"][-1]["landmarks"]) == 200
    sub = world.repo.get_submission(rec.content_hash)
    assert len(json.dumps(sub.match)) <= 64 * 1024 and sub.match["full_evidence"].startswith("s3://evidence/submissions/")


# --------------------------------------------------------------------------- what the decoder made of it (issue 13)

PARTIAL = {"decoded_s": 4.02, "claimed_s": 34.07, "capped": False, "packets": 160, "bad_packets": 3,
           "stream_changes": 0, "stopped_by": None, "downmix": "sum", "partial": True}
WHOLE = {**PARTIAL, "decoded_s": 34.07, "bad_packets": 0, "partial": False}


def test_given_a_no_match_on_part_of_the_audio_then_it_says_so_and_is_never_a_silent_no_match(world):
    world.matcher.decode = PARTIAL
    rec = world.upload("joined.mp3", UNRELATED)
    assert (rec.outcome, rec.reason) == ("no_match", Reason.PARTIAL_DECODE)
    assert "4.02 s of the 34.1 s the file claims" in rec.extra["detail"] and "3 damaged packets" in rec.extra["detail"]
    assert rec.extra["decode"] == PARTIAL


def test_given_silence_then_the_no_match_says_there_was_nothing_to_fingerprint(world):
    world.matcher.query_hashes, world.matcher.decode = 0, WHOLE
    rec = world.upload("hour-of-silence.flac", UNRELATED)
    assert (rec.outcome, rec.reason) == ("no_match", Reason.SILENT)


def test_given_any_outcome_then_the_record_says_how_much_audio_decoded(world):
    world.matcher.decode = WHOLE
    assert world.upload("a.mp3", UNRELATED).extra["decode"] == WHOLE
    rec = world.upload("b.mp3", MATCHING, sidecar={"source_url": URL_1})
    assert rec.extra["decode"] == WHOLE and world.repo.get_case(rec.case_id).evidence["query"]["decode"] == WHOLE


def test_given_a_badly_damaged_upload_then_it_is_quarantined_corrupt_with_its_figures(world):
    from takedown_core.audio import DecodeError, DecodeReport

    report = DecodeReport(0.96, 30.0, False, 220, 212, 0, None, "sum")
    world.matcher.answers[CORRUPT] = DecodeError("corrupt", "the audio stream is damaged: 0.96 s decoded", report)
    rec = world.upload("damaged.mp3", CORRUPT)
    assert (rec.outcome, rec.reason) == ("quarantined", Reason.CORRUPT)
    assert rec.extra["decode"]["bad_packets"] == 212 and "0.96 s" in rec.extra["detail"]


# --------------------------------------------------------------------------- kinds of case (issue 15)

DEEPFAKE = b"ID3 a generated song in our artist's voice"


def test_given_a_partial_match_then_the_case_is_partial_and_never_approved_by_stay_down():
    world = World()
    world.matcher.answers[MATCHING] = make_match("trk-0042", kind="partial", salient_share=0.2)
    first = world.upload("cover.mp3", MATCHING, sidecar={"source_url": URL_1})
    case = world.repo.get_case(first.case_id)
    assert (case.kind.value, first.extra["kind"]) == ("partial", "partial")
    assert case.policy["auto_approve"] is False and "partial match" in case.policy["reason"]
    world.repo.mark_stay_down("trk-0042", first.content_hash, first.case_id)  # as if its notice had gone out
    again = world.upload("cover-again.mp3", MATCHING, sidecar={"source_url": URL_2})
    assert world.repo.get_case(again.case_id).policy["auto_approve"] is False
    assert [p["auto_approve"] for _, p in world.starter.calls] == [False, False]


def test_given_a_partial_match_presented_as_our_artists_ai_voice_then_a_suspected_ai_cover():
    world = World()
    world.matcher.answers[MATCHING] = make_match("trk-0042", kind="partial", salient_share=0.2)
    rec = world.upload("cover.mp3", MATCHING, sidecar={"source_url": URL_1, "description": "The Lanterns RVC voice model"})
    case = world.repo.get_case(rec.case_id)
    assert case.kind.value == "suspected_ai_cover" and case.likeness["artist"]["id"] == "lanterns"
    assert case.evidence["track_id"] == "trk-0042" and case.policy["auto_approve"] is False


def test_given_no_recording_of_ours_but_an_ai_imitation_of_our_artist_then_a_deepfake_case_without_evidence():
    world = World()
    world.matcher.answers[DEEPFAKE] = None
    rec = world.upload("song.mp3", DEEPFAKE, sidecar={"source_url": URL_1, "title": "Lanterns – new song (AI cover)"})
    assert (rec.outcome, rec.extra["kind"], rec.track_id) == ("case", "suspected_deepfake", "artist:lanterns")
    case = world.repo.get_case(rec.case_id)
    assert case.kind.value == "suspected_deepfake" and case.evidence == {} and not case.kind.holds_our_recording
    assert case.work["artist"] == "The Lanterns" and case.policy["auto_approve"] is False
    assert case.likeness["artist"] == {"id": "lanterns", "name": "The Lanterns"}
    assert [t["term"] for t in case.likeness["terms"]] == ["ai cover"]
    assert world.starter.calls == [(rec.case_id, {"case_id": rec.case_id, "auto_approve": False, "round": 0})]


@pytest.mark.parametrize("sidecar", [
    {"title": "Lanterns – new song"},                          # our artist, no AI words
    {"title": "my AI cover of a folk song", "tags": ["RVC"]},   # AI words, no artist of ours
    {"title": "Aitana - new song (cover IA)"},                 # "Ai" is not inside "Aitana"
    {"title": "Ai - new song"},                                # the artist "Ai", and no term beside the name
])
def test_given_an_artist_without_a_term_or_a_term_without_an_artist_then_no_case(sidecar):
    world = World()
    world.matcher.answers[DEEPFAKE] = None
    rec = world.upload("song.mp3", DEEPFAKE, sidecar={"source_url": URL_1, **sidecar})
    assert (rec.outcome, rec.case_id) == ("no_match", None) and world.repo.cases == {}


def test_given_a_copy_whose_title_says_ai_then_it_stays_a_copy_of_our_recording():
    world = World()
    rec = world.upload("clip.mp3", MATCHING, sidecar={"source_url": URL_1, "title": "Lanterns (AI cover)"})
    case = world.repo.get_case(rec.case_id)
    assert (case.kind.value, case.likeness) == ("copy", None)


def test_given_an_ai_imitation_on_the_labels_own_channel_then_no_case():
    world = World()
    world.matcher.answers[DEEPFAKE] = None
    rec = world.upload("song.mp3", DEEPFAKE, sidecar={"source_url": URL_1, "uploader": "ExampleRecordsVEVO",
                                                      "title": "The Lanterns (AI cover) - official experiment"})
    assert (rec.outcome, rec.reason) == ("licensed", Reason.LICENSED) and world.repo.cases == {}
