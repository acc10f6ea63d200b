"""The versioned index in S3: a shard matcher downloads only the shards it searches."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from audio_fixtures import synth_track  # noqa: E402

from takedown_adapters.aws import S3IndexStore  # noqa: E402
from takedown_core.engine import DEFAULT_PARAMS, Index, IndexWriter  # noqa: E402

SR = DEFAULT_PARAMS.sample_rate


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory) -> Path:
    w = IndexWriter()
    for i in range(3):
        x = synth_track(300 + i, 20.0, SR)
        w.add(f"t{i}", x, duration_s=x.size / SR)
    out = tmp_path_factory.mktemp("idx") / "v1"
    w.write(out, shard_count=3)
    return out


@pytest.fixture()
def s3(monkeypatch):
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "eu-west-1"}.items():
        monkeypatch.setenv(k, v)
    with mock_aws():
        client = boto3.client("s3", region_name="eu-west-1")
        client.create_bucket(Bucket="cat", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        yield client


def test_a_shard_subset_downloads_the_manifest_track_list_and_those_shards_only(s3, index_dir, tmp_path):
    S3IndexStore(s3, "cat").publish(index_dir, "v1")
    store = S3IndexStore(s3, "cat", cache_dir=str(tmp_path / "cache"))
    d = store.fetch("v1", [1])
    assert sorted(os.listdir(d)) == ["manifest.json", "shard-0001.hashes.npy", "shard-0001.postings.npy", "tracks.json"]
    assert Index.open(d, shards=[1]).shard_numbers == [1]
    head = store.fetch("v1", [])
    assert sorted(os.listdir(head)) == ["manifest.json", "shard-0001.hashes.npy", "shard-0001.postings.npy", "tracks.json"]
    full = store.fetch("v1")
    assert len([n for n in os.listdir(full) if n.endswith(".npy")]) == 6
    assert not [n for n in os.listdir(full) if n.startswith(".")]  # no partial downloads left behind
    assert Index.open(full).track_ids() == ["t0", "t1", "t2"]


def test_unknown_versions_and_shards_are_refused_plainly(s3, index_dir, tmp_path):
    S3IndexStore(s3, "cat").publish(index_dir, "v1")
    store = S3IndexStore(s3, "cat", cache_dir=str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match="v9"):
        store.fetch("v9")
    with pytest.raises(ValueError, match=r"\[7\]"):
        store.fetch("v1", [7])


def test_catalog_publish_uploads_a_new_version_and_flips_current(s3, index_dir, capsys):
    import argparse

    from takedown_local.engine_cli import add_commands

    parser = argparse.ArgumentParser(prog="takedown")
    add_commands(parser.add_subparsers(dest="command", required=True))

    def run(argv):
        args = parser.parse_args(argv)
        return args.func(args)

    assert run(["catalog", "publish", str(index_dir), "--bucket", "cat", "--version", "2026-11-a"]) == 0
    store = S3IndexStore(s3, "cat")
    assert store.current_version() == "2026-11-a"
    assert run(["catalog", "publish", str(index_dir), "--bucket", "cat"]) == 0
    second = store.current_version()
    assert second != "2026-11-a" and "(CURRENT was 2026-11-a)" in capsys.readouterr().out
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="cat")["Contents"]}
    assert "indexes/2026-11-a/manifest.json" in keys and f"indexes/{second}/manifest.json" in keys  # old version kept
    assert run(["catalog", "publish", str(index_dir.parent), "--bucket", "cat"]) == 2  # not an index
    assert run(["catalog", "publish", str(index_dir), "--bucket", "cat", "--version", "../x"]) == 2
