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

from takedown_adapters.aws import IndexVersionExists, S3IndexStore  # noqa: E402
from takedown_adapters.matcher import IndexCache, NoIndexPublished  # noqa: E402
from takedown_core.ports import IndexUnavailable  # noqa: E402
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
    shard_1 = ["shard-0001.hashes.npy", "shard-0001.postings.npy", "shard-0001.shared.npy",
               *(f"shard-0001.triplet-{part}.npy" for part in ("dtc", "fref", "keys", "postings"))]  # the wide search's
    assert sorted(os.listdir(d)) == sorted(["manifest.json", *shard_1, "tracks.json"])
    assert Index.open(d, shards=[1]).shard_numbers == [1]
    head = store.fetch("v1", [])
    assert sorted(os.listdir(head)) == sorted(["manifest.json", *shard_1, "tracks.json"])
    full = store.fetch("v1")
    assert len([n for n in os.listdir(full) if n.endswith(".npy")]) == 3 * 7  # 3 shards
    assert not [n for n in os.listdir(full) if n.startswith(".")]  # no partial downloads left behind
    assert Index.open(full).track_ids() == ["t0", "t1", "t2"]


def test_unknown_versions_and_shards_are_refused_plainly(s3, index_dir, tmp_path):
    S3IndexStore(s3, "cat").publish(index_dir, "v1")
    store = S3IndexStore(s3, "cat", cache_dir=str(tmp_path / "cache"))
    with pytest.raises(IndexUnavailable, match="v9"):
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
    assert second != "2026-11-a" and "CURRENT was 2026-11-a)" in capsys.readouterr().out
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="cat")["Contents"]}
    assert "indexes/2026-11-a/manifest.json" in keys and f"indexes/{second}/manifest.json" in keys  # old version kept
    assert run(["catalog", "publish", str(index_dir.parent), "--bucket", "cat"]) == 2  # not an index
    assert run(["catalog", "publish", str(index_dir), "--bucket", "cat", "--version", "../x"]) == 2


# --------------------------------------------------------------------------- identity is content (issue 13)


def _index(tmp_path, name: str, n_tracks: int, seed: int = 300) -> Path:
    w = IndexWriter()
    for i in range(n_tracks):
        x = synth_track(seed + i, 12.0, SR)
        w.add(f"t{i}", x, duration_s=x.size / SR)
    w.write(tmp_path / name, shard_count=1)
    return tmp_path / name


def test_given_a_published_version_when_published_again_then_it_is_refused(s3, index_dir, tmp_path, capsys):
    """Found by the trial: `catalog publish --version V` twice was accepted and a warm matcher kept
    the old 6-track index while S3 held 240 tracks."""
    from takedown_local.engine_cli import cmd_catalog_publish
    import argparse

    store = S3IndexStore(s3, "cat")
    store.publish(index_dir, "v1")
    bigger = _index(tmp_path, "bigger", 5)
    with pytest.raises(IndexVersionExists, match="immutable"):
        store.publish(bigger, "v1")
    assert cmd_catalog_publish(argparse.Namespace(index=str(bigger), bucket="cat", version="v1")) == 2
    assert "already published" in capsys.readouterr().err
    fresh = S3IndexStore(s3, "cat", cache_dir=str(tmp_path / "c"))
    assert Index.open(fresh.fetch("v1")).track_ids() == ["t0", "t1", "t2"]  # untouched


def test_given_the_index_changes_under_one_name_then_a_warm_matcher_notices(s3, tmp_path, monkeypatch):
    """Identity is the manifest's hash, not the name: even an index overwritten behind the
    publisher's back (same version name) is reloaded, never used under a stale cache."""
    import takedown_adapters.matcher as matcher

    small, big = _index(tmp_path, "small", 2), _index(tmp_path, "big", 4, seed=900)
    store = S3IndexStore(s3, "cat", cache_dir=str(tmp_path / "cache"))
    store.publish(small, "v1")
    cache = IndexCache(store)
    version, index = cache.current()
    assert (version, len(index.track_ids())) == ("v1", 2)
    first_digest = cache.digest
    for f in sorted(big.iterdir()):  # overwrite the same version in place, manifest last
        if f.name != "manifest.json":
            s3.upload_file(str(f), "cat", f"indexes/v1/{f.name}")
    s3.upload_file(str(big / "manifest.json"), "cat", "indexes/v1/manifest.json")
    assert cache.current()[1] is index  # within the recheck interval the loaded one stands
    monkeypatch.setattr(matcher, "INDEX_RECHECK_SECONDS", -1)
    version, index = cache.current()
    assert (version, len(index.track_ids())) == ("v1", 4) and cache.digest != first_digest


def test_given_a_partial_or_altered_index_then_the_matcher_refuses_it(s3, index_dir, tmp_path):
    store = S3IndexStore(s3, "cat", cache_dir=str(tmp_path / "cache"))
    store.publish(index_dir, "v1")
    s3.delete_object(Bucket="cat", Key="indexes/v1/shard-0002.postings.npy")
    with pytest.raises(IndexUnavailable, match="partial"):
        IndexCache(store).current()
    s3.put_object(Bucket="cat", Key="indexes/v1/shard-0002.postings.npy", Body=b"not the right bytes")
    with pytest.raises(IndexUnavailable, match="checksum"):
        IndexCache(store).current()
    assert not [p for p in (tmp_path / "cache").rglob(".*partial*")]  # nothing half-written is left


def test_given_no_index_or_an_unknown_format_then_the_matcher_refuses_it(s3, index_dir, tmp_path):
    import json

    store = S3IndexStore(s3, "cat", cache_dir=str(tmp_path / "cache"))
    with pytest.raises(NoIndexPublished):
        IndexCache(store).current()
    s3.put_object(Bucket="cat", Key="indexes/CURRENT", Body=b"v-missing")
    with pytest.raises(IndexUnavailable, match="no s3://"):
        IndexCache(store).current()
    manifest = json.loads((index_dir / "manifest.json").read_text())
    manifest["format_version"] = 99
    future = tmp_path / "future"
    future.mkdir()
    for f in index_dir.iterdir():
        (future / f.name).write_bytes(f.read_bytes())
    (future / "manifest.json").write_text(json.dumps(manifest))
    store.publish(future, "v99")
    with pytest.raises(IndexUnavailable, match="format version"):
        IndexCache(store).current()
