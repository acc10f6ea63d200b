"""What cutting a review's clips costs: wall time and peak memory of ``S3ClipMaker.make``.

    .venv/bin/python -m bench.clips [--minutes 3 15] [--format m4a|mp3]

For each length, in a fresh process: a stereo 44.1 kHz upload of that length (AAC 192 kb/s in
MP4 with its index at the end, as phones record; or MP3) in a moto landing bucket, our recording
(FLAC) in the reference bucket, and a match over the whole upload at 1.04x (so the most work a
review can ask: three parts, each with the upload, our recording and the upload brought back:
nine clips). Reported: seconds to cut, encode and store; resident memory before (moto holding
the objects, boto3, numpy, PyAV loaded and warmed by one clip) and its peak while cutting
(sampled every 10 ms), and their difference, what cutting adds; bytes fetched by ranged GETs. The steps
function's memory and timeout (infra/takedown_infra/components.py) are set from these figures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def _rss_mb() -> float:
    """This process's resident memory now (MB)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def make_media(minutes: float, fmt: str, folder: Path) -> tuple[Path, Path]:
    """(our recording as FLAC in a catalogue folder, the upload): made once, outside the measured process."""
    import numpy as np

    from takedown_local.media import resample_linear, synth_track, write_audio

    sr, seconds = 44_100, minutes * 60
    cat = folder / "cat"
    cat.mkdir(parents=True, exist_ok=True)
    ours = synth_track(7, seconds * 1.04 + 1, sample_rate=sr)
    write_audio(cat / "ref-1.flac", ours, sr)
    up = resample_linear(ours, 1.04)[: int(seconds * sr)]
    upload = write_audio(folder / f"upload.{fmt}", np.stack([up, up * 0.9]), sr, bitrate=192_000)
    return cat, upload


def one(folder: Path, minutes: float, fmt: str) -> dict:
    import threading

    import boto3
    from moto import mock_aws

    from takedown_adapters import clips as clips_mod
    from takedown_adapters.clips import S3ClipMaker
    from takedown_core.cases import Case, Source
    from takedown_local.index_build import publish_reference_audio

    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="eu-west-1")
    seconds = minutes * 60
    path = folder / f"upload.{fmt}"
    with mock_aws():
        s3 = boto3.client("s3", region_name="eu-west-1")
        for b in ("landing-b", "references-b", "evidence-b"):
            s3.create_bucket(Bucket=b, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        publish_reference_audio(s3, "references-b", folder / "cat")
        s3.upload_file(str(path), "landing-b", f"in/upload.{fmt}")
        evidence = {"track_id": "ref-1", "offset_s": 0.0, "query_start_s": 0.0, "matched_duration_s": seconds,
                    "speed": 1.04, "pitch_semitones": 0.679, "transform": "speed",
                    "query": {"query_duration_s": seconds}}
        case = Case.open(track_id="ref-1", work={}, source=Source(partner="p", platform="tiktok", bucket="landing-b",
                                                                    key=f"in/upload.{fmt}"),
                         evidence=evidence, policy={}, submission="x")
        opened = []
        real_open = clips_mod.open_object

        def counting_open(s3_, bucket, key):
            reader = real_open(s3_, bucket, key)
            opened.append(reader.raw)
            return reader

        clips_mod.open_object = counting_open
        # warm: imports and codec set-up happen once per container, not per review
        S3ClipMaker(s3, evidence_bucket="evidence-b", reference_bucket=None).make(
            Case.open(track_id="x", work={}, source=case.source, evidence={}, policy={}, submission="y"), "warm")
        opened.clear()
        before = _rss_mb()
        peak = [before]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], _rss_mb())
                time.sleep(0.01)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        t0, c0 = time.perf_counter(), time.process_time()
        out = S3ClipMaker(s3, evidence_bucket="evidence-b", reference_bucket="references-b").make(case, "r1")
        took, cpu = time.perf_counter() - t0, time.process_time() - c0
        stop.set()
        sampler.join()
        upload = [r for r in opened if r.key.startswith("in/")]
        reference = [r for r in opened if not r.key.startswith("in/")]
        return {"minutes": minutes, "format": fmt, "upload_mb": round(path.stat().st_size / 2**20, 1),
                "clips": len(out.clips), "problems": out.problems, "seconds": round(took, 2), "cpu_seconds": round(cpu, 2),
                "rss_before_mb": round(before), "peak_rss_mb": round(peak[0]),
                "cutting_mb": round(peak[0] - before), "peak_process_rss_mb": round(resource.getrusage(
                    resource.RUSAGE_SELF).ru_maxrss / 1024),
                "upload_fetched_mb": round(sum(r.fetched for r in upload) / 2**20, 2),
                "reference_fetched_mb": round(sum(r.fetched for r in reference) / 2**20, 2),
                "reference_mb": round(sum(r.size for r in reference) / 2**20, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, nargs="+", default=[3, 15])
    ap.add_argument("--format", default="m4a", choices=["m4a", "mp3"])
    ap.add_argument("--one", type=float, help=argparse.SUPPRESS)
    ap.add_argument("--folder", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one is not None:
        print(json.dumps(one(Path(args.folder), args.one, args.format)))
        return 0
    for m in args.minutes:  # a fresh process each, the media made before it starts
        with tempfile.TemporaryDirectory(prefix="clipbench-") as tmp:
            make_media(m, args.format, Path(tmp))
            out = subprocess.run([sys.executable, "-m", "bench.clips", "--one", str(m), "--format", args.format,
                                  "--folder", tmp], capture_output=True, text=True, check=True)
            print(out.stdout.strip().splitlines()[-1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
