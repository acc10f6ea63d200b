"""Review clips against moto S3: request_review cuts them into the evidence bucket (right type,
right lengths, the upload read by ranges), a missing upload never blocks the review, the
signed links expire (the local front refuses an expired or altered one: moto itself checks
neither), and the CSP names exactly the bucket's origin."""

from __future__ import annotations

import time
import urllib.error
import urllib.request

import av
import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from takedown_adapters.clips import S3ClipLinks, S3ClipMaker, S3RangeFile, open_object
from takedown_core.cases import Case, CaseKind, Source, Status
from takedown_core.engine import Index, IndexWriter
from takedown_core.pages import security_headers
from takedown_core.workflow import ReviewSettings, WorkflowService
from takedown_local.index_build import publish_reference_audio
from takedown_local.media import resample_linear, synth_track, write_audio
from takedown_local.media_front import MediaFront, Refused, check_presigned, process_credentials
from tests.fakes import InMemoryCaseRepository, RecordingMailer

REGION = "eu-west-1"
SR = 22050
SETTINGS = ReviewSettings(base_url="https://review.example/", link_key=b"k" * 32, link_ttl_seconds=86400,
                          reminders=1, escalations=1, allow=("a@label.example",), fallback="b@label.example")


@pytest.fixture(scope="module")
def aws():
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION}.items():
            mp.setenv(name, value)
        mp.delenv("AWS_PROFILE", raising=False)
        with mock_aws():
            s3 = boto3.client("s3", region_name=REGION)
            for b in ("landing-b", "references-b", "evidence-b"):
                s3.create_bucket(Bucket=b, CreateBucketConfiguration={"LocationConstraint": REGION})
            yield s3


@pytest.fixture(scope="module")
def media(aws, tmp_path_factory):
    """Our recording (60 s FLAC) in the reference bucket with its pointer, and an upload of
    20 s of it from 12 s, sped up 1.25x, in the landing bucket; the engine's real match."""
    root = tmp_path_factory.mktemp("clips")
    cat = root / "catalog"
    cat.mkdir()
    ours = synth_track(4001, 60.0, sample_rate=SR)
    write_audio(cat / "ref-1.flac", ours, SR)
    publish_reference_audio(aws, "references-b", cat)
    upload = resample_linear(ours[12 * SR: 32 * SR], 1.25)
    path = write_audio(root / "sped.m4a", upload, SR)
    aws.upload_file(str(path), "landing-b", "in/sped.m4a")
    w = IndexWriter()
    from takedown_core.audio import decode

    w.add("ref-1", decode(cat / "ref-1.flac", sample_rate=11025).samples)
    w.write(root / "ix")
    best = Index.open(root / "ix").query(decode(path, sample_rate=11025).samples).best
    assert best is not None and best.track_id == "ref-1"
    return {"evidence": {**best.to_dict(), "query": {"query_duration_s": round(len(upload) / SR, 3)}},
            "index": root / "ix", "catalog": cat}


def _case(evidence, key="in/sped.m4a", kind=CaseKind.COPY) -> Case:
    return Case.open(track_id=evidence.get("track_id") or "artist:x", work={"title": "Ref 1", "owner": "Label"},
                     source=Source(partner="p", platform="tiktok", url="https://www.tiktok.com/@x/video/1",
                                   bucket="landing-b", key=key),
                     evidence=evidence, policy={}, kind=kind, submission="sha-1")


def _service(aws, repo, *, references="references-b"):
    maker = S3ClipMaker(aws, evidence_bucket="evidence-b", reference_bucket=references)
    return WorkflowService(repo=repo, mailer=RecordingMailer(), settings=SETTINGS, clips=maker)


def _duration(aws, key) -> float:
    obj = aws.get_object(Bucket="evidence-b", Key=key)
    assert obj["ContentType"] == "audio/mp4"
    import io

    with av.open(io.BytesIO(obj["Body"].read())) as c:
        s = c.streams.audio[0]
        assert s.codec_context.name == "aac" and s.rate == 44100
        return sum(f.samples for f in c.decode(s)) / s.rate


def test_given_a_sped_up_copy_when_review_is_requested_then_three_clips_of_the_right_type_and_length_are_stored(
        aws, media):
    repo = InMemoryCaseRepository()
    case = _case(media["evidence"])
    repo.create_case(case, _open_event(case))
    out = _service(aws, repo).request_review(case_id=case.case_id, round_=0, task_token="tok")
    review = repo.get_review(out["review_id"])
    clips = {c["role"]: c for c in review.clips["clips"]}
    assert set(clips) == {"upload", "reference", "upload_rectified"} and review.clips["problems"] == []
    for c in clips.values():
        assert c["key"].startswith(f"clips/{case.case_id}/{review.review_id}/")
        assert _duration(aws, c["key"]) == pytest.approx(c["duration_s"], abs=0.1)
    up, ref, back = clips["upload"], clips["reference"], clips["upload_rectified"]
    assert up["duration_s"] == pytest.approx(up["upload_end_s"] - up["upload_start_s"], abs=0.05)
    # our recording's span is the upload's span mapped through the match (12 s + 1.25 x upload time)
    assert ref["reference_start_s"] == pytest.approx(12 + 1.25 * ref["upload_start_s"], abs=0.3)
    assert ref["duration_s"] == pytest.approx(1.25 * (ref["upload_end_s"] - ref["upload_start_s"]), abs=0.1)
    assert back["duration_s"] == pytest.approx(ref["duration_s"], abs=0.1)  # brought back: our tempo
    audit = [e for e in repo.audit_trail(case.case_id) if e.action == "review_request"][0]
    assert audit.detail["clips"] == 3


def test_given_a_reminder_then_it_plays_the_clips_the_first_round_cut_without_cutting_again(aws, media):
    class Counting(S3ClipMaker):
        calls = 0

        def make(self, case, review_id):
            Counting.calls += 1
            return super().make(case, review_id)

    repo = InMemoryCaseRepository()
    case = _case(media["evidence"])
    repo.create_case(case, _open_event(case))
    svc = WorkflowService(repo=repo, mailer=RecordingMailer(), settings=SETTINGS,
                          clips=Counting(aws, evidence_bucket="evidence-b", reference_bucket="references-b"))
    first = svc.request_review(case_id=case.case_id, round_=0, task_token="tok")
    again = svc.request_review(case_id=case.case_id, round_=1, task_token="tok")
    assert Counting.calls == 1
    assert repo.get_review(again["review_id"]).clips == repo.get_review(first["review_id"]).clips
    audit = [e for e in repo.audit_trail(case.case_id) if e.action == "review_reminder"][0]
    assert audit.detail["clips_from"] == first["review_id"]


def test_given_the_upload_is_gone_when_review_is_requested_then_it_still_goes_out_and_says_why(aws, media):
    repo = InMemoryCaseRepository()
    case = _case(media["evidence"], key="in/deleted.m4a")
    repo.create_case(case, _open_event(case))
    svc = _service(aws, repo)
    out = svc.request_review(case_id=case.case_id, round_=0, task_token="tok")
    assert out["message_id"] and repo.get_case(case.case_id).status == Status.IN_REVIEW
    review = repo.get_review(out["review_id"])
    assert review.clips["problems"][0].startswith("The upload's file is no longer in the partner's bucket")
    assert [c["role"] for c in review.clips["clips"]] == ["reference"]  # our recording is still there
    audit = [e for e in repo.audit_trail(case.case_id) if e.action == "review_request"][0]
    assert audit.detail["clip_problems"] == review.clips["problems"]


def test_given_reference_audio_is_off_then_only_the_upload_is_cut(aws, media):
    repo = InMemoryCaseRepository()
    case = _case(media["evidence"])
    repo.create_case(case, _open_event(case))
    out = _service(aws, repo, references=None).request_review(case_id=case.case_id, round_=0, task_token="tok")
    review = repo.get_review(out["review_id"])
    assert [c["role"] for c in review.clips["clips"]] == ["upload"]
    assert review.clips["reference_audio"] is False


def test_given_a_cutter_that_fails_then_the_review_still_goes_out_with_the_failure_on_record(aws, media):
    class Broken:
        def make(self, case, review_id):
            raise RuntimeError("codec exploded")

    repo = InMemoryCaseRepository()
    case = _case(media["evidence"])
    repo.create_case(case, _open_event(case))
    svc = WorkflowService(repo=repo, mailer=RecordingMailer(), settings=SETTINGS, clips=Broken())
    out = svc.request_review(case_id=case.case_id, round_=0, task_token="tok")
    assert repo.get_review(out["review_id"]).clips["problems"] == ["The clips could not be cut (RuntimeError)."]
    audit = [e for e in repo.audit_trail(case.case_id) if e.action == "review_request"][0]
    assert audit.detail["clip_error"] == "codec exploded"


def test_given_a_long_upload_then_a_clip_reads_a_small_part_of_it_by_ranges(aws, tmp_path):
    # 10 minutes of audio; a 20 s clip from 5:00 must not fetch the whole file
    x = synth_track(4100, 600.0, sample_rate=SR)
    path = write_audio(tmp_path / "long.m4a", x, SR)
    aws.upload_file(str(path), "landing-b", "in/long.m4a")
    raw = S3RangeFile(aws, "landing-b", "in/long.m4a")
    from takedown_adapters.clips import cut
    import io

    reader = io.BufferedReader(raw, buffer_size=64 * 1024)
    samples = cut(reader, 300.0, 320.0)
    assert samples.size == pytest.approx(20 * 44100, abs=2)
    first = raw.fetched
    assert first < raw.size / 3, (raw.fetched, raw.size)
    cut(reader, 330.0, 350.0)  # the next clip: the header and index come from the kept blocks
    assert raw.fetched - first < first, (first, raw.fetched)
    with pytest.raises(LookupError):
        open_object(aws, "landing-b", "in/none.m4a")


# --------------------------------------------------------------------------- links and the CSP


def test_given_a_signed_link_then_the_front_serves_it_until_it_expires_and_refuses_it_altered(aws):
    aws.put_object(Bucket="evidence-b", Key="clips/c/r/0-upload.m4a", Body=b"m" * 4000, ContentType="audio/mp4")
    front = MediaFront(lambda: aws, credentials=process_credentials)
    origin = front.start()
    try:
        links = S3ClipLinks(boto3.client("s3", endpoint_url=origin, config=Config(
            signature_version="s3v4", s3={"addressing_style": "path"})), "evidence-b")
        assert links.origin == origin
        url = links.url("clips/c/r/0-upload.m4a", 2)
        with urllib.request.urlopen(urllib.request.Request(url, headers={"Range": "bytes=0-9"})) as r:
            assert r.status == 206 and r.headers["Content-Type"] == "audio/mp4" and r.read() == b"m" * 10
        for altered in (url.replace("0-upload", "1-upload"), url.replace("X-Amz-Expires=2", "X-Amz-Expires=9999")):
            with pytest.raises(urllib.error.HTTPError) as e:
                urllib.request.urlopen(altered)
            assert e.value.code == 403 and b"SignatureDoesNotMatch" in e.value.read()
        time.sleep(3.1)
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(url)
        assert e.value.code == 403 and b"Request has expired" in e.value.read()
    finally:
        front.stop()


def test_check_presigned_refuses_a_link_past_its_expiry_at_any_clock():
    s3 = boto3.client("s3", region_name=REGION, endpoint_url="http://127.0.0.1:9", aws_access_key_id="AK",
                      aws_secret_access_key="SK", config=Config(signature_version="s3v4",
                                                                s3={"addressing_style": "path"}))
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "evidence-b", "Key": "clips/a.m4a"},
                                    ExpiresIn=3600)
    path, _, query = url.removeprefix("http://127.0.0.1:9").partition("?")
    now = time.time()
    assert check_presigned("GET", "127.0.0.1:9", path, query, access_key="AK", secret_key="SK", token=None,
                           now=now + 3500) == ("evidence-b", "clips/a.m4a")
    with pytest.raises(Refused, match="expired"):
        check_presigned("GET", "127.0.0.1:9", path, query, access_key="AK", secret_key="SK", token=None,
                        now=now + 3700)
    with pytest.raises(Refused, match="signature"):
        check_presigned("GET", "127.0.0.1:9", path, query, access_key="AK", secret_key="other", token=None)


def test_the_review_api_signs_for_the_buckets_regional_origin_and_the_csp_names_exactly_it(aws, monkeypatch):
    from takedown_handlers import _env, review_api

    monkeypatch.setenv("EVIDENCE_BUCKET", "evidence-b")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.delenv("MEDIA_ENDPOINT_URL", raising=False)
    _env.reset()
    try:
        links = review_api._clip_links()
        assert links.origin == "https://evidence-b.s3.eu-west-1.amazonaws.com"
        url = links.url("clips/c/r/0-upload.m4a", 600)
        assert url.startswith(links.origin + "/clips/c/r/0-upload.m4a?") and "X-Amz-Expires=600" in url
        csp = security_headers(links.origin)["Content-Security-Policy"]
        assert [d for d in csp.split("; ") if d.startswith("media-src")] == [
            "media-src https://evidence-b.s3.eu-west-1.amazonaws.com"]
    finally:
        _env.reset()


def test_given_a_review_link_expiring_soon_then_clip_links_expire_with_it(aws):
    from takedown_core.ports import Review
    from takedown_core.review_service import ReviewService

    class Links:
        origin = "https://m.example"

        def __init__(self):
            self.asked = []

        def url(self, key, expires_in):
            self.asked.append(expires_in)
            return f"https://m.example/{key}"

    links = Links()
    now = 1_800_000_000
    svc = ReviewService(repo=InMemoryCaseRepository(), callback=None, link_key=b"k" * 32, clock=lambda: now,
                        clip_links=links)
    clips = {"clips": [{"role": "upload", "index": 0, "key": "k1", "upload_start_s": 0, "upload_end_s": 5,
                        "duration_s": 5}], "problems": [], "note": "", "reference_audio": True}
    review = Review("r", "c", "a@x", "tok", 0, "", expires_at=now + 600, clips=clips)
    assert svc._clips(review)["parts"][0]["items"][0]["url"] == "https://m.example/k1"
    review.expires_at = now + 86400
    svc._clips(review)
    assert links.asked == [600, 3600]
    assert svc.media_origin == "https://m.example"


def _open_event(case):
    from takedown_core.cases import AuditEvent, utcnow

    return AuditEvent(case.case_id, utcnow(), "system:ingest", "opened", None, Status.DETECTED.value, {})


def test_given_catalog_publish_with_references_then_the_reference_bucket_has_the_audio_and_its_pointer(
        aws, media, tmp_path):
    import argparse
    import json

    from takedown_local.engine_cli import cmd_catalog_publish

    aws.create_bucket(Bucket="catalogue-b", CreateBucketConfiguration={"LocationConstraint": REGION})
    aws.create_bucket(Bucket="references-2", CreateBucketConfiguration={"LocationConstraint": REGION})
    code = cmd_catalog_publish(argparse.Namespace(index=str(media["index"]), bucket="catalogue-b", version="v1",
                                                  references=str(media["catalog"]), reference_bucket="references-2"))
    assert code == 0
    pointer = json.loads(aws.get_object(Bucket="references-2", Key="track-keys/ref-1.json")["Body"].read())
    assert pointer == {"key": "ref-1.flac"}
    assert aws.head_object(Bucket="references-2", Key="ref-1.flac")["ContentLength"] > 0
    # without a bucket to put them in, nothing is published and the command says why
    assert cmd_catalog_publish(argparse.Namespace(index=str(media["index"]), bucket="catalogue-b", version="v2",
                                                  references=str(media["catalog"]), reference_bucket=None)) == 2
