"""Bounded-time fuzzer for the upload decoder and the sidecar parser.

    .venv/bin/python -m bench.fuzz_decode --seconds 300 [--seed N] [--out DIR]

Contracts checked, for every input:

- ``takedown_core.audio.decode(source, sample_rate=11025, ...)`` returns a ``DecodedAudio``
  (mono float32, finite, at most ``max_seconds`` long, its report consistent with it) or
  raises ``DecodeError``; nothing else. It never hangs: each call runs in a worker process
  under a timeout (a hang, or ffmpeg killing the process with a signal, is a finding and the
  worker is replaced). Memory stays bounded: each call's own peak RSS (the kernel's VmHWM,
  reset before the call) may not pass MEMORY_BASE_MB plus 4x the samples it returned.
- ``takedown_core.sidecar.parse_sidecar(raw, platforms=...)`` returns a dict or raises
  ``SidecarError`` (a ValueError); nothing else, and within the timeout.

Inputs: small valid media in several containers and codecs, written from synthetic music
with ``takedown_local.media`` (nothing downloaded), then mutated by programs that hypothesis
draws (and shrinks when one fails): bit flips, truncation, splicing two files of different
formats, garbage inserted or written over, header fields (sizes, counts, offsets near the
containers' markers) set to boundary values, spans repeated. Sidecars: JSON documents with
the known fields and hostile values (odd URLs, ports, unicode, huge strings, wrong types),
other JSON, and raw bytes.

Every distinct failure is saved (``--out``, default ``~/.cache/takedown-bench/fuzz``) as the
input bytes plus a JSON note of the call, and printed; the exit status is 1 when any was
found. The run prints how many inputs each target ran and what they gave.
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing as mp
import os
import resource
import struct
import sys
import tempfile
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

CALL_TIMEOUT_S = 10.0  # a 2 s clip decodes in ~5 ms; anything near this is a hang
# Memory: a call's peak RSS may not exceed a fixed base (the interpreter, numpy and PyAV take
# ~100 MB; a 2 s clip's decode adds a few) plus 4x the samples it returned. decode() holds
# what it decoded (up to max_seconds) and joins it once at the end (2x); without a cap a tiny
# file can legitimately decode to hours (repeated FLAC frames of silence: 2.4 h from 200 KB),
# so the bound is on the overhead, not the output.
MEMORY_BASE_MB = 512
MEMORY_PER_OUTPUT = 4
ADDRESS_SPACE_LIMIT = 8 << 30  # a safety net so a runaway allocation fails, not the machine
SAMPLE_RATE = 11025
CLIP_S = 2.0

# --------------------------------------------------------------------------- worker


def _rss_mb() -> tuple[float, float]:
    """(current, peak since the last _reset_peak) resident set size of this process in MB."""
    fields = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024
    return fields["VmRSS"], fields["VmHWM"]


def _reset_peak() -> None:
    """Restart the kernel's peak-RSS count (VmHWM), so each call's own peak is measured."""
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        pass  # then the peak is the process's lifetime peak: an overestimate, still a bound


def _check_decoded(out, max_seconds: float | None) -> str | None:
    """What is wrong with a returned decode, if anything."""
    import numpy as np

    from takedown_core.audio import DecodedAudio, DecodeReport

    if not isinstance(out, DecodedAudio) or not isinstance(out.report, DecodeReport):
        return f"returned {type(out).__name__}"
    x, r = out.samples, out.report
    if not isinstance(x, np.ndarray) or x.dtype != np.float32 or x.ndim != 1:
        return f"samples are {type(x).__name__} {getattr(x, 'dtype', '')} {getattr(x, 'shape', '')}"
    if x.size == 0:
        return "returned zero samples instead of raising"
    if not np.isfinite(x).all():
        return "samples are not finite"
    if max_seconds is not None and x.size > round(max_seconds * SAMPLE_RATE):
        return f"{x.size} samples exceed the cap"
    if abs(r.decoded_s - x.size / SAMPLE_RATE) > 1e-6:
        return "report.decoded_s disagrees with the samples"
    if r.bad_packets > r.packets or r.downmix not in ("mono", "sum", "difference", "mixed"):
        return f"inconsistent report {r.to_dict()}"
    json.dumps(r.to_dict())
    r.describe()
    return None


def _run_one(job: tuple) -> tuple[str, str]:
    kind = job[0]
    if kind == "decode":
        _, data, as_path, max_seconds, min_seconds = job
        from takedown_core.audio import DecodeError, decode

        path = None
        try:
            if as_path:
                fd, path = tempfile.mkstemp(suffix=".upload")
                with os.fdopen(fd, "wb") as fh:
                    fh.write(data)
                source: Any = path
            else:
                source = io.BytesIO(data)
            try:
                out = decode(source, sample_rate=SAMPLE_RATE, max_seconds=max_seconds, min_seconds=min_seconds)
            except DecodeError as exc:
                out_mb = exc.report.decoded_s * SAMPLE_RATE * 4 / 2**20 if exc.report else 0.0
                if exc.reason not in ("not_audio", "empty", "corrupt", "too_short") or not str(exc):
                    return "bad", f"DecodeError with reason {exc.reason!r}: {exc}", out_mb
                return f"DecodeError:{exc.reason}", "", out_mb
            problem = _check_decoded(out, max_seconds)
            out_mb = out.samples.nbytes / 2**20
            return ("bad", problem, out_mb) if problem else ("ok", out.report.downmix, out_mb)
        finally:
            if path:
                os.unlink(path)
    if kind == "sidecar":
        _, raw, platforms = job
        from takedown_core.sidecar import SidecarError, parse_sidecar

        try:
            out = parse_sidecar(raw, platforms=platforms)
        except SidecarError as exc:
            return "SidecarError", str(exc)[:80], 0.0
        if not isinstance(out, dict):
            return "bad", f"returned {type(out).__name__}", 0.0
        return "dict", "", 0.0
    raise ValueError(kind)


def _worker(conn) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))
    import av  # noqa: F401 - imported once, before the first timed call

    import takedown_core.audio  # noqa: F401
    import takedown_core.sidecar  # noqa: F401

    conn.send(("ready", "", 0.0, *_rss_mb()))
    while True:
        job = conn.recv()
        if job is None:
            return
        _reset_peak()
        try:
            status, detail, out_mb = _run_one(job)
        except BaseException as exc:  # the contract's breach: report it, keep serving
            tb = traceback.extract_tb(exc.__traceback__)
            where = f"{Path(tb[-1].filename).name}:{tb[-1].lineno}" if tb else "?"
            status, detail, out_mb = "exception", f"{type(exc).__name__} at {where}: {exc}"[:300], 0.0
        conn.send((status, detail, out_mb, *_rss_mb()))


class Worker:
    """One decoding process; replaced after a timeout or a crash."""

    def __init__(self) -> None:
        self.ctx = mp.get_context("spawn")
        self.proc = None
        self.conn = None
        self.start_rss = self.peak_rss = self.last_jump = self.last_rss = self.peak_overhead = 0.0
        self.restarts = -1
        self._start()

    def _start(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.join()
        self.conn, child = self.ctx.Pipe()
        self.proc = self.ctx.Process(target=_worker, args=(child,), daemon=True)
        self.proc.start()
        child.close()
        if not self.conn.poll(120):
            raise RuntimeError("the fuzz worker did not start")
        _, _, _, current, peak = self.conn.recv()
        self.start_rss = self.start_rss or current
        self.restarts += 1

    def call(self, job: tuple) -> tuple[str, str]:
        try:
            self.conn.send(job)
            if self.conn.poll(CALL_TIMEOUT_S):
                status, detail, out_mb, current, peak = self.conn.recv()
                self.last_jump = peak - self.peak_rss if peak > self.peak_rss else 0.0
                self.peak_rss = max(self.peak_rss, peak)
                self.peak_overhead = max(self.peak_overhead, peak - MEMORY_PER_OUTPUT * out_mb)
                self.last_rss = current
                if peak > MEMORY_BASE_MB + MEMORY_PER_OUTPUT * out_mb:
                    self._start()  # a fresh process, so this input's heap does not weigh on the next
                    return "memory", f"peak RSS {peak:.0f} MB for {out_mb:.0f} MB of samples"
                return status, detail
            self._start()
            return "timeout", f"no answer in {CALL_TIMEOUT_S:g} s"
        except (EOFError, BrokenPipeError, ConnectionResetError, OSError):
            code = self.proc.exitcode if self.proc is not None else None
            self._start()
            return "crash", f"the worker died (exit code {code})"

    def close(self) -> None:
        try:
            self.conn.send(None)
            self.proc.join(5)
        except (BrokenPipeError, OSError):
            pass
        if self.proc.is_alive():
            self.proc.kill()


# --------------------------------------------------------------------------- seeds


def make_seeds() -> dict[str, bytes]:
    """Small valid media files (2 s of synthetic music), by name."""
    import numpy as np

    from takedown_local.media import synth_track, write_audio, write_silence

    x = synth_track(101, CLIP_S, 22050)
    y = synth_track(102, CLIP_S, 22050)
    seeds: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as tmp:
        d = Path(tmp)
        for fmt in ("wav", "flac", "mp3", "ogg", "opus", "m4a", "webm", "mp4", "mkv"):
            seeds[fmt] = write_audio(d / f"a.{fmt}", x, 22050).read_bytes()
        seeds["m4a-faststart"] = write_audio(d / "fs.m4a", x, 22050, faststart=True).read_bytes()
        seeds["mp3-stereo"] = write_audio(d / "s.mp3", np.stack([x, 0.6 * y + 0.5 * x]), 22050).read_bytes()
        seeds["m4a-inverted"] = write_audio(d / "i.m4a", np.stack([x, -x]), 22050).read_bytes()
        seeds["wav-stereo"] = write_audio(d / "s.wav", np.stack([x, y]), 22050).read_bytes()
        seeds["mp3-joined-48k"] = (
            seeds["mp3"] + write_audio(d / "b.mp3", synth_track(103, CLIP_S, 48000), 48000).read_bytes()
        )
        seeds["flac-silence-10min"] = write_silence(d / "sil.flac", 600.0).read_bytes()
    return seeds


# Markers whose neighbourhood holds sizes, counts and offsets worth corrupting.
_MARKERS = (
    b"RIFF", b"fmt ", b"data", b"fLaC", b"OggS", b"OpusHead", b"\x01vorbis", b"Xing", b"Info", b"ID3",
    b"ftyp", b"moov", b"mvhd", b"trak", b"mdhd", b"stsd", b"stts", b"stsc", b"stsz", b"stco", b"mdat", b"esds",
    b"\x1a\x45\xdf\xa3", b"\x18\x53\x80\x67", b"\x1f\x43\xb6\x75", b"\x16\x54\xae\x6b", b"\x44\x89",
)


def field_offsets(data: bytes) -> list[int]:
    """Offsets of header fields: the first 64 bytes, and 32 bytes after each marker."""
    offsets = set(range(0, min(64, len(data))))
    for marker in _MARKERS:
        start = 0
        for _ in range(40):
            at = data.find(marker, start)
            if at < 0:
                break
            offsets.update(o for o in range(max(0, at - 8), at + len(marker) + 32) if o < len(data))
            start = at + 1
    return sorted(offsets)


_BOUNDARY = (0, 1, 2, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x10000, 0x20000000, 0x7FFFFFFF,
             0x80000000, 0xFFFFFFFE, 0xFFFFFFFF)


def mutate(seeds: dict[str, bytes], offsets: dict[str, list[int]], name: str, program: list[tuple]) -> bytes:
    """Apply a mutation program (see ``mutation_strategy``) to seed ``name``."""
    data = bytearray(seeds[name])
    for step in program:
        op, n = step[0], len(data)
        if n == 0:
            break

        def at(frac: float) -> int:
            return min(n - 1, int(frac * n))

        if op == "flip":
            for frac, bit in step[1]:
                data[at(frac)] ^= 1 << bit
        elif op == "truncate":
            del data[max(1, int(step[1] * n)) :]
        elif op == "garbage":
            _, frac, junk, insert = step
            i = at(frac)
            if insert:
                data[i:i] = junk
            else:
                data[i : i + len(junk)] = junk
        elif op == "splice":
            _, other, frac_a, frac_b = step
            tail = seeds[other]
            data = data[: at(frac_a)] + tail[int(frac_b * len(tail)) :]
        elif op == "field":
            _, index, value, fmt = step
            places = [o for o in offsets[name] if o < n] or [0]
            i = places[index % len(places)]
            width = struct.calcsize(fmt)
            if i + width <= n:
                struct.pack_into(fmt, data, i, value & ((1 << (8 * width)) - 1))
        elif op == "repeat":
            _, frac_a, length_frac, times = step
            i = at(frac_a)
            span = bytes(data[i : i + max(1, int(length_frac * n))])
            data[i:i] = span * times
    return bytes(data)


# --------------------------------------------------------------------------- strategies


def decode_strategy(seed_names: list[str]):
    from hypothesis import strategies as st

    frac = st.floats(0.0, 1.0, allow_nan=False)
    junk = st.one_of(
        st.binary(min_size=1, max_size=4096),
        st.builds(lambda b, k: b * k, st.binary(min_size=1, max_size=8), st.integers(1, 512)),
        st.sampled_from([b"\xff\xfb", b"OggS", b"ID3\x04\x00\x00\x00\x00\x00\x00", b"fLaC", b"\x00" * 4096]),
    )
    mutation = st.one_of(
        st.tuples(st.just("flip"), st.lists(st.tuples(frac, st.integers(0, 7)), min_size=1, max_size=64)),
        st.tuples(st.just("truncate"), frac),
        st.tuples(st.just("garbage"), frac, junk, st.booleans()),
        st.tuples(st.just("splice"), st.sampled_from(seed_names), frac, frac),
        st.tuples(
            st.just("field"),
            st.integers(0, 10_000),
            st.one_of(st.sampled_from(_BOUNDARY), st.integers(0, 0xFFFFFFFF)),
            st.sampled_from([">I", "<I", ">H", "<H", "B"]),
        ),
        st.tuples(st.just("repeat"), frac, st.floats(0.0, 0.2), st.integers(2, 40)),
    )
    return st.tuples(
        st.sampled_from(seed_names),
        st.lists(mutation, min_size=1, max_size=4),
        st.booleans(),  # source: a path (True) or a file object
        # max_seconds: what callers pass (ingest caps at limits.max_audio_seconds, at most 900 s).
        # Uncapped, a tiny file can legitimately expand to hours (repeated FLAC frames of
        # silence), and decoding hours takes longer than any per-call timeout: work, not a hang.
        st.sampled_from([1.0, 30.0, 900.0]),
        st.sampled_from([None, 1.0]),  # min_seconds
    )


def sidecar_strategy():
    from hypothesis import strategies as st

    fields = ["source_url", "platform", "uploader", "title", "partner_ref", "territory"]
    hosts = st.sampled_from(
        ["www.youtube.com", "[::1]", "[", "]", "[::1", "a@b", "user:pw@host", "xn--n3h.com", "例え.テスト", "%zz",
         "", " ", "h" * 300, "host:80", "127.0.0.1", "[fe80::1%25eth0]", "-", ".", "a..b"]
    )
    ports = st.sampled_from(["", ":", ":0", ":80", ":65535", ":65536", ":99999999999999999999", ":-1", ":abc",
                             ": 80", ":8O", ":+80", ":\u0661\u0662"])
    urls = st.one_of(
        st.builds(
            lambda scheme, host, port, path: f"{scheme}://{host}{port}{path}",
            st.sampled_from(["http", "https", "HTTP", "ftp", "javascript", "", "https:", "h\u0074tps"]),
            hosts,
            ports,
            st.text(max_size=30),
        ),
        st.text(max_size=200),
    )
    value = st.one_of(
        st.text(max_size=50),
        st.text(min_size=2000, max_size=2100),
        urls,
        st.none(),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.booleans(),
        st.lists(st.text(max_size=5), max_size=3),
        st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
    )
    known = st.dictionaries(st.sampled_from(fields), value, max_size=len(fields))
    json_val = st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
        lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
        max_leaves=12,
    )

    def encode(doc, how: str) -> bytes:
        text = json.dumps(doc, ensure_ascii=(how == "ascii"), allow_nan=True)
        if how == "utf-16":
            return text.encode("utf-16")
        if how == "bom":
            return b"\xef\xbb\xbf" + text.encode("utf-8")
        return text.encode("utf-8", "surrogatepass")

    docs = st.builds(encode, st.one_of(known, json_val), st.sampled_from(["utf-8", "ascii", "utf-16", "bom"]))
    raw = st.one_of(docs, st.binary(max_size=300), st.binary(min_size=65_000, max_size=66_000))
    platforms = st.one_of(st.none(), st.just({"youtube", "tiktok", "soundcloud"}), st.sets(st.text(max_size=8), max_size=3))
    return st.tuples(raw, platforms)


# --------------------------------------------------------------------------- the run


class Fuzzer:
    def __init__(self, out: Path, seed: int) -> None:
        self.out, self.seed = out, seed
        self.worker = Worker()
        self.seeds = make_seeds()
        self.offsets = {name: field_offsets(data) for name, data in self.seeds.items()}
        self.counts: dict[str, Counter] = {"decode": Counter(), "sidecar": Counter()}
        self.by_seed: Counter = Counter()
        self.known: set[tuple] = set()  # failure signatures reported in earlier rounds
        self.new_this_round: set[tuple] = set()
        self.failures: dict[tuple, dict] = {}
        self.memory_jumps: list[tuple] = []  # (peak MB, rise MB, input bytes, note): inputs that raised the peak

    def _record(self, target: str, status: str, detail: str, payload: bytes, note: dict) -> bool:
        """Count one result; True when it breaks the contract and should fail the example."""
        self.counts[target][status] += 1
        if status not in ("bad", "exception", "timeout", "crash", "memory"):
            return False
        signature = (target, status, detail.split(":")[0][:80])
        if signature in self.known:
            return False
        self.new_this_round.add(signature)
        entry = self.failures.setdefault(signature, {"count": 0})
        entry["count"] += 1
        if "size" not in entry or len(payload) <= entry["size"]:
            stem = f"{target}-{status}-{len(self.failures)}"
            path = self.out / f"{stem}.bin"
            self.out.mkdir(parents=True, exist_ok=True)
            path.write_bytes(payload)
            (self.out / f"{stem}.json").write_text(json.dumps({**note, "status": status, "detail": detail}, default=str))
            entry.update(size=len(payload), path=str(path), detail=detail, note=note)
        return True

    def decode_round(self, examples: int, round_no: int) -> None:
        from hypothesis import HealthCheck, Phase, given, seed, settings

        names = sorted(self.seeds)

        @seed(self.seed * 100_003 + round_no)
        @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
                  suppress_health_check=list(HealthCheck), phases=[Phase.generate, Phase.shrink], report_multiple_bugs=False)
        @given(decode_strategy(names))
        def run(case):
            name, program, as_path, max_seconds, min_seconds = case
            data = mutate(self.seeds, self.offsets, name, program)
            self.by_seed[name] += 1
            status, detail = self.worker.call(("decode", data, as_path, max_seconds, min_seconds))
            note = {"seed": name, "program": program, "as_path": as_path, "max_seconds": max_seconds,
                    "min_seconds": min_seconds}
            if self.worker.last_jump > 32 and self.worker.peak_rss > 200:
                self.memory_jumps.append((round(self.worker.peak_rss), round(self.worker.last_jump), len(data), note))
            if self._record("decode", status, detail, data, note):
                raise AssertionError(f"decode: {status}: {detail}")

        self._round(run)

    def sidecar_round(self, examples: int, round_no: int) -> None:
        from hypothesis import HealthCheck, Phase, given, seed, settings

        @seed(self.seed * 100_019 + round_no)
        @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck),
                  phases=[Phase.generate, Phase.shrink], report_multiple_bugs=False)
        @given(sidecar_strategy())
        def run(case):
            raw, platforms = case
            status, detail = self.worker.call(("sidecar", raw, platforms))
            note = {"platforms": sorted(platforms) if platforms is not None else None}
            if self._record("sidecar", status, detail, raw, note):
                raise AssertionError(f"sidecar: {status}: {detail}")

        self._round(run)

    def _round(self, run) -> None:
        self.new_this_round = set()
        try:
            run()
        except Exception:  # noqa: BLE001 - hypothesis's own verdicts (a failure, a flaky one)
            pass  # recorded (and shrunk) in _record; later rounds look for other failures
        self.known |= self.new_this_round

    def close(self) -> None:
        self.worker.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300.0, help="how long to run (default 300)")
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000, help="hypothesis seed")
    parser.add_argument("--sidecar-share", type=float, default=0.2, help="share of the time for the sidecar parser")
    parser.add_argument("--out", type=Path, default=Path.home() / ".cache" / "takedown-bench" / "fuzz")
    args = parser.parse_args(argv)

    started = time.monotonic()
    fuzzer = Fuzzer(args.out, args.seed)
    setup_s = time.monotonic() - started
    deadline = started + args.seconds
    sidecar_until = started + setup_s + (args.seconds - setup_s) * args.sidecar_share
    round_no = 0
    print(f"fuzz_decode: seed {args.seed}, {len(fuzzer.seeds)} seed files, {args.seconds:g} s", flush=True)
    try:
        while time.monotonic() < deadline:
            round_no += 1
            if time.monotonic() < sidecar_until:
                fuzzer.sidecar_round(500, round_no)
            else:
                fuzzer.decode_round(100, round_no)
    finally:
        fuzzer.close()
    elapsed = time.monotonic() - started

    def line(target: str) -> str:
        c = fuzzer.counts[target]
        return f"{sum(c.values()):,} inputs: " + ", ".join(f"{k} {v:,}" for k, v in c.most_common())

    print(f"ran {elapsed:.0f} s, {round_no} rounds")
    print(f"decode:  {line('decode')}")
    print(f"sidecar: {line('sidecar')}")
    print("decode inputs by seed file: " + ", ".join(f"{k} {v:,}" for k, v in sorted(fuzzer.by_seed.items())))
    w = fuzzer.worker
    print(f"worker: largest peak RSS of one call {w.peak_rss:.0f} MB; largest peak less {MEMORY_PER_OUTPUT}x its "
          f"output {w.peak_overhead:.0f} MB (limit {MEMORY_BASE_MB} MB); resident {w.start_rss:.0f} MB at start, "
          f"{w.last_rss:.0f} MB after the last call; replaced {w.restarts} times")
    for peak, rise, size, note in fuzzer.memory_jumps[-5:]:
        print(f"  peak rose {rise} MB to {peak} MB on a {size:,}-byte input: {json.dumps(note, default=str)[:300]}")
    if not fuzzer.failures:
        print("failures: none")
        return 0
    print(f"failures: {len(fuzzer.failures)} distinct")
    for (target, status, _), entry in fuzzer.failures.items():
        print(f"- {target} {status} (seen {entry['count']}x): {entry['detail']}\n  smallest input: {entry['path']} "
              f"({entry['size']:,} bytes) {json.dumps(entry['note'], default=str)[:300]}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
