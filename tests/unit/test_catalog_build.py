"""The catalogue build's pieces: peak artifacts, IndexWriter.add_peaks, the map and reduce
steps over in-memory stores, the local rewrite of the ItemBatcher, and `catalog build`
with worker processes."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from audio_fixtures import synth_track, write_audio  # noqa: E402

from takedown_core.audio import decode_audio  # noqa: E402
from takedown_core.catalog_build import (  # noqa: E402
    ArtifactError,
    BuildTrack,
    artifact_key,
    build_index,
    dump_artifact,
    failure_key,
    fingerprint_items,
    gather_tracks,
    is_reference_audio,
    load_artifact,
    params_digest,
    reference_fingerprint,
    sidecar_key,
    track_id_for,
    track_peaks,
)
from takedown_core.engine import DEFAULT_PARAMS, Index, IndexWriter  # noqa: E402
from takedown_local.distributed_map import for_moto  # noqa: E402
from takedown_local.engine_cli import add_commands  # noqa: E402

P = DEFAULT_PARAMS
SR = P.sample_rate


@pytest.fixture(scope="module")
def samples():
    return {i: synth_track(400 + i, 25.0, sample_rate=SR) for i in range(3)}


def test_given_peaks_when_added_then_the_entries_are_those_of_the_samples(samples):
    by_samples, by_peaks = IndexWriter(P), IndexWriter(P)
    tp = track_peaks(samples[0], P)
    by_samples.add("t", samples[0])
    by_peaks.add_peaks("t", tp.peaks, duration_s=tp.duration_s, frame_count=tp.frame_count)

    assert np.array_equal(by_samples._hashes[0], by_peaks._hashes[0])
    assert np.array_equal(by_samples._times[0], by_peaks._times[0])
    assert by_samples._tracks == by_peaks._tracks


def test_given_a_fingerprint_made_by_a_worker_when_built_then_the_index_is_the_one_the_peaks_make(tmp_path, samples):
    peaks = {f"t{i}": track_peaks(samples[i], P) for i in range(3)}
    exclusions = {"t1": [{"start_s": 2, "end_s": 4}]}
    build_index([BuildTrack(t, tp, {"title": t}, exclusions.get(t, [])) for t, tp in peaks.items()], tmp_path / "peaks", P)
    build_index([BuildTrack(t, tp, {"title": t}, exclusions.get(t, []), fingerprint=reference_fingerprint(tp, P))
                 for t, tp in peaks.items()], tmp_path / "worker", P)

    files = sorted(p.name for p in (tmp_path / "peaks").iterdir() if p.name != "manifest.json")
    assert any(".triplet-" in f for f in files) and "tracks.json" in files
    for name in files:
        assert (tmp_path / "worker" / name).read_bytes() == (tmp_path / "peaks" / name).read_bytes(), name


def test_given_an_artifact_when_loaded_then_it_is_the_same_peaks(samples):
    tp = track_peaks(samples[1], P)
    back = load_artifact(dump_artifact(tp, P), P)

    assert back.duration_s == tp.duration_s and back.frame_count == tp.frame_count
    for name in ("frames", "semitones", "salience"):
        assert np.array_equal(getattr(back.peaks, name), getattr(tp.peaks, name))


def test_given_other_params_or_garbage_when_an_artifact_is_loaded_then_it_is_refused(samples):
    from dataclasses import replace

    data = dump_artifact(track_peaks(samples[1], P), P)
    other = replace(P, ref_peaks_per_s=P.ref_peaks_per_s + 1)

    assert params_digest(other) != params_digest(P)
    with pytest.raises(ArtifactError, match="analysis parameters"):
        load_artifact(data, other)
    with pytest.raises(ArtifactError):
        load_artifact(b"PK\x03\x04 not a zip", P)
    with pytest.raises(ArtifactError):
        load_artifact(data[: len(data) // 2], P)


@pytest.mark.parametrize("name, audio, track, side", [
    ("masters/A-001.flac", True, "A-001", "masters/A-001.json"),
    ("A-001.json", False, "A-001", "A-001.json"),
    ("notes.TXT", False, "notes", "notes.json"),
    (".hidden.flac", False, ".hidden", ".hidden.json"),
    ("noext", True, "noext", "noext.json"),
])
def test_given_key_names_then_audio_track_id_and_sidecar_follow_one_rule(name, audio, track, side):
    assert is_reference_audio(name) is audio
    assert track_id_for(name) == track
    assert sidecar_key(name) == side


def test_given_an_etag_then_the_artifact_key_names_the_params_and_the_etag():
    assert artifact_key("artifacts/peaks/", P, '"abc123"') == f"artifacts/peaks/{params_digest(P)}/abc123.peaks.npz"
    with pytest.raises(ValueError):
        artifact_key("a", P, '""')


class _Bucket:
    """An in-memory stand-in for both stores, counting puts."""

    def __init__(self, files: dict[str, bytes] | None = None) -> None:
        self.files = dict(files or {})
        self.puts: list[str] = []

    def list(self):
        return [(k, f"etag-{hash(v) & 0xFFFFFFFF:x}") for k, v in sorted(self.files.items())]

    def download(self, key, path):
        Path(path).write_bytes(self.files[key])

    def read(self, key):
        return self.files.get(key)

    def exists(self, key):
        return key in self.files

    def get(self, key):
        return self.files.get(key)

    def put(self, key, data):
        self.puts.append(key)
        self.files[key] = data


def _decode(path):
    return decode_audio(path, sample_rate=SR)


def _references(tmp_path, samples) -> _Bucket:
    files = {}
    for i in range(2):
        write_audio(tmp_path / f"r{i}.flac", samples[i], SR)
        files[f"r{i}.flac"] = (tmp_path / f"r{i}.flac").read_bytes()
    files["r0.json"] = json.dumps({"title": "Zero", "exclusions": [{"start_s": 1, "end_s": 2}]}).encode()
    files["broken.mp3"] = b"ID3\x03\x00" + b"\x00" * 400
    return _Bucket(files)


def test_given_a_batch_when_fingerprinted_twice_then_the_second_time_nothing_is_decoded(tmp_path, samples):
    refs, arts = _references(tmp_path, samples), _Bucket()
    items = [{"Key": k, "Etag": f'"{e}"'} for k, e in refs.list()]

    first = fingerprint_items(items, references=refs, artifacts=arts, prefix="a", params=P, decode=_decode,
                              workdir=str(tmp_path))
    second = fingerprint_items(items, references=refs, artifacts=arts, prefix="a", params=P, decode=_decode,
                               workdir=str(tmp_path))

    assert (first["fingerprinted"], first["failed"], first["not_audio"]) == (2, 1, 1)
    assert first["failures"] == [{"key": "broken.mp3", "reason": "corrupt"}]
    assert second == {"fingerprinted": 0, "reused": 3, "failed": 0, "not_audio": 1, "failures": []}
    assert len(arts.puts) == 3  # two artifacts and one failure record, all from the first batch
    assert sum(k.endswith(".failed.json") for k in arts.puts) == 1


def test_given_artifacts_when_gathered_then_the_index_is_the_one_the_samples_make(tmp_path, samples):
    refs, arts = _references(tmp_path, samples), _Bucket()
    items = [{"Key": k, "ETag": e} for k, e in refs.list()]
    fingerprint_items(items, references=refs, artifacts=arts, prefix="a", params=P, decode=_decode, workdir=str(tmp_path))
    refs.files["r2.flac"] = b"uploaded after the map listed the bucket"

    tracks, report = gather_tracks(references=refs, artifacts=arts, prefix="a", params=P)
    build_index(tracks, tmp_path / "ix", P)
    direct = IndexWriter(P)
    direct.add("r0", decode_audio(tmp_path / "r0.flac", sample_rate=SR), metadata={"title": "Zero"},
               exclusions=[{"start_s": 1, "end_s": 2}])
    direct.add("r1", decode_audio(tmp_path / "r1.flac", sample_rate=SR))
    direct.write(tmp_path / "direct")

    assert [t.track_id for t in tracks] == ["r0", "r1"]
    assert report["missing"] == ["r2.flac"] and report["failed"] == ["broken.mp3"] and report["listed"] == 4
    for name in ("shard-0000.hashes.npy", "shard-0000.postings.npy", "tracks.json"):
        assert (tmp_path / "ix" / name).read_bytes() == (tmp_path / "direct" / name).read_bytes(), name
    assert failure_key(artifact_key("a", P, "x")).endswith("/x.failed.json")


def test_given_a_definition_with_an_item_batcher_when_rewritten_for_moto_then_each_item_is_a_batch_of_one():
    asl = {"StartAt": "M", "States": {"M": {
        "Type": "Map", "ItemBatcher": {"MaxItemsPerBatch": 50, "BatchInput": {"run": "x"}},
        "ItemReader": {"Resource": "arn:aws:states:::s3:listObjectsV2", "Parameters": {"Bucket": "b"}},
        "ItemProcessor": {"ProcessorConfig": {"Mode": "DISTRIBUTED"}, "StartAt": "T", "States": {"T": {"Type": "Pass", "End": True}}},
        "End": True}}}

    out = for_moto(asl)

    m = out["States"]["M"]
    assert "ItemBatcher" not in m
    assert m["ItemSelector"] == {"Items.$": "States.Array($$.Map.Item.Value)", "run": "x"}
    assert m["ItemReader"] == asl["States"]["M"]["ItemReader"]
    assert "ItemBatcher" in asl["States"]["M"]  # the input is not changed


def _run(argv):
    parser = argparse.ArgumentParser(prog="takedown")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_given_two_workers_when_building_then_the_index_is_the_one_process_builds(tmp_path, samples, capsys):
    refs = tmp_path / "refs"
    refs.mkdir()
    for i in range(3):
        write_audio(refs / f"s{i}.flac", samples[i], SR)
    (refs / "s1.json").write_text(json.dumps({"title": "One"}))
    (refs / "bad.wav").write_bytes(b"RIFF\x00\x00")

    assert _run(["catalog", "build", str(refs), "--out", str(tmp_path / "one"), "--workers", "1"]) == 0
    assert _run(["catalog", "build", str(refs), "--out", str(tmp_path / "two"), "--workers", "2"]) == 0
    err = capsys.readouterr().err

    for name in ("shard-0000.hashes.npy", "shard-0000.postings.npy", "tracks.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name
    assert err.count("skipping") == 2 and "bad.wav" in err
    assert "x real time" in err and "2 worker(s)" in err
    assert Index.open(tmp_path / "two").track_metadata("s1") == {"title": "One"}


def test_given_a_failure_that_is_not_the_files_when_fingerprinting_then_it_escapes_for_the_map_to_retry(tmp_path, samples):
    refs, arts = _references(tmp_path, samples), _Bucket()

    def broken_decoder(path):
        raise MemoryError("the function ran out of memory")

    with pytest.raises(MemoryError):
        fingerprint_items([{"Key": "r0.flac", "Etag": "e"}], references=refs, artifacts=arts, prefix="a", params=P,
                          decode=broken_decoder, workdir=str(tmp_path))
    assert arts.puts == []  # nothing recorded: the next attempt decodes it again
    assert list(tmp_path.glob("reference*")) == []  # the download is removed


def test_given_another_thread_running_when_building_with_workers_then_they_are_spawned_and_agree(tmp_path, samples, capsys):
    import threading

    refs = tmp_path / "refs"
    refs.mkdir()
    for i in range(2):
        write_audio(refs / f"s{i}.flac", samples[i], SR)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait, daemon=True)  # as the local stack's pollers run
    other.start()
    try:
        assert _run(["catalog", "build", str(refs), "--out", str(tmp_path / "spawned"), "--workers", "2"]) == 0
    finally:
        stop.set()
        other.join()
    assert _run(["catalog", "build", str(refs), "--out", str(tmp_path / "inline"), "--workers", "1"]) == 0
    for name in ("shard-0000.hashes.npy", "shard-0000.postings.npy", "tracks.json"):
        assert (tmp_path / "spawned" / name).read_bytes() == (tmp_path / "inline" / name).read_bytes(), name
