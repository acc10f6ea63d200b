"""`takedown local run` as a user runs it: folders in, a JSON summary out, nothing lost."""

from __future__ import annotations

import json

import pytest

from takedown_local.cli import main

from tests.workflow.conftest import uploads_dir

pytestmark = pytest.mark.timeout(180)


def test_given_catalogue_and_uploads_when_local_run_with_approve_then_the_summary_accounts_for_every_file(
        tmp_path, media, capsys):
    up = uploads_dir(tmp_path, media, ["excerpt.mp3", "unrelated.ogg"])
    (up / "platform-b").mkdir()
    (up / "platform-b" / "clip.m4a").write_bytes(media["sped.m4a"].read_bytes())
    (up / "readme.txt").write_text("not audio at all")
    (up / "empty.mp3").write_bytes(b"")
    out = tmp_path / "summary.json"

    code = main(["local", "run", "--catalog", str(media["catalog"]), "--uploads", str(up),
                 "--decide", "approve", "--summary", str(out)])

    assert code == 0
    summary = json.loads(out.read_text())
    assert set(summary) == {"uploads", "lost"} and summary["lost"] == 0
    rows = {r["file"]: r for r in summary["uploads"]}
    assert set(rows) == {"excerpt.mp3", "unrelated.ogg", "platform-b/clip.m4a", "readme.txt", "empty.mp3"}
    for r in rows.values():
        assert set(r) == {"file", "outcome", "reason", "case_id", "track_id", "case_status"}
    assert rows["excerpt.mp3"]["case_status"] == "NOTICE_SENT" and rows["excerpt.mp3"]["track_id"] == "ref-0"
    assert rows["platform-b/clip.m4a"]["case_status"] == "NOTICE_SENT"
    assert rows["platform-b/clip.m4a"]["track_id"] == "ref-1"
    assert rows["unrelated.ogg"]["outcome"] == "no_match"
    assert (rows["readme.txt"]["outcome"], rows["readme.txt"]["reason"]) == ("quarantined", "not_audio")
    assert (rows["empty.mp3"]["outcome"], rows["empty.mp3"]["reason"]) == ("quarantined", "empty")
    printed = capsys.readouterr().out
    assert "lost: 0" in printed
