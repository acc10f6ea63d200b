"""`catalog build` and `match` through argparse, as the `takedown` command wires them."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from audio_fixtures import synth_track, write_audio  # noqa: E402

from takedown_local.engine_cli import add_commands  # noqa: E402


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="takedown")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_build_then_match_jsonl(tmp_path, capsys):
    # Given a directory of reference tracks in mixed formats, one with sidecar metadata
    refs = tmp_path / "refs"
    (refs / "album").mkdir(parents=True)
    for i, fmt in enumerate(["flac", "mp3", "ogg"]):
        write_audio(refs / "album" / f"song{i}.{fmt}", synth_track(300 + i, 30.0), 22050)
    (refs / "album" / "song0.json").write_text(json.dumps({"title": "Song Zero", "isrc": "QZ0000000001", "extra": 1}))
    (refs / "notes.txt").write_text("not audio")
    (refs / "cover.bin").write_bytes(b"\x00" * 100)
    # When the catalogue is built
    assert _run(["catalog", "build", str(refs), "--out", str(tmp_path / "index"), "--shards", "2"]) == 0
    err = capsys.readouterr().err
    assert "skipping" in err and "cover.bin" in err
    # And two uploads are matched
    write_audio(tmp_path / "up.mp4", synth_track(301, 30.0)[22050 * 8 : 22050 * 18], 22050)
    write_audio(tmp_path / "other.webm", synth_track(999, 10.0), 22050)
    code = _run(["match", "--index", str(tmp_path / "index"), str(tmp_path / "up.mp4"), str(tmp_path / "other.webm"), "--jsonl"])
    # Then each file gets one JSON line with the contract's keys
    assert code == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line["file"] for line in lines] == [str(tmp_path / "up.mp4"), str(tmp_path / "other.webm")]
    assert lines[0]["track_id"] == "song1" and abs(lines[0]["offset_s"] - 8.0) < 0.2 and lines[0]["score"] > 4
    assert lines[1]["track_id"] is None and lines[1]["offset_s"] is None and isinstance(lines[1]["score"], float)


def test_sidecar_metadata_is_kept(tmp_path, capsys):
    refs = tmp_path / "refs"
    refs.mkdir()
    write_audio(refs / "a.wav", synth_track(310, 20.0), 22050)
    (refs / "a.json").write_text(json.dumps({"title": "A", "artist": "B", "territories": ["US"], "junk": 2}))
    assert _run(["catalog", "build", str(refs), "--out", str(tmp_path / "ix")]) == 0
    write_audio(tmp_path / "q.wav", synth_track(310, 20.0)[22050 * 5 : 22050 * 15], 22050)
    assert _run(["match", "--index", str(tmp_path / "ix"), str(tmp_path / "q.wav"), "--jsonl"]) == 0
    row = json.loads(capsys.readouterr().out.splitlines()[0])
    assert row["metadata"] == {"title": "A", "artist": "B", "territories": ["US"]}


def test_match_prints_a_table_without_jsonl(tmp_path, capsys):
    refs = tmp_path / "refs"
    refs.mkdir()
    write_audio(refs / "a.flac", synth_track(320, 20.0), 22050)
    assert _run(["catalog", "build", str(refs), "--out", str(tmp_path / "ix")]) == 0
    assert _run(["match", "--index", str(tmp_path / "ix"), str(refs / "a.flac")]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("file") and " a " in out


def test_a_file_with_less_than_a_second_of_audio_is_an_error_as_the_workflow_says_not_a_no_match(tmp_path, capsys):
    """The workflow quarantines such a file (corrupt, or too short when intact); `match` gave a
    plain no-match for the demo's truncated download."""
    refs = tmp_path / "refs"
    refs.mkdir()
    write_audio(refs / "a.flac", synth_track(325, 20.0), 22050)
    assert _run(["catalog", "build", str(refs), "--out", str(tmp_path / "ix")]) == 0
    write_audio(tmp_path / "blip.wav", synth_track(325, 0.4), 22050)
    write_audio(tmp_path / "q.wav", synth_track(325, 20.0)[22050 * 5: 22050 * 15], 22050)
    capsys.readouterr()
    assert _run(["match", "--index", str(tmp_path / "ix"), str(tmp_path / "blip.wav"), str(tmp_path / "q.wav"), "--jsonl"]) == 0
    blip, q = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert blip["reason"] == "too_short" and blip["track_id"] is None and "error" in blip
    assert q["track_id"] == "a"


def test_building_into_a_non_empty_directory_is_refused(tmp_path, capsys):
    refs = tmp_path / "refs"
    refs.mkdir()
    write_audio(refs / "a.flac", synth_track(330, 5.0), 22050)
    out = tmp_path / "ix"
    out.mkdir()
    (out / "manifest.json").write_text("{}")
    assert _run(["catalog", "build", str(refs), "--out", str(out)]) == 2


def test_jsonl_says_how_the_recording_is_used_and_exclusions_come_from_the_sidecar(tmp_path, capsys):
    import numpy as np

    # Given a catalogue of two songs, one with a licensed loop excluded in its sidecar
    refs = tmp_path / "refs"
    refs.mkdir()
    song = synth_track(340, 40.0)
    write_audio(refs / "song.flac", song, 22050)
    write_audio(refs / "looped.flac", synth_track(341, 40.0), 22050)
    (refs / "looped.json").write_text(json.dumps({"title": "Looped", "exclusions": [{"start_s": 0, "end_s": 40, "note": "library loop"}]}))
    assert _run(["catalog", "build", str(refs), "--out", str(tmp_path / "ix")]) == 0
    assert "looped: excluded 0.0-40.0 s" in capsys.readouterr().err
    # When a copy, our song under a much louder new lead, and the excluded song are matched
    backing = song[22050 * 5: 22050 * 25]
    lead = synth_track(342, 20.0, pitch_semitones=12.0)
    cover = lead / np.sqrt(np.mean(lead**2)) + backing / np.sqrt(np.mean(backing**2)) * 10 ** (-18 / 20)
    write_audio(tmp_path / "copy.wav", song[22050 * 5: 22050 * 15], 22050)
    write_audio(tmp_path / "cover.wav", (0.9 * cover / np.abs(cover).max()).astype(np.float32), 22050)
    write_audio(tmp_path / "loop.wav", synth_track(341, 40.0)[22050 * 5: 22050 * 15], 22050)
    files = [str(tmp_path / n) for n in ("copy.wav", "cover.wav", "loop.wav")]
    assert _run(["match", "--index", str(tmp_path / "ix"), *files, "--jsonl"]) == 0
    copy, cover_row, loop = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    # Then each line says the kind and the share of the upload that is ours
    assert (copy["track_id"], copy["kind"]) == ("song", "copy") and copy["share"] >= 0.4
    assert (cover_row["track_id"], cover_row["kind"]) == ("song", "partial") and cover_row["share"] < 0.28
    assert cover_row["reference_span_s"][0] == pytest.approx(5.0 + cover_row["upload_span_s"][0], abs=0.3)
    # and the excluded song is claimed by no one, the reason given
    assert (loop["track_id"], loop["kind"], loop["share"]) == (None, None, None)
    assert loop["declined"] == [{"track_id": "looped", "reason": "excluded", "shared_with": [], "score": loop["declined"][0]["score"]}]
