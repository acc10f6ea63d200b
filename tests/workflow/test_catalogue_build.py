"""The catalogue build state machine on the embedded stack (issue 16): the template's own
definition (its ItemBatcher turned into batches of one, distributed_map.py) builds the index
from the reference bucket and publishes it; an upload is then matched against it; a track
added later is the only one fingerprinted by the next build."""

from __future__ import annotations

import shutil

import pytest

from takedown_adapters.aws import S3IndexStore
from takedown_core import catalog_build
from takedown_core.engine import Index
from takedown_local import driver
from takedown_local.index_build import local_names, run_build, upload_references
from takedown_local.media import synth_track, write_audio
from takedown_local.runtime import LocalStack

from tests.workflow.conftest import SR, uploads_dir, wait_until

pytestmark = pytest.mark.timeout(240)


def test_given_a_reference_bucket_when_the_build_runs_then_copies_match_and_a_rebuild_only_fingerprints_the_new_track(
        tmp_path, media, monkeypatch):
    calls: list[float] = []
    real = catalog_build.track_peaks

    def counted(samples, params):
        calls.append(samples.size / params.sample_rate)
        return real(samples, params)

    monkeypatch.setattr(catalog_build, "track_peaks", counted)
    refs = tmp_path / "refs"
    shutil.copytree(media["catalog"], refs)  # ref-0..2 (60 s each) with their sidecars
    with LocalStack("dev") as stack:
        bucket, arn = local_names(stack)
        s3 = stack.client("s3")
        assert upload_references(s3, bucket, refs) == 3

        first = run_build(stack.client("stepfunctions"), arn)["index"]

        assert (first["tracks"], first["previous"], first["missing_count"], first["failed_count"]) == (3, None, 0, 0)
        assert len(calls) == 3
        store = S3IndexStore(s3, stack.catalog_bucket, str(tmp_path / "cache"))
        assert store.current_version() == first["version"]
        index = Index.open(store.fetch(first["version"]))
        assert index.track_metadata("ref-1")["title"] == "Reference 1"
        # the published index is the one the ingest path uses: an excerpt of ref-0 opens a case
        dropped = driver.drop_uploads(stack, uploads_dir(tmp_path, media, ["excerpt.mp3"]))
        repo = stack.repository()
        rec = wait_until(lambda: repo.get_upload(dropped[0].bucket, dropped[0].key), 60, "the upload's outcome")
        assert (rec.outcome, rec.track_id) == ("case", "ref-0")

        # a fourth track arrives; the others are unchanged
        write_audio(tmp_path / "ref-3.flac", synth_track(777, 40, sample_rate=SR), SR)
        s3.upload_file(str(tmp_path / "ref-3.flac"), bucket, "ref-3.flac")
        second = run_build(stack.client("stepfunctions"), arn)["index"]

        assert (second["tracks"], second["previous"]) == (4, first["version"])
        assert len(calls) == 4 and calls[-1] == pytest.approx(40.0, abs=0.1)  # only ref-3 was decoded
        listed = s3.list_objects_v2(Bucket=stack.catalog_bucket, Prefix="artifacts/")["Contents"]
        assert len([o for o in listed if o["Key"].endswith(".peaks.npz")]) == 4
        assert store.current_version() == second["version"]
        rebuilt = Index.open(store.fetch(second["version"]))
        assert sorted(rebuilt.track_ids()) == ["ref-0", "ref-1", "ref-2", "ref-3"]
        excerpt = synth_track(777, 40, sample_rate=rebuilt.params.sample_rate)[rebuilt.params.sample_rate * 10:
                                                                              rebuilt.params.sample_rate * 25]
        assert rebuilt.query(excerpt).best.track_id == "ref-3"


def test_given_a_folder_when_catalog_rebuild_runs_locally_then_it_prints_the_version_and_copies_the_index(
        tmp_path, media, capsys):
    import argparse

    from takedown_local.engine_cli import add_commands

    parser = argparse.ArgumentParser(prog="takedown")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["catalog", "rebuild", "--local", str(media["catalog"]), "--out", str(tmp_path / "ix")])

    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "published index version " in out and "(3 tracks" in out and "CURRENT was unset" in out
    index = Index.open(tmp_path / "ix", verify=True)
    assert sorted(index.track_ids()) == ["ref-0", "ref-1", "ref-2"]
