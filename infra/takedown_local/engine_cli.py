"""`takedown catalog build` and `takedown match`: the fingerprint engine from the shell.

Wired into the `takedown` command by ``add_commands(subparsers)``. Each command's ``func``
takes the argparse namespace and returns an exit code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from typing import Any, Iterator

from takedown_core.audio import DecodeError, decode_audio
from takedown_core.catalog_build import (
    MAX_REFERENCE_SECONDS,
    METADATA_KEYS,
    BuildTrack,
    TrackPeaks,
    build_index,
    is_reference_audio,
    parse_reference_sidecar,
    reference_fingerprint,
    sidecar_key,
    track_id_for,
    track_peaks,
)
from takedown_core.engine import DEFAULT_MAX_FALSE_MATCH_RATE, DEFAULT_PARAMS, AnalysisParams, Index, IndexFormatError
from takedown_core.engine.extract import Fingerprint
from takedown_core.matching import MIN_QUERY_SECONDS

__all__ = ["MAX_QUERY_SECONDS", "MAX_REFERENCE_SECONDS", "METADATA_KEYS", "add_commands"]
MAX_QUERY_SECONDS = 600.0  # the fingerprint Lambda's cap, for the same answers locally


def add_commands(subparsers) -> None:
    catalog = subparsers.add_parser("catalog", help="build, publish and rebuild the reference catalogue index")
    catalog_sub = catalog.add_subparsers(dest="catalog_command", metavar="SUBCOMMAND")
    catalog_sub.required = True
    build = catalog_sub.add_parser("build", help="fingerprint every audio file under DIR into a new index")
    build.add_argument("dir", metavar="DIR", help="directory of reference audio (searched recursively)")
    build.add_argument("--out", required=True, metavar="INDEX", help="new index directory (must not exist or be empty)")
    build.add_argument("--shards", type=int, default=None, metavar="N", help="number of shards (default: as few as fit)")
    build.add_argument("--workers", type=int, default=None, metavar="N",
                       help="worker processes that decode and fingerprint (default: one per core)")
    build.set_defaults(func=cmd_catalog_build)
    publish = catalog_sub.add_parser(
        "publish", help="upload an index as a new version to the catalogue bucket, then point CURRENT at it"
    )
    publish.add_argument("index", metavar="INDEX", help="index directory written by `catalog build`")
    publish.add_argument("--bucket", required=True, help="the stack's CatalogueBucket output")
    publish.add_argument("--version", default=None, help="version name (default: UTC time + manifest digest)")
    publish.add_argument("--references", metavar="DIR", default=None,
                         help="also fill the reference-audio bucket from this catalogue folder, so reviewers "
                              "hear our recording beside the upload (only where cdk.json review.reference_audio "
                              "is true)")
    publish.add_argument("--reference-bucket", default=None, help="with --references: the stack's ReferenceBucket output")
    publish.set_defaults(func=cmd_catalog_publish)

    rebuild = catalog_sub.add_parser(
        "rebuild",
        help="run the stack's catalogue build (Step Functions: a Lambda per batch of references, then the "
             "reduce that publishes a new index version)")
    where = rebuild.add_mutually_exclusive_group(required=True)
    where.add_argument("--local", metavar="DIR",
                       help="on the embedded stack: upload DIR's references (audio and .json sidecars) to its "
                            "reference bucket first")
    where.add_argument("--state-machine", metavar="ARN",
                       help="a deployed stack's CatalogueBuildStateMachine output (default AWS credentials)")
    rebuild.add_argument("--out", metavar="INDEX", help="with --local: also copy the published index here")
    rebuild.add_argument("--env", default="dev", help="with --local: the environment's configuration (default dev)")
    rebuild.add_argument("--timeout", type=float, default=3600.0, metavar="S", help="seconds to wait (default 3600)")
    rebuild.set_defaults(func=cmd_catalog_rebuild)

    match = subparsers.add_parser("match", help="match audio files against an index")
    match.add_argument("--index", required=True, metavar="INDEX", help="index directory")
    match.add_argument("files", nargs="+", metavar="FILE")
    match.add_argument("--jsonl", action="store_true", help="one JSON object per line per file")
    match.add_argument(
        "--max-false-match-rate",
        type=float,
        default=DEFAULT_MAX_FALSE_MATCH_RATE,
        metavar="RATE",
        help=f"expected chance matches per query allowed (default {DEFAULT_MAX_FALSE_MATCH_RATE:g})",
    )
    match.set_defaults(func=cmd_match)


# --------------------------------------------------------------------------- catalog build


class _Progress:
    """A plain-text progress bar on stderr (redraws in place on a terminal)."""

    def __init__(self, total: int, stream=None) -> None:
        self.total = max(1, total)
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start = time.monotonic()
        self.last_line = ""

    def update(self, done: int, label: str = "") -> None:
        frac = done / self.total
        width = 30
        bar = "#" * int(frac * width) + "-" * (width - int(frac * width))
        elapsed = time.monotonic() - self.start
        eta = elapsed / frac - elapsed if frac > 0 else 0.0
        line = f"[{bar}] {done}/{self.total} {frac * 100:5.1f}% {elapsed:6.1f}s eta {eta:6.1f}s {label[:40]}"
        if self.tty:
            self.stream.write("\r" + line.ljust(len(self.last_line)))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        self.last_line = line

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _candidate_files(root: Path) -> list[Path]:
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            if is_reference_audio(name):
                files.append(Path(dirpath) / name)
    return files


def _sidecar_fields(path: Path) -> tuple[dict, list]:
    """The track's sidecar (``NAME.json`` beside it, :func:`catalog_build.sidecar_key`):
    metadata and ``exclusions`` (``[{"start_s": 12.0, "end_s": 20.5, "note": "..."}]``,
    time ranges the label does not hold exclusive rights to, e.g. a licensed loop).
    Unreadable or of the wrong shape: ignored with a warning."""
    side = path.with_name(sidecar_key(path.name))
    raw = None
    if side.is_file():
        try:
            raw = side.read_bytes()
        except OSError as exc:
            print(f"warning: {side}: unreadable metadata ({exc}); ignored", file=sys.stderr)
    metadata, exclusions, warnings = parse_reference_sidecar(raw, str(side))
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    return metadata, exclusions


def _fingerprint_file(path: str, params: AnalysisParams, threads: bool = True) -> tuple[str, tuple[TrackPeaks, Fingerprint] | str, str]:
    """One worker's job: decode ``path`` to the analysis rate, find its reference peaks and
    pair and hash them (so the parent, which writes the index alone, has less to do after
    the workers). ``("ok", (TrackPeaks, Fingerprint), "")`` or ``("skip", message, reason)``;
    never raises for a bad file. ``threads``: the decoder's own threads (off when a worker
    runs per core)."""
    try:
        samples = decode_audio(path, sample_rate=params.sample_rate, max_seconds=MAX_REFERENCE_SECONDS, threads=threads)
    except DecodeError as exc:
        return "skip", str(exc), exc.reason
    tp = track_peaks(samples, params)
    return "ok", (tp, reference_fingerprint(tp, params)), ""


def _worker_count(requested: int | None, files: int) -> int:
    """Worker processes: as asked, else one per core this process may use; never more than files."""
    if requested is not None:
        return max(1, min(requested, files))
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, files))


def _fingerprints(files: list[Path], params: AnalysisParams, workers: int) -> Iterator[tuple[int, str, Any, str]]:
    """``(index into files, status, payload, reason)`` per file (:func:`_fingerprint_file`),
    in the order they finish. Workers are processes (decoding and peak finding hold the GIL
    most of the time); the largest files go first, so the build does not end with one
    worker on a long file while the others have nothing left to do."""
    if workers <= 1:
        for i, path in enumerate(files):
            yield (i, *_fingerprint_file(str(path), params))
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    def size(i: int) -> int:
        try:
            return files[i].stat().st_size
        except OSError:
            return 0

    # fork where there is one and this process runs no other thread (the command line): a worker
    # starts in milliseconds with the modules imported. A caller with threads (the local stack's
    # pollers, when the demo builds its catalogue) gets spawned workers: a fork copies locks
    # other threads may hold.
    import threading

    methods = multiprocessing.get_all_start_methods()
    forkable = "fork" in methods and threading.active_count() == 1
    ctx = multiprocessing.get_context("fork" if forkable else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        jobs = {pool.submit(_fingerprint_file, str(files[i]), params, False): i
                for i in sorted(range(len(files)), key=size, reverse=True)}
        for job in as_completed(jobs):
            yield (jobs[job], *job.result())


def cmd_catalog_build(args: argparse.Namespace) -> int:
    """Fingerprint every audio file under DIR (a worker process per core: decode to the analysis
    rate and find the reference peaks), then write the index with its self-match. Prints the
    build's speed: seconds of audio indexed / wall seconds from this function's start to the
    index written (listing, decoding, peaks, hashes, self-match, writing; Python's own
    start-up, about 0.2 s, is outside), the figure bench/build_speed.py reports."""
    wall0, cpu0 = time.perf_counter(), _cpu_seconds()
    root = Path(args.dir)
    if not root.is_dir():
        print(f"error: {root} is not a directory", file=sys.stderr)
        return 2
    out = Path(args.out)
    if out.exists() and any(out.iterdir()):
        print(f"error: {out} is not empty; an index version is written to a new directory", file=sys.stderr)
        return 2
    files = _candidate_files(root)
    params = DEFAULT_PARAMS
    workers = _worker_count(getattr(args, "workers", None), len(files))
    progress = _Progress(len(files))
    found: dict[int, tuple[TrackPeaks, Fingerprint]] = {}
    skipped = 0
    for done, (i, status, payload, reason) in enumerate(_fingerprints(files, params, workers), 1):
        path = files[i]
        if status != "ok":
            if progress.tty:
                progress.stream.write("\n")
            print(f"warning: skipping {path}: {payload} ({reason})", file=sys.stderr)
            skipped += 1
        else:
            found[i] = payload
        progress.update(done, path.name)
    progress.close()
    # in file order, whatever order the workers finished in: the same index for any worker count
    tracks = [BuildTrack(track_id_for(files[i].name), found[i][0], *_sidecar_fields(files[i]), fingerprint=found[i][1])
              for i in sorted(found)]
    if not tracks:
        print(f"error: no audio found under {root}", file=sys.stderr)
        return 1
    try:
        manifest, warnings = build_index(tracks, out, params, shard_count=args.shards)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    for w in warnings:
        print(f"warning: {w}", file=sys.stderr)
    skipped += len(warnings)
    wall, cpu = time.perf_counter() - wall0, _cpu_seconds() - cpu0
    cat = manifest["catalogue"]
    print(
        f"indexed {cat['track_count']} tracks ({cat['total_seconds'] / 3600:.2f} h, {cat['total_entries']} hashes) "
        f"into {len(manifest['shards'])} shard(s) at {out}; skipped {skipped}",
        file=sys.stderr,
    )
    print(
        f"build: {cat['total_seconds']:.0f} s of audio in {wall:.1f} s wall = {cat['total_seconds'] / max(wall, 1e-9):.0f}x "
        f"real time; {cpu:.1f} s CPU in all processes ({workers} worker(s))",
        file=sys.stderr,
    )
    _report_self_match(out)
    return 0


def _cpu_seconds() -> float:
    """CPU seconds (user + system) of this process and of its finished children (the workers)."""
    import resource

    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _report_self_match(index_dir: Path) -> None:
    """What the catalogue's self-match found, per track (stderr): versions of one recording
    and segments another track also holds (a partial match resting only on them is no case)."""
    tracks = json.loads((index_dir / "tracks.json").read_text())["tracks"]
    for t in tracks:
        if t.get("versions"):
            print(f"  {t['id']}: versions of one recording with {', '.join(t['versions'])}", file=sys.stderr)
        segs = t.get("shared_segments") or []
        if segs:
            shown = "; ".join(f"{s['start_s']:.1f}-{s['end_s']:.1f} s with {', '.join(s['with'])}" for s in segs[:5])
            more = f" (+{len(segs) - 5} more)" if len(segs) > 5 else ""
            print(f"  {t['id']}: shares {shown}{more}", file=sys.stderr)
        if t.get("exclusions"):
            ranges = "; ".join(f"{e['start_s']:.1f}-{e['end_s']:.1f} s" for e in t["exclusions"])
            print(f"  {t['id']}: excluded {ranges}", file=sys.stderr)


# --------------------------------------------------------------------------- catalog rebuild


def cmd_catalog_rebuild(args: argparse.Namespace) -> int:
    """Run the build state machine and print what it did (tracks, fingerprinted, reused, the
    published version). Exit 1 when the build fails."""
    from .index_build import BuildFailed, local_names, run_build, upload_references

    if args.state_machine:
        import boto3

        try:
            out = run_build(boto3.client("stepfunctions"), args.state_machine, timeout_s=args.timeout)
        except (BuildFailed, TimeoutError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        _print_build(out)
        return 0
    folder = Path(args.local)
    if not folder.is_dir():
        print(f"error: {folder} is not a directory", file=sys.stderr)
        return 2
    if args.out and Path(args.out).exists() and any(Path(args.out).iterdir()):
        print(f"error: {args.out} is not empty", file=sys.stderr)
        return 2
    from .cli import _quiet_logs
    from .runtime import LocalStack

    _quiet_logs(False)
    with LocalStack(args.env) as stack:
        bucket, arn = local_names(stack)
        count = upload_references(stack.client("s3"), bucket, folder)
        print(f"uploaded {count} reference file(s) to s3://{bucket}/ on the embedded stack", file=sys.stderr)
        try:
            out = run_build(stack.client("stepfunctions"), arn, timeout_s=args.timeout)
        except (BuildFailed, TimeoutError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        _print_build(out)
        if args.out:
            import shutil

            from takedown_adapters.aws import S3IndexStore

            with tempfile.TemporaryDirectory() as cache:
                got = S3IndexStore(stack.client("s3"), stack.catalog_bucket, cache).fetch(out["index"]["version"])
                shutil.copytree(got, args.out, dirs_exist_ok=True)
            print(f"index copied to {args.out}", file=sys.stderr)
    return 0


def _print_build(out: dict) -> None:
    idx = out.get("index") or {}
    print(f"published index version {idx.get('version')} ({idx.get('tracks')} tracks, {idx.get('seconds')} s, "
          f"{idx.get('shards')} shard(s); CURRENT was {idx.get('previous') or 'unset'})")
    if idx.get("missing_count") or idx.get("failed_count"):
        print(f"  left out: {idx.get('missing_count')} without peaks (changed during the build), "
              f"{idx.get('failed_count')} that do not decode: {', '.join(idx.get('failed') or [])}")
    for w in idx.get("warnings") or []:
        print(f"  warning: {w}")


# --------------------------------------------------------------------------- match


def cmd_catalog_publish(args: argparse.Namespace) -> int:
    """Publish with the default AWS credentials (a deployed stack's bucket): files first, the
    manifest last, then CURRENT, so a matcher never sees half a version."""
    import hashlib

    import boto3

    from takedown_adapters.aws import IndexVersionExists, S3IndexStore

    index = Path(args.index)
    try:
        Index.open(index, verify=True)
    except (IndexFormatError, OSError, ValueError, KeyError) as e:
        print(f"error: {index} is not a usable index: {e}", file=sys.stderr)
        return 2
    digest = hashlib.sha256((index / "manifest.json").read_bytes()).hexdigest()[:12]
    version = args.version or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime()) + f"-{digest}"
    if not version.replace("-", "").replace("_", "").replace(".", "").isalnum():
        print(f"error: version {version!r} must be letters, digits, '-', '_' or '.'", file=sys.stderr)
        return 2
    references = getattr(args, "references", None)
    if references and not getattr(args, "reference_bucket", None):
        print("error: --references needs --reference-bucket (the stack's ReferenceBucket output)", file=sys.stderr)
        return 2
    store = S3IndexStore(boto3.client("s3"), args.bucket)
    previous = store.current_version()
    try:
        sha = store.publish(index, version)
    except IndexVersionExists as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"published {index} as s3://{args.bucket}/{S3IndexStore.PREFIX}/{version}/ (manifest sha256 {sha[:16]}; "
          f"CURRENT was {previous or 'unset'})")
    if references:
        from .index_build import publish_reference_audio

        try:
            count = publish_reference_audio(boto3.client("s3"), args.reference_bucket, Path(references))
        except ValueError as e:
            print(f"error: reference audio not published: {e}", file=sys.stderr)
            return 2
        print(f"published {count} reference recording(s) for review clips to s3://{args.reference_bucket}/")
    return 0


def cmd_match(args: argparse.Namespace) -> int:
    try:
        index = Index.open(args.index)
    except Exception as exc:  # noqa: BLE001 - report any unreadable index as a usage error
        print(f"error: cannot open index {args.index}: {exc}", file=sys.stderr)
        return 2
    rows = []
    failures = 0
    for path in args.files:
        row: dict = {"file": path, "track_id": None, "offset_s": None, "score": 0.0, "kind": None, "share": None}
        try:
            # the workflow's decoding rules: a file with less than a second of audio is no
            # evidence (the workflow quarantines it as corrupt or too short), not a no-match
            samples = decode_audio(path, sample_rate=index.params.sample_rate, max_seconds=MAX_QUERY_SECONDS,
                                   min_seconds=MIN_QUERY_SECONDS)
            result = index.query(samples, max_false_match_rate=args.max_false_match_rate)
        except (DecodeError, OSError) as exc:
            failures += 1
            row["error"] = str(exc)
            row["reason"] = getattr(exc, "reason", "unreadable")
        else:
            row["score"] = round(result.score, 3)
            row["query_duration_s"] = round(result.query_duration_s, 3)
            if result.best:
                b = result.best
                row.update(
                    track_id=b.track_id,
                    offset_s=round(b.offset_s, 3),
                    false_match_rate=b.false_match_rate,
                    speed=round(b.speed, 4),
                    pitch_semitones=round(b.pitch_semitones, 3),
                    transform=b.transform,
                    matched_duration_s=round(b.matched_duration_s, 3),
                    aligned_hashes=b.aligned_hashes,
                    metadata=b.metadata,
                    others=[o.track_id for o in result.others],
                    kind=b.kind,
                    share=None if b.share is None else round(b.share, 4),
                    upload_span_s=[round(x, 3) for x in b.upload_span_s] if b.upload_span_s else None,
                    reference_span_s=[round(x, 3) for x in b.reference_span_s] if b.reference_span_s else None,
                    shared_with=list(b.shared_with),
                )
            if result.declined:
                row["declined"] = [{"track_id": m.track_id, "reason": m.declined_reason, "shared_with": list(m.shared_with),
                                    "score": round(m.score, 3)} for m in result.declined]
        rows.append(row)
        if args.jsonl:
            print(json.dumps(row), flush=True)
    if not args.jsonl:
        _print_table(rows)
    return 1 if failures and failures == len(rows) else 0


def _print_table(rows: list[dict]) -> None:
    headers = ["file", "track", "kind", "share", "offset s", "score", "speed", "pitch st", "note"]
    table = []
    for r in rows:
        table.append(
            [
                r["file"],
                r["track_id"] or "-",
                r.get("kind") or "-",
                "-" if r.get("share") is None else f"{r['share']:.0%}",
                "-" if r["offset_s"] is None else f"{r['offset_s']:.2f}",
                f"{r['score']:.1f}",
                "-" if "speed" not in r else f"{r['speed']:.3f}",
                "-" if "pitch_semitones" not in r else f"{r['pitch_semitones']:+.2f}",
                r.get("error", ", ".join(r.get("others", [])) and "also: " + ", ".join(r.get("others", []))),
            ]
        )
    widths = [max(len(h), *(len(str(row[i])) for row in table)) for i, h in enumerate(headers)]
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths)))
    for row in table:
        print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
