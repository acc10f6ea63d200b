"""The benchmark's scaling arithmetic (bench/scaling.py, bench/cost.py): no audio, no network."""

from __future__ import annotations

import math

import pytest

from bench import cost, scaling
from takedown_core.engine.index import MAX_ENTRIES_PER_SHARD


def _stats(ms: float) -> dict:
    return {"median_ms": ms, "p95_ms": 2 * ms, "mean_ms": 1.5 * ms, "n": 10}


def _measured(entries_per_shard: int = 40_000_000, seconds_per_shard: float = 3_000 * 180.0) -> dict:
    return {
        "shards": 2, "entries_per_shard": [entries_per_shard] * 2, "tracks_per_shard": [3_000, 3_000],
        "seconds_per_shard": seconds_per_shard, "shard_mb": [320.0, 320.0], "tracks_json_bytes": 6_000 * 500,
        "track_count": 6_000,
        "query_10s": {"queries": 10, "extract": _stats(8.0), "shard_search": _stats(20.0), "merge_2": _stats(1.0), "answered": 5},
        "upload": {"seconds": 180.0, "uploads": 4, "extract": _stats(300.0), "shard_search": _stats(400.0),
                   "merge_2": _stats(10.0), "decode": {**_stats(200.0), "bytes_mean": 2.9e6}},
        "rss_mb_all_shards": 900.0,
    }


def _cold() -> dict:
    return {"rss_mb": 800.0, "get_requests": 90, "projected": {"total_s_one_request": 9.0, "total_s_boto3_concurrency": 2.0}}


def test_tracks_for_shards_takes_the_longest_prefix_that_fits():
    assert scaling.tracks_for_shards([10, 10, 10, 10], shards=2, cap=15) == 3
    assert scaling.tracks_for_shards([10, 10, 10, 10], shards=2, cap=20) == 4
    assert scaling.tracks_for_shards([40, 1], shards=2, cap=15) == 0


def test_the_projection_counts_full_shards_and_adds_extraction_searches_and_merge():
    m = _measured()
    p = scaling.project(m, _cold(), tracks=100_000, track_seconds=180.0, shards_per_function=2)
    entries_per_s = 40_000_000 / (3_000 * 180.0)
    shards = math.ceil(100_000 * 180 * entries_per_s / MAX_ENTRIES_PER_SHARD)
    fill = 100_000 * 180 * entries_per_s / shards / 40_000_000
    assert p["shards"] == shards and p["invocations_per_query"] == math.ceil(shards / 2)
    assert p["shard_fill_vs_measured"] == pytest.approx(fill)
    assert p["query_10s_cpu_ms_median"] == pytest.approx(8.0 + shards * fill * 20.0 + shards / 2 * 1.0)
    assert p["query_10s_cpu_ms_p95"] == pytest.approx(16.0 + shards * fill * 40.0 + shards / 2 * 2.0)
    assert p["upload_cpu_ms_median"] == pytest.approx(200.0 + 300.0 + shards * fill * 400.0 + shards / 2 * 10.0)
    assert p["tracks_json_mb"] == pytest.approx(500 * 100_000 / 1e6)
    # ten times the catalogue: ten times the entries in as few full shards as hold them
    p10 = scaling.project(m, _cold(), tracks=1_000_000, track_seconds=180.0, shards_per_function=2)
    assert p10["shards"] == math.ceil(10 * 100_000 * 180 * entries_per_s / MAX_ENTRIES_PER_SHARD) > 9 * shards


def test_the_bill_adds_duration_requests_and_gets_at_the_quoted_prices():
    m = _measured()
    p = scaling.project(m, _cold(), tracks=100_000, shards_per_function=2)
    full = {"measured": m, "projection": p, "cold_start": _cold()}
    b = cost.bill(full, uploads=1_000_000, ingest_mb=1769, shard_mb=1769)
    inv, fill, shards = p["invocations_per_query"], p["shard_fill_vs_measured"], p["shards"]
    shard_s = 2 * fill * 0.6  # spf x fill x the mean of one shard's search (400 ms median, 600 mean)
    fp_s = 0.3 + 0.45 + shard_s + shards / 2 * 0.015
    rows = {r["component"]: r for r in b["rows"]}
    assert b["fingerprint_function_s"] == pytest.approx(fp_s)
    assert rows["fingerprint function duration"]["usd"] == pytest.approx(1e6 * fp_s * 1769 / 1024 * 0.0000166667)
    assert rows["shard function duration (both rounds)"]["usd"] == pytest.approx(1e6 * inv * shard_s * 1769 / 1024 * 0.0000166667)
    # figures from before the fan-out's rounds: one round per upload
    assert rows["requests (1 fingerprint + shard invocations per upload, both rounds)"]["usd"] == pytest.approx((1 + inv) * 0.20)
    assert rows["S3 GET of each upload"]["usd"] == pytest.approx(0.40)
    assert b["total_usd"] == pytest.approx(sum(r["usd"] for r in b["rows"]))
    assert "**total**" in cost.markdown(b)


def test_the_bill_counts_the_second_round_of_the_uploads_without_a_copy():
    """The fan-out calls every group again when the first round finds no copy (1 of the 4
    measured uploads here): requests count both rounds; a shard's measured search already
    holds both rounds' time, so the duration is unchanged."""
    m = _measured()
    m["upload"]["second_rounds"] = 1
    p = scaling.project(m, _cold(), tracks=100_000, shards_per_function=2)
    b = cost.bill({"measured": m, "projection": p, "cold_start": _cold()}, uploads=1_000_000, ingest_mb=1769, shard_mb=1769)
    rows = {r["component"]: r for r in b["rows"]}
    inv = p["invocations_per_query"]
    assert b["rounds_per_upload"] == pytest.approx(1.25)
    assert rows["requests (1 fingerprint + shard invocations per upload, both rounds)"]["quantity"] == pytest.approx(1e6 * (1 + 1.25 * inv))
    assert "1.25 rounds per upload" in cost.markdown(b)


def test_the_bill_reads_the_memory_infra_deploys(tmp_path):
    src = tmp_path / "components.py"
    src.write_text("X = 1\nINGEST_MEMORY = 2048  # MB\nSHARD_MATCH_MEMORY = 3008\n")
    assert cost.configured_memory(src) == (2048, 3008)
    src.write_text("INGEST_MEMORY = 2048\n")
    with pytest.raises(KeyError):
        cost.configured_memory(src)
    ingest, shard = cost.configured_memory()
    assert ingest > 0 and shard > 0
