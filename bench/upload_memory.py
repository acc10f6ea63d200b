"""Peak memory of the fingerprint function's path on a long upload (issue: under 512 MB for
10 minutes): decode with PyAV, capped, then extract and query, in a fresh process, as the
Lambda runs it.

    .venv/bin/python -m bench.upload_memory [--minutes 10] [--index DIR]

The upload is the benchmark's real music (its corpus, fetched and cached as ``bench/run.sh``
does), joined to the length asked and encoded to MP3 by ffmpeg; without ``--index`` a
catalogue index is built from the same tracks, as the benchmark builds its catalogue. Prints the process's peak resident memory (VmHWM) after start-up and
index load, after decoding, and after the query.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench.fingerprint import MASTER_RATE, SR, _run, _write_wav, fetch_corpus, load_master, track_name

_CHILD = r"""
import json, sys, time
from pathlib import Path

def hwm():
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")

from takedown_core.audio import decode_audio
from takedown_core.engine import Index
upload, index_dir, cap = sys.argv[1], sys.argv[2], float(sys.argv[3])
index = Index.open(index_dir)
out = {"start_mb": hwm()}
t0 = time.process_time()
samples = decode_audio(upload, sample_rate=index.params.sample_rate, max_seconds=cap)
out["decoded_s"] = samples.size / index.params.sample_rate
out["after_decode_mb"] = hwm()
r = index.query(samples)
out["after_query_mb"] = hwm()
out["cpu_s"] = time.process_time() - t0
out["answer"] = r.best.track_id if r.best else None
print(json.dumps(out))
"""


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--index", default=None, help="an index directory (default: built from the benchmark cache)")
    ap.add_argument("--cap-seconds", type=float, default=900.0, help="the decode cap (the function's max_seconds)")
    args = ap.parse_args(argv)
    files = sorted(fetch_corpus())  # cached after bench/run.sh has run once; fetched otherwise
    with tempfile.TemporaryDirectory(prefix="upload-memory-") as tmp:
        work = Path(tmp)
        index_dir = Path(args.index) if args.index else work / "index"
        if not args.index:
            from takedown_core.audio import decode_audio
            from takedown_core.engine import IndexWriter

            writer = IndexWriter()
            for f in files[:12]:  # the catalogue is built as the benchmark builds it
                writer.add(track_name(f), decode_audio(f, sample_rate=SR))
            writer.write(index_dir)
        need = int(args.minutes * 60 * MASTER_RATE)
        parts, have = [], 0
        for f in files:  # real music the index holds (the query path then has evidence to weigh)
            parts.append(load_master(f))
            have += parts[-1].size
            if have >= need:
                break
        upload_wav = work / "upload.wav"
        _write_wav(upload_wav, np.concatenate(parts)[:need], MASTER_RATE)
        upload = work / "upload.mp3"
        _run(["ffmpeg", "-nostdin", "-y", "-i", str(upload_wav), "-ac", "2", "-b:a", "128k", str(upload)])
        upload_wav.unlink()
        proc = subprocess.run([sys.executable, "-c", _CHILD, str(upload), str(index_dir), str(args.cap_seconds)],
                              check=True, capture_output=True, text=True)
        res = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"{args.minutes:g}-minute MP3 upload ({res['decoded_s']:.0f} s decoded): peak RSS {res['start_mb']:.0f} MB after start-up "
          f"and index load, {res['after_decode_mb']:.0f} MB after decoding, {res['after_query_mb']:.0f} MB after the query "
          f"({res['cpu_s']:.1f} s CPU; answer {res['answer']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
