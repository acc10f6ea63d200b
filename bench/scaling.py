"""Beyond the catalogues the benchmark builds (issue 16): one shard function's full shards,
measured as the deployed stack runs them, and the projection to a label-sized catalogue.

The fingerprint function decodes an upload and extracts its query fingerprint once; each
group of ``SHARDS_PER_FUNCTION`` shards is searched by one shard-function invocation
(``takedown_core.matching.FanOutMatcher`` -> ``answer_shard``) and the answers are merged
(``merge_results``). So a query against N tracks costs

    extraction + shards(N) x (search of one full shard + its request/answer JSON) + merge

CPU seconds, where shards(N) = ceil(N x entries per track / MAX_ENTRIES_PER_SHARD): the index
writer fills shards up to MAX_ENTRIES_PER_SHARD, 48 M entries (384 MB of arrays) each, long
before track_bits' 16,384 tracks (a 3-minute track has ~13,000 entries). Every term is
measured here on a built index of two such shards (``measure_shards``): each shard is opened
alone, as the shard function opens it (a shard of a larger catalogue: the engine's subset
rule, e.g. the second, dense search, applies), and the two answers are merged.

``cold_start`` publishes that index to S3 (moto's server on the loopback, in its own process)
and times, in a fresh process, what a new shard-function container does before it answers:
download its shards (and the manifest and track list) with ``S3IndexStore.fetch``, open them
memory-mapped, answer the first query. S3's speed inside AWS is not a loopback's, so the
download is also projected from AWS's guidance (``S3_MB_PER_S_PER_REQUEST``).

``project`` turns those figures into the 100,000-track row; ``bench/cost.py`` prices it.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from takedown_core.engine import Index
from takedown_core.engine.index import MAX_ENTRIES_PER_SHARD
from takedown_core.engine.wire import query_to_wire

ROOT = Path(__file__).resolve().parents[1]
# AWS, "Performance design patterns for Amazon S3" (S3 User Guide, "Horizontal scaling and
# request parallelization"): "make one concurrent request for each 85-90 MB/s of desired
# network throughput", byte ranges of 8-16 MB. AWS documents no per-prefix byte rate (only
# 5,500 GET/HEAD requests per second per partitioned prefix, far above a cold start's
# dozens), nor a Lambda function's network bandwidth; so the projection takes 85 MB/s per
# request, for one request at a time (the slow bound) and for boto3's default 10 concurrent
# 8 MB ranges (download_file's TransferConfig; the fast bound, if the function's network
# carries 850 MB/s).
S3_MB_PER_S_PER_REQUEST = 85.0
BOTO3_CONCURRENCY = 10
BOTO3_CHUNK_BYTES = 8 * 1024 * 1024
SHARDS_PER_FUNCTION = 2  # cdk.json's match.shards_per_function in every environment


def cdk_shards_per_function() -> int:
    """match.shards_per_function of the first cdk.json environment that sets it (the deployed
    fan-out group size); SHARDS_PER_FUNCTION when none does."""
    try:
        ctx = json.loads((ROOT / "cdk.json").read_text()).get("context", {})
    except (OSError, ValueError):
        return SHARDS_PER_FUNCTION
    for env in (ctx.get("environments") or {}).values():
        spf = (env.get("match") or {}).get("shards_per_function")
        if spf:
            return int(spf)
    return SHARDS_PER_FUNCTION


def tracks_for_shards(entries: list[int], shards: int = 2, cap: int = MAX_ENTRIES_PER_SHARD) -> int:
    """How many of the tracks (in order, with ``entries`` each) fill ``shards`` full shards:
    the longest prefix whose entries stay within ``shards x cap`` (the writer then balances
    them into exactly ``shards`` shards of nearly ``cap`` each)."""
    total, n = 0, 0
    for e in entries:
        if total + e > shards * cap:
            break
        total += e
        n += 1
    return n


def _proc_status_mb(*fields: str) -> dict[str, float]:
    """``fields`` of this process's /proc/self/status (kB there), in MB; the ones missing, or
    all where /proc is missing, left out."""
    try:
        lines = Path("/proc/self/status").read_text().splitlines()
    except OSError:
        return {}
    return {f[0].rstrip(":"): int(f[1]) / 1024 for f in (line.split() for line in lines) if f and f[0].rstrip(":") in fields}


def peak_rss_mb() -> float:
    """Peak resident memory of this process, MB (the kernel's VmHWM: reset at exec, unlike
    ru_maxrss, which a spawned process inherits from its parent's fork); ru_maxrss where
    /proc is missing."""
    hwm = _proc_status_mb("VmHWM").get("VmHWM")
    if hwm is not None:
        return hwm
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _entry_files(entry: dict) -> list[str]:
    """The data files a shard's manifest entry names (nested parts too)."""
    out: list[str] = []
    for v in entry.values():
        if isinstance(v, str) and v.endswith(".npy"):
            out.append(v)
        elif isinstance(v, dict):
            out.extend(_entry_files(v))
    return out


def _stats(xs: list[float]) -> dict:
    a = np.asarray(xs, dtype=float) * 1000
    return {"median_ms": float(np.median(a)), "p95_ms": float(np.percentile(a, 95)), "mean_ms": float(a.mean()), "n": int(a.size)}


def _shard_costs(index_dir: str, queries: list[np.ndarray], rate: float) -> dict:
    """In a fresh process: per query, the fingerprint function's extraction, each shard's
    search as the shard function answers it (JSON in, ``answer_shard``, JSON out; that
    thread's CPU time) and the rest of the fan-out (requests, the merges), driven by the
    deployed ``matching.FanOutMatcher`` with one shard per group: the first search
    everywhere, the second only when the merge holds no copy. A shard's search is both
    rounds' time."""
    from takedown_core.matching import FanOutMatcher, answer_shard

    head = Index.open(index_dir, shards=[])
    count = len(head.manifest["shards"])
    parts = [Index.open(index_dir, shards=[s]) for s in range(count)]
    spent = [0.0] * count

    def invoke(request: dict) -> dict:
        t0 = time.thread_time()  # the pool searches the shards in parallel threads
        (shard,) = request["shards"]
        answer = json.loads(json.dumps(answer_shard(parts[shard], json.loads(json.dumps(request)))))
        spent[shard] += time.thread_time() - t0
        return answer

    fan = FanOutMatcher(head, "bench", groups=[[s] for s in range(count)], search=invoke, max_seconds=900,
                        max_false_match_rate=rate)
    extract, search, merge, total = [], [], [], []
    found = second_rounds = 0
    for y in queries:
        t0 = time.process_time()
        fp = head.fingerprint(y)
        extract.append(time.process_time() - t0)
        spent[:] = [0.0] * count
        t0 = time.process_time()
        result, invocations = fan.search_fingerprint(fp)
        rest = time.process_time() - t0 - sum(spent)
        search.extend(spent)
        merge.append(max(0.0, rest))
        total.append(extract[-1] + sum(spent) + merge[-1])
        found += result.best is not None
        second_rounds += invocations > count
    return {"extract": extract, "search": search, "merge": merge, "total": total, "answered": found, "shards": count,
            "second_rounds": second_rounds, "seconds": float(np.mean([y.size for y in queries])) / head.params.sample_rate,
            "rss_mb": peak_rss_mb()}


def fan_out_cpu(index_dir: Path, queries: list[np.ndarray], rate: float) -> dict:
    """CPU (process time) of each query as the deployed fan-out spends it on ``index_dir``,
    every shard searched alone as a shard function does: extraction + every shard's search
    (JSON in and out) + the merge; median and p95 over the queries, in a fresh process."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as ex:
        r = ex.submit(_shard_costs, str(index_dir), queries, rate).result()
    return {"total": _stats(r["total"]), "extract": _stats(r["extract"]), "shard_search": _stats(r["search"]),
            "merge": _stats(r["merge"]), "shards": r["shards"]}


def measure_shards(index_dir: Path, queries: list[np.ndarray], uploads: list[np.ndarray], rate: float) -> dict:
    """CPU (process time) of a 10 s query and of a whole upload against each full shard of
    ``index_dir``, split into extraction, one shard's search and the merge; and the peak RSS
    of a process holding every shard. Each runs in a fresh (spawned) process."""
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(1, mp_context=ctx) as ex:
        q = ex.submit(_shard_costs, str(index_dir), queries, rate).result()
    with ProcessPoolExecutor(1, mp_context=ctx) as ex:
        u = ex.submit(_shard_costs, str(index_dir), uploads, rate).result()
    manifest = json.loads((index_dir / "manifest.json").read_text())
    return {
        "shards": q["shards"],
        "entries_per_shard": [s["entries"] for s in manifest["shards"]],
        "tracks_per_shard": [s["track_count"] for s in manifest["shards"]],
        "seconds_per_shard": manifest["catalogue"]["total_seconds"] / q["shards"],
        "shard_mb": [sum((index_dir / f).stat().st_size for f in _entry_files(s)) / 1e6 for s in manifest["shards"]],
        "tracks_json_bytes": (index_dir / manifest["tracks_file"]).stat().st_size,
        "track_count": manifest["catalogue"]["track_count"],
        "query_10s": {"queries": len(queries), "extract": _stats(q["extract"]), "shard_search": _stats(q["search"]), "merge_2": _stats(q["merge"]),
                      "answered": q["answered"], "second_rounds": q["second_rounds"]},
        "upload": {"seconds": u["seconds"], "uploads": len(uploads), "extract": _stats(u["extract"]), "shard_search": _stats(u["search"]), "merge_2": _stats(u["merge"]),
                   "second_rounds": u["second_rounds"]},
        "rss_mb_all_shards": q["rss_mb"],
    }


# --------------------------------------------------------------------------- cold start


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cold(endpoint: str, bucket: str, version: str, digest: str, shards: list[int], request: str, cache: str,
          upload_request: str | None = None) -> dict:
    """A new shard-function container: client, fetch (download + sha256 check), open, first
    answer. Wall and process time of each step, GET requests sent, bytes downloaded, peak
    RSS; then (``upload_request``) both rounds of a whole upload, its CPU and the memory it
    takes (``upload``)."""
    t_start, c_start = time.perf_counter(), time.process_time()
    import boto3

    from takedown_adapters.aws import S3IndexStore
    from takedown_core.matching import answer_shard

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id="testing", aws_secret_access_key="testing")
    gets = []
    s3.meta.events.register("before-send.s3.GetObject", lambda request, **_: gets.append(request.headers.get("Range")))
    store = S3IndexStore(s3, bucket, cache_dir=cache)
    marks = {"init": (time.perf_counter() - t_start, time.process_time() - c_start)}
    t0, c0 = time.perf_counter(), time.process_time()
    d = store.fetch(version, shards, digest=digest)
    marks["download"] = (time.perf_counter() - t0, time.process_time() - c0)
    t0, c0 = time.perf_counter(), time.process_time()
    index = Index.open(d, mmap=True, shards=shards)
    marks["open"] = (time.perf_counter() - t0, time.process_time() - c0)
    t0, c0 = time.perf_counter(), time.process_time()
    json.dumps(answer_shard(index, json.loads(request)))
    marks["first_query"] = (time.perf_counter() - t0, time.process_time() - c0)
    t0, c0 = time.perf_counter(), time.process_time()
    json.dumps(answer_shard(index, json.loads(request)))
    marks["second_query"] = (time.perf_counter() - t0, time.process_time() - c0)
    files = [p for p in Path(d).iterdir() if p.is_file()]
    out = {"steps": {k: {"wall_s": w, "cpu_s": c} for k, (w, c) in marks.items()},
           "downloaded_bytes": sum(p.stat().st_size for p in files), "files": len(files),
           "get_requests": len(gets), "rss_mb": peak_rss_mb()}
    if upload_request is not None:
        # then a whole upload through both rounds, as the fan-out asks when no shard holds a copy
        c0 = time.process_time()
        for search in ("first", "second"):
            json.dumps(answer_shard(index, {**json.loads(upload_request), "search": search}))
        out["upload"] = {"cpu_s": time.process_time() - c0, "rss_mb": peak_rss_mb(), **rss_kinds_mb()}
    return out


def rss_kinds_mb() -> dict:
    """This process's resident memory now, MB, by kind (/proc/self/status): ``anon_mb``
    (the heap: what the search allocates, kept by glibc under the deployed GLIBC_TUNABLES, so
    about its peak) and ``file_mb`` (pages of memory-mapped files: the index's arrays, which
    the kernel can drop and read again). Empty where /proc is missing."""
    now = _proc_status_mb("RssAnon", "RssFile")
    return {name: now[field] for field, name in (("RssAnon", "anon_mb"), ("RssFile", "file_mb")) if field in now}


def cold_start(index_dir: Path, shards: list[int], query: np.ndarray, rate: float, upload: np.ndarray | None = None) -> dict:
    """Publish ``index_dir`` to S3 (a moto server on the loopback, its own process), then time
    a new container's cold start in a fresh process: its download of ``shards`` with the
    manifest and track list, the open, the first answer (``query``: a 10 s excerpt). Adds the
    download projected at S3's documented per-request rate (module docstring). With
    ``upload`` (samples), the same container then searches it, both rounds, and reports its
    memory (``upload``), against the function's configured memory."""
    import boto3

    from takedown_adapters.aws import S3IndexStore

    port = _free_port()
    server = subprocess.Popen([sys.executable, "-c", "import sys; from moto.server import main; main(sys.argv[1:])",
                               "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cache = Path(tempfile.mkdtemp(prefix="takedown-cold-"))
    try:
        endpoint = f"http://127.0.0.1:{port}"
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
        for _ in range(100):
            try:
                s3.list_buckets()
                break
            except Exception:  # noqa: BLE001 - the server is starting
                time.sleep(0.1)
        s3.create_bucket(Bucket="catalogue")
        digest = S3IndexStore(s3, "catalogue").publish(index_dir, "bench")
        head = Index.open(index_dir, shards=[])
        def request(samples: np.ndarray) -> str:
            return json.dumps({"index_version": "bench", "index_sha256": digest, "shards": shards,
                               "query": query_to_wire(head.fingerprint(samples)), "max_false_match_rate": rate})

        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as ex:
            out = ex.submit(_cold, endpoint, "catalogue", "bench", digest, shards, request(query), str(cache),
                            None if upload is None else request(upload)).result()
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(cache, ignore_errors=True)
    mb = out["downloaded_bytes"] / 1e6
    s = out["steps"]
    rest = s["open"]["wall_s"] + s["first_query"]["wall_s"]
    out["shards"] = shards
    if "upload" in out:
        from bench.cost import configured_memory

        out["upload"]["seconds"] = upload.size / head.params.sample_rate
        out["upload"]["function_mb"] = configured_memory()[1]
    out["local_total_s"] = s["download"]["wall_s"] + rest
    out["projected"] = {
        "download_s_one_request": mb / S3_MB_PER_S_PER_REQUEST,
        "download_s_boto3_concurrency": mb / (S3_MB_PER_S_PER_REQUEST * BOTO3_CONCURRENCY),
        "total_s_one_request": mb / S3_MB_PER_S_PER_REQUEST + s["download"]["cpu_s"] + rest,
        "total_s_boto3_concurrency": mb / (S3_MB_PER_S_PER_REQUEST * BOTO3_CONCURRENCY) + s["download"]["cpu_s"] + rest,
        "basis": f"{S3_MB_PER_S_PER_REQUEST:.0f} MB/s per request (AWS S3 performance design patterns), one request or "
                 f"boto3's {BOTO3_CONCURRENCY} concurrent {BOTO3_CHUNK_BYTES >> 20} MB ranges; plus the measured download "
                 "CPU (sha256 check, writes), open and first query",
    }
    return out


# --------------------------------------------------------------------------- projection


def project(shard: dict, cold: dict, *, tracks: int = 100_000, track_seconds: float = 180.0,
            shards_per_function: int | None = None, shard_entries: int = MAX_ENTRIES_PER_SHARD) -> dict:
    """The fan-out at ``tracks`` tracks of ``track_seconds`` each, from the measured shards.

    shards = ceil(tracks x track_seconds x entries per second of the measured shards /
    MAX_ENTRIES_PER_SHARD); invocations = ceil(shards / shards_per_function); CPU of a query
    = extraction + shards x one shard's search (its median) + the merge (measured for two
    answers, taken as linear in the answers). p95 alike, from the p95s (a bound: the slow
    queries are the same ones on every shard)."""
    spf = shards_per_function or cdk_shards_per_function()
    entries_per_s = sum(shard["entries_per_shard"]) / (shard["seconds_per_shard"] * shard["shards"])
    per_shard = shard_entries
    n_shards = math.ceil(tracks * track_seconds * entries_per_s / per_shard)
    invocations = math.ceil(n_shards / spf)
    fill = tracks * track_seconds * entries_per_s / n_shards / (sum(shard["entries_per_shard"]) / shard["shards"])

    def cpu(part: dict, stat: str) -> float:
        return part["extract"][stat] + n_shards * fill * part["shard_search"][stat] + n_shards / 2 * part["merge_2"][stat]

    q, u = shard["query_10s"], shard["upload"]
    tracks_json_mb = shard["tracks_json_bytes"] / shard["track_count"] * tracks / 1e6
    return {
        "tracks": tracks,
        "track_seconds": track_seconds,
        "entries_per_second_of_audio": entries_per_s,
        "entries": int(tracks * track_seconds * entries_per_s),
        "shards": n_shards,
        "shard_fill_vs_measured": fill,
        "shards_per_function": spf,
        "invocations_per_query": invocations,
        "query_10s_cpu_ms_median": cpu(q, "median_ms"),
        "query_10s_cpu_ms_p95": cpu(q, "p95_ms"),
        "query_10s_shard_search_ms_total": n_shards * fill * q["shard_search"]["median_ms"],
        "upload_seconds": u["seconds"],
        "upload_cpu_ms_median": u["decode"]["median_ms"] + cpu(u, "median_ms"),
        "upload_decode_ms_median": u["decode"]["median_ms"],
        "upload_extract_ms_median": u["extract"]["median_ms"],
        "upload_invocation_ms_median": spf * fill * u["shard_search"]["median_ms"],
        "upload_merge_ms_median": n_shards / 2 * u["merge_2"]["median_ms"],
        "shard_function_rss_mb": cold["rss_mb"],
        "tracks_json_mb": tracks_json_mb,
        "cold_start_s": cold["projected"],
        "method": (f"{n_shards} shards of {per_shard / 1e6:.0f} M entries ({entries_per_s:.1f} entries per second of audio, "
                   f"measured) for {tracks:,} tracks of {track_seconds:.0f} s; {invocations} shard-function invocations of "
                   f"{spf} shards; CPU = extraction + {n_shards} x one full shard's search (measured, scaled by its fill "
                   f"{fill:.2f}) + merge ({n_shards}/2 x the measured merge of two answers)"),
    }


def markdown(shard: dict, cold: dict, proj: dict) -> str:
    """The full-shard measurements and the projection as Markdown."""
    q, u, s = shard["query_10s"], shard["upload"], cold["steps"]
    lines = [
        f"\n### One shard function's shards ({shard['shards']} full shards of "
        f"{', '.join(f'{e / 1e6:.1f}' for e in shard['entries_per_shard'])} M entries, "
        f"{', '.join(str(t) for t in shard['tracks_per_shard'])} tracks, "
        f"{', '.join(f'{m:.0f}' for m in shard['shard_mb'])} MB)\n",
        "| CPU (process time) | 10 s query median | p95 | upload ({:.0f} s) median | p95 |".format(u["seconds"]),
        "|---|---|---|---|---|",
        f"| decode of the upload (MP3, {u['decode']['bytes_mean'] / 1e6:.1f} MB; fingerprint function) | - | - | "
        f"{u['decode']['median_ms']:.0f} | {u['decode']['p95_ms']:.0f} |",
        f"| extraction (fingerprint function) | {q['extract']['median_ms']:.1f} | {q['extract']['p95_ms']:.1f} | "
        f"{u['extract']['median_ms']:.0f} | {u['extract']['p95_ms']:.0f} |",
        f"| one shard's search (shard function, JSON in and out) | {q['shard_search']['median_ms']:.1f} | "
        f"{q['shard_search']['p95_ms']:.1f} | {u['shard_search']['median_ms']:.0f} | {u['shard_search']['p95_ms']:.0f} |",
        f"| the requests and merges of two answers (fingerprint function) | {q['merge_2']['median_ms']:.1f} | {q['merge_2']['p95_ms']:.1f} | "
        f"{u['merge_2']['median_ms']:.1f} | {u['merge_2']['p95_ms']:.1f} |",
        "",
        f"second round (the dense search, when the first found no copy): {q['second_rounds']} of {q['queries']} queries, "
        f"{u['second_rounds']} of {u['uploads']} uploads; a shard's search above holds both rounds",
        "",
        f"peak RSS of the process that searched both shards at once (the fan-out's threads; a shard function searches its shards "
        f"one after the other, below) after the queries: {shard['rss_mb_all_shards']:.0f} MB",
        "",
        f"**Cold start** of a shard function holding shards {cold['shards']} (fresh process, moto S3 on the loopback): "
        f"{cold['downloaded_bytes'] / 1e6:.0f} MB in {cold['files']} files, {cold['get_requests']} GET requests; "
        + ", ".join(f"{k} {v['wall_s']:.2f} s wall ({v['cpu_s']:.2f} s CPU)" for k, v in s.items())
        + f"; peak RSS {cold['rss_mb']:.0f} MB. Projected in AWS: {cold['projected']['total_s_one_request']:.1f} s "
        f"(one request at a time) to {cold['projected']['total_s_boto3_concurrency']:.1f} s ({cold['projected']['basis']}).",
        *([] if "upload" not in cold else [
            "",
            f"The same container then searches a {cold['upload']['seconds']:.0f} s upload through both rounds (as for one no shard holds, "
            f"{cold['upload']['cpu_s']:.1f} s CPU): peak RSS {cold['upload']['rss_mb']:.0f} MB, of it "
            f"{cold['upload'].get('anon_mb', float('nan')):.0f} MB heap and {cold['upload'].get('file_mb', float('nan')):.0f} MB "
            f"of index pages (mapped files); the function has {cold['upload']['function_mb']:,} MB"
            + (" (**over it**)." if cold['upload']['rss_mb'] > cold['upload']['function_mb'] else "."),
        ]),
        "",
        f"### Projection: {proj['tracks']:,} tracks\n",
        proj["method"] + ".",
        "",
        "| tracks | entries | shards | invocations per query | 10 s query CPU median (ms) | p95 | of it shard search | "
        f"{proj['upload_seconds']:.0f} s upload CPU median (ms) | shard function RSS MB | track list MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| {proj['tracks']:,} | {proj['entries'] / 1e9:.2f} G | {proj['shards']} | {proj['invocations_per_query']} | "
        f"{proj['query_10s_cpu_ms_median']:.0f} | {proj['query_10s_cpu_ms_p95']:.0f} | {proj['query_10s_shard_search_ms_total']:.0f} | "
        f"{proj['upload_cpu_ms_median']:.0f} | {proj['shard_function_rss_mb']:.0f} | {proj['tracks_json_mb']:.0f} |",
    ]
    return "\n".join(lines)


def decode_uploads(files: list[Path], sample_rate: int, max_seconds: float = 900.0) -> tuple[list[np.ndarray], dict]:
    """Decode upload files as the fingerprint function does (``takedown_core.audio.decode``,
    PyAV, at most ``max_seconds``: limits.max_audio_seconds); the samples and the decode's
    process time."""
    from takedown_core.audio import decode

    out, cpu = [], []
    for f in files:
        t0 = time.process_time()
        out.append(decode(f, sample_rate=sample_rate, max_seconds=max_seconds, min_seconds=1.0).samples)
        cpu.append(time.process_time() - t0)
    return out, {**_stats(cpu), "bytes_mean": float(np.mean([f.stat().st_size for f in files]))}


def run(writer_fps, entries: list[int], queries: list[np.ndarray], upload_files: list[Path], cold_query: np.ndarray,
        work: Path, rate: float, *, keep: bool = False, log=print, shard_entries: int = MAX_ENTRIES_PER_SHARD,
        tracks: int = 100_000, match_itself: bool = True) -> dict:
    """Build the index of two full shards from ``writer_fps`` (``(track_id, Fingerprint,
    metadata)``, catalogue first), measure it (``queries``: 10 s excerpts, samples at the
    engine's rate; ``upload_files``: whole uploads, decoded here as the fingerprint function
    decodes them), its cold start (first query ``cold_query``) and the projection; returns the
    JSON section ``full_shard`` and prints the Markdown. ``shard_entries`` below the writer's
    cap makes a smaller pair (tests); ``tracks``: the catalogue projected to; ``match_itself``
    False writes the pair without the catalogue's self-match (no posting changes)."""
    from takedown_core.engine import DEFAULT_PARAMS, IndexWriter

    uploads, decode_cpu = decode_uploads(upload_files, DEFAULT_PARAMS.sample_rate)

    n = tracks_for_shards(entries, shards=2, cap=shard_entries)
    w = IndexWriter()
    for tid, fp, meta in writer_fps[:n]:
        w.add(tid, fp, metadata=meta)
    d = work / "full-shards"
    t0 = time.time()
    manifest = w.write(d, shard_count=2, match_itself=match_itself)
    build_s = time.time() - t0
    del w
    log(f"full shards: {n} tracks, {manifest['catalogue']['total_entries'] / 1e6:.1f} M entries in {len(manifest['shards'])} shards, "
        f"built in {time.time() - t0:.0f} s")
    shard = measure_shards(d, queries, uploads, rate)
    shard["upload"]["decode"] = decode_cpu
    log(f"  one shard's search: {shard['query_10s']['shard_search']['median_ms']:.1f} ms median per 10 s query")
    spf = cdk_shards_per_function()
    cold = cold_start(d, list(range(min(spf, shard["shards"]))), cold_query, rate, uploads[0] if uploads else None)
    log(f"  cold start: {cold['local_total_s']:.1f} s local, {cold['downloaded_bytes'] / 1e6:.0f} MB")
    proj = project(shard, cold, tracks=tracks, shards_per_function=spf, shard_entries=shard_entries)
    print(markdown(shard, cold, proj))
    if not keep:
        shutil.rmtree(d, ignore_errors=True)
    return {"measured": shard, "cold_start": cold, "projection": proj, "build_s": build_s, "self_match": match_itself,
            "index_dir": str(d) if keep else None}
