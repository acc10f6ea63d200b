"""The corpus of bad inputs (issue 13), dropped together into a partner bucket of the running
stack: each ends with its expected outcome and a clear recorded reason, none crashes a batch,
none reaches the DLQ, and damaged media whose music survives still matches."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from takedown_local import driver
from takedown_local.media import synth_track, write_audio, write_silence
from takedown_local.runtime import LocalStack

from tests.audio_fixtures import wav_bytes

pytestmark = pytest.mark.timeout(300)
SR = 22050
SMALL_LIMIT = {"limits": {"max_upload_mb": 1}}  # so the oversize file need not be large


def _video_only(path: Path) -> Path:
    import av

    with av.open(str(path), "w", format="mp4") as out:
        v = out.add_stream("libx264", rate=10)
        v.width, v.height, v.pix_fmt = 64, 64, "yuv420p"
        for i in range(10):
            frame = av.VideoFrame.from_ndarray(np.full((64, 64, 3), i * 20, dtype=np.uint8), format="rgb24")
            for pkt in v.encode(frame):
                out.mux(pkt)
        for pkt in v.encode():
            out.mux(pkt)
    return path


def _cut(data: bytes, fraction: float) -> bytes:
    return data[: int(len(data) * fraction)]


def build(folder: Path) -> dict[str, tuple[str, str | None]]:
    """Files under ``folder`` -> (expected outcome, expected reason or track)."""
    ref0 = synth_track(200, 60, sample_rate=SR)  # the workflow catalogue's ref-0 (tests/workflow/conftest.py)
    excerpt = ref0[10 * SR: 30 * SR]
    work = folder / ".work"
    work.mkdir()
    files: dict[str, bytes] = {}
    expect: dict[str, tuple[str, str | None]] = {}

    def add(name: str, data: bytes, outcome: str, why: str | None, sidecar: str | None = None) -> None:
        files[name] = data
        expect[name] = (outcome, why)
        if sidecar is not None:
            files[name.rsplit(".", 1)[0] + ".json"] = sidecar.encode() if isinstance(sidecar, str) else sidecar

    enc = {fmt: write_audio(work / f"x.{fmt}", excerpt, SR).read_bytes() for fmt in ("mp3", "ogg", "flac", "mp4")}
    # found by the trial
    intro = write_audio(work / "intro.mp3", synth_track(77, 4.0, 44100), 44100).read_bytes()
    body = write_audio(work / "body.mp3", synth_track(200, 60, sample_rate=48000)[10 * 48000: 40 * 48000], 48000).read_bytes()
    add("joined-44k-48k.mp3", intro + body, "case", "ref-0")
    add("phase-inverted.mp3", write_audio(work / "inv.mp3", np.stack([excerpt, -excerpt]), SR).read_bytes(), "case", "ref-0")
    mp3 = bytearray(enc["mp3"])
    mp3[16000:16000 + 4096] = np.random.default_rng(5).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    add("garbage-1s-in.mp3", bytes(mp3), "case", "ref-0")
    # truncated
    add("truncated.ogg", _cut(enc["ogg"], 0.4), "case", "ref-0")
    add("truncated.flac", _cut(enc["flac"], 0.4), "case", "ref-0")
    add("truncated.mp3", _cut(enc["mp3"], 0.4), "case", "ref-0")
    add("truncated.mp4", _cut(enc["mp4"], 0.3), "quarantined", "corrupt")  # its index is at the end: nothing to locate
    pcm = (np.clip(excerpt[: 8 * SR], -1, 1) * 32767).astype("<i2").tobytes()
    add("huge-claim.wav", wav_bytes(pcm, SR, claimed_data_bytes=0x7FFFFFFF), "case", "ref-0")
    # not audio, too little, too much
    add("empty.mp3", b"", "quarantined", "empty")
    add("paper.mp3", b"%PDF-1.7\n" + bytes(5000), "quarantined", "not_audio")
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("zeros.bin", bytes(50 * 2**20))
    add("bomb.m4a", bomb.getvalue(), "quarantined", "not_audio")
    add("blip.wav", wav_bytes(pcm[: int(0.2 * SR) * 2], SR), "quarantined", "too_short")
    add("silence.flac", write_silence(work / "silence.flac", 3600).read_bytes(), "no_match", "silent")
    add("video-only.mp4", _video_only(work / "v.mp4").read_bytes(), "quarantined", "not_audio")
    big = (np.random.default_rng(1).integers(-2000, 2000, 40 * SR, dtype=np.int16)).tobytes()
    add("oversize.wav", wav_bytes(big, SR), "quarantined", "oversize")
    # sidecars
    for i, side in enumerate(["{not json", json.dumps({"title": "x" * 70_000}), json.dumps({"uploader": 7}),
                              "[" * 20000 + "]" * 20000, json.dumps({"source_url": "http://[oops/x"})]):
        add(f"side{i}.mp3", enc["mp3"], "quarantined", "bad_sidecar", side)
    # a platform the registry does not know: caught at ingest, never a case that fails at its notice
    add("myspace.mp3", enc["mp3"], "quarantined", "unknown_platform",
        json.dumps({"source_url": "https://myspace.example/m/1", "platform": "myspace"}))
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return expect


def test_given_the_bad_input_corpus_in_one_drop_then_each_has_its_outcome_and_reason_and_nothing_is_lost(
        tmp_path, media, index_dir):
    up = tmp_path / "up"
    up.mkdir()
    expect = build(up)
    with LocalStack("dev", overrides=SMALL_LIMIT) as stack:
        driver.publish_index(stack, index_dir)
        bucket = next(iter(stack.partner_buckets.values()))
        stack.client("s3").put_object(Bucket=bucket, Key="incoming/", Body=b"")  # a console "folder"
        with stack.ingest_paused():  # all at once: full batches
            dropped = driver.drop_uploads(stack, up)
        driver.wait_ingested(stack, dropped, progress=False)
        repo = stack.repository()
        got = {u.file: repo.get_upload(u.bucket, u.key) for u in dropped}
        wrong = {}
        for name, (outcome, why) in expect.items():
            rec = got[name]
            seen = None if rec is None else (rec.outcome, rec.track_id if outcome == "case" else rec.reason)
            if seen != (outcome, why):
                wrong[name] = (seen, rec and rec.extra.get("detail"))
        assert wrong == {}
        for name in ("joined-44k-48k.mp3", "garbage-1s-in.mp3", "truncated.flac", "huge-claim.wav"):
            assert got[name].extra["decode"]["partial"] is (name != "joined-44k-48k.mp3"), name
        assert got["joined-44k-48k.mp3"].extra["decode"]["stream_changes"] >= 1
        assert got["phase-inverted.mp3"].extra["decode"]["downmix"] == "difference"
        assert got["truncated.mp4"].extra["detail"] and got["oversize.wav"].extra["detail"].endswith("1048576")
        assert repo.get_upload(bucket, "incoming/") is None
        assert driver.dlq_depth(stack) == 0 and stack.invocation_errors == []
