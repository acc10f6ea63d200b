"""How fast `takedown catalog build` indexes real music, as the CLI itself reports it.

    .venv/bin/python -m bench.build_speed [--hours 2.5] [--repeat 3] [--workers N]

The catalogue: the benchmark's cached music (``~/.cache/takedown-bench``: the default and
the extended corpus, fetched by ``bench/run.sh``), converted once by ffmpeg to FLAC at
22,050 Hz (kept under ``~/.cache/takedown-bench/build-speed/``), files in name order until
``--hours`` of audio. Each run is the real command in a fresh process
(``takedown catalog build DIR --out OUT``) into a new directory.

The figure, the same one the CLI prints on its last line: **seconds of audio indexed /
wall-clock seconds of the build** (listing, decoding, peak finding, hashing, the self-match,
writing the shards and manifest; the CLI starts its clock once Python has loaded it), "x real
time"; the same over the whole process, start-up included, is shown beside it ("wall
here"). Also reported: the CPU seconds
of the command and all its workers (``RUSAGE_CHILDREN``), which do not depend on what else
the machine runs, and the load average before each run (other work on the machine takes
cores from the workers and lowers the wall-clock figure, never the CPU figure).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CACHE = Path(os.environ.get("TAKEDOWN_BENCH_CACHE", Path.home() / ".cache" / "takedown-bench"))
SOURCES = ("extracted", "unpacked")  # bench/fingerprint.py's default and extended corpus
MUSIC_SUFFIXES = {".ogg", ".opus", ".mp3", ".flac"}
MIN_BYTES = 300_000  # below this the packages hold sound effects and jingles, not music
RATE = 22050
_BUILD_LINE = re.compile(r"build: (\d+) s of audio in ([\d.]+) s wall = (\d+)x real time; ([\d.]+) s CPU")


def corpus(hours: float) -> tuple[Path, float]:
    """The FLAC directory for ``hours`` of music (converted on first use) and its seconds."""
    out = CACHE / "build-speed" / f"flac-{RATE}-{hours:g}h"
    done = out / ".done.json"
    if done.exists():
        return out, json.loads(done.read_text())["seconds"]
    sources = sorted(p for s in SOURCES for p in (CACHE / s).rglob("*")
                     if p.is_file() and p.suffix.lower() in MUSIC_SUFFIXES and p.stat().st_size >= MIN_BYTES)
    if not sources:
        raise SystemExit(f"no cached music under {CACHE}: run bench/run.sh once (it fetches the corpus)")
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    total = 0.0
    for n, src in enumerate(sources):
        if total >= hours * 3600:
            break
        dest = out / f"{n:03d}_{re.sub(r'[^A-Za-z0-9_-]', '_', src.stem)}.flac"
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", str(src), "-ar", str(RATE), "-c:a", "flac",
                        str(dest)], check=True)
        probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                                str(dest)], check=True, capture_output=True, text=True)
        total += float(probe.stdout.strip())
    done.write_text(json.dumps({"seconds": total, "files": len(list(out.glob("*.flac")))}))
    return out, total


def run_once(flac: Path, workers: int | None) -> dict:
    """One `takedown catalog build` in a fresh process: wall, CPU, and the CLI's own line."""
    exe = Path(sys.executable).with_name("takedown")
    with tempfile.TemporaryDirectory(prefix="build-speed-") as tmp:
        cmd = [str(exe), "catalog", "build", str(flac), "--out", str(Path(tmp) / "index")]
        if workers:
            cmd += ["--workers", str(workers)]
        load = os.getloadavg()[0]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if r.returncode != 0:
        raise SystemExit(f"catalog build failed ({r.returncode}):\n{r.stderr[-2000:]}")
    m = _BUILD_LINE.search(r.stderr)
    if not m:
        raise SystemExit("the CLI printed no build line:\n" + r.stderr[-2000:])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    audio = float(m.group(1))
    return {"audio_s": audio, "cli_wall_s": float(m.group(2)), "cli_x_realtime": float(m.group(3)),
            "wall_s": wall, "x_realtime": audio / wall, "cpu_s": cpu, "cpu_x_realtime": audio / cpu,
            "load_before": load}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hours", type=float, default=2.5, help="hours of music to index (default 2.5)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workers", type=int, default=None, help="passed to catalog build (default: its own, one per core)")
    args = ap.parse_args(argv)
    flac, seconds = corpus(args.hours)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"corpus: {flac} ({seconds / 3600:.2f} h of FLAC at {RATE} Hz); {cores} cores")
    print("| run | load before | wall s | x real time (CLI) | x real time (wall here) | CPU s | CPU x real time |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for i in range(args.repeat):
        row = run_once(flac, args.workers)
        rows.append(row)
        print(f"| {i + 1} | {row['load_before']:.2f} | {row['wall_s']:.1f} | {row['cli_x_realtime']:.0f} | "
              f"{row['x_realtime']:.0f} | {row['cpu_s']:.1f} | {row['cpu_x_realtime']:.0f} |", flush=True)
    best = max(rows, key=lambda r: r["cli_x_realtime"])
    print(f"best: {best['cli_x_realtime']:.0f}x real time (CLI's figure) at load {best['load_before']:.2f}; "
          f"CPU {min(r['cpu_s'] for r in rows):.1f}-{max(r['cpu_s'] for r in rows):.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
