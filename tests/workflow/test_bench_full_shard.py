"""The benchmark's full-shard step (bench/scaling.py) end to end on a small pair of shards:
built, searched as the shard function searches them, published to a moto S3 server on the
loopback and cold-started in a fresh process, projected."""

from __future__ import annotations

import json

import pytest

from bench import cost, scaling
from takedown_core.engine import DEFAULT_PARAMS, extract
from takedown_local.media import synth_track, write_audio

pytestmark = pytest.mark.timeout(300)
SR = DEFAULT_PARAMS.sample_rate


def test_two_small_shards_are_measured_cold_started_from_s3_and_projected(tmp_path, capsys):
    tracks = {f"t{i}": synth_track(500 + i, 40, sample_rate=SR) for i in range(6)}
    fps = [(tid, extract(x, DEFAULT_PARAMS), {"title": tid}) for tid, x in tracks.items()]
    entries = [fp.hashes.size for _, fp, _ in fps]
    cap = sum(entries) // 2 + max(entries)  # all six fit two shards of this many entries
    queries = [tracks["t0"][5 * SR: 15 * SR], tracks["t4"][20 * SR: 30 * SR], synth_track(999, 10, sample_rate=SR)]
    uploads = [write_audio(tmp_path / f"u{i}.mp3", tracks[f"t{i}"][: 30 * SR], SR) for i in (1, 3)]
    out = scaling.run(fps, entries, queries, uploads, queries[-1], tmp_path, 1e-4, log=lambda *_: None,
                      shard_entries=cap, tracks=1_000, keep=True)
    manifest = json.loads((tmp_path / "full-shards" / "manifest.json").read_text())
    shard_files = sum(1 for s in manifest["shards"] for f in json.dumps(s).split('"') if f.endswith(".npy"))
    m, cold, proj = out["measured"], out["cold_start"], out["projection"]
    assert m["shards"] == 2 and sum(m["tracks_per_shard"]) == 6 and max(m["entries_per_shard"]) <= cap
    assert m["query_10s"]["queries"] == 3 and m["query_10s"]["answered"] == 2  # the two copies, not the stranger
    assert m["query_10s"]["second_rounds"] == 1  # the stranger: no copy in the first round, so the dense search
    assert m["upload"]["second_rounds"] == 0  # two copies
    assert m["query_10s"]["shard_search"]["n"] == 6 and m["query_10s"]["shard_search"]["median_ms"] > 0
    assert m["upload"]["uploads"] == 2 and m["upload"]["seconds"] == pytest.approx(30, abs=0.5)
    assert m["upload"]["decode"]["median_ms"] > 0 and m["upload"]["decode"]["bytes_mean"] > 0
    # the cold start downloaded what a shard function of two shards holds: every file of both
    # shards, the manifest and the track list, through S3
    assert shard_files >= 6
    assert cold["shards"] == [0, 1] and cold["files"] == shard_files + 2 and cold["get_requests"] >= shard_files + 1
    assert cold["downloaded_bytes"] > sum(m["shard_mb"]) * 1e6
    assert {"init", "download", "open", "first_query", "second_query"} <= set(cold["steps"])
    assert cold["projected"]["total_s_one_request"] >= cold["projected"]["total_s_boto3_concurrency"] > 0
    assert proj["tracks"] == 1_000 and proj["shards"] >= 1 and proj["invocations_per_query"] >= 1
    assert proj["query_10s_cpu_ms_median"] > m["query_10s"]["extract"]["median_ms"]
    # then the same container searched a whole upload, both rounds: its memory, by kind,
    # against the shard function's configured memory
    up = cold["upload"]
    assert up["seconds"] == pytest.approx(30, abs=0.5) and up["cpu_s"] > 0
    assert up["rss_mb"] >= cold["rss_mb"] and up["anon_mb"] > 0 and up["file_mb"] > 0
    assert up["function_mb"] == cost.configured_memory()[1]
    json.dumps(out)  # the JSON section
    printed = capsys.readouterr().out
    assert "Projection: 1,000 tracks" in printed
    assert "searches a 30 s upload through both rounds" in printed and "of index pages" in printed and "over it" not in printed
    assert out["index_dir"] == str(tmp_path / "full-shards")
    # a scaling row's fan-out CPU: extraction + both shards' searches + merge, per query
    fan = scaling.fan_out_cpu(tmp_path / "full-shards", queries, 1e-4)
    assert fan["shards"] == 2 and fan["total"]["n"] == 3 and fan["shard_search"]["n"] == 6
    assert fan["total"]["median_ms"] > fan["extract"]["median_ms"] > 0
