"""Each kind of case through the running stack to its own legal route (issue 15): a deepfake
presented as our artist's AI voice is reviewed by a person and ends in a likeness complaint
on the platform's likeness route, never in a copyright notice."""

from __future__ import annotations

import json

import pytest

from takedown_local import driver
from takedown_local.runtime import LocalStack

from tests.workflow.conftest import uploads_dir

pytestmark = pytest.mark.timeout(180)


def test_given_a_deepfake_of_our_artist_when_a_reviewer_approves_then_a_likeness_complaint_and_no_copyright_notice(
        tmp_path, media):
    sidecars = {
        "unrelated.json": json.dumps({"source_url": "https://www.youtube.com/watch?v=fake01", "platform": "youtube",
                                      "uploader": "voice lab", "title": "The Lanterns - Unreleased (AI Cover)",
                                      "tags": ["RVC", "voice model"]}),
        "excerpt.json": json.dumps({"source_url": "https://www.youtube.com/watch?v=copy01", "platform": "youtube",
                                    "title": "Reference 0 (AI cover)"}),
    }
    with LocalStack("dev") as stack:
        up = uploads_dir(tmp_path, media, ["unrelated.ogg", "excerpt.mp3"], sidecars)
        summary = driver.run(stack, catalog=media["catalog"], uploads=up, decide="approve")
        rows = {r["file"]: r for r in summary["uploads"]}
        assert summary["lost"] == 0 and not summary["failed"]
        fake, copy = rows["unrelated.ogg"], rows["excerpt.mp3"]
        assert (fake["outcome"], fake["kind"], fake["track_id"], fake["case_status"]) == (
            "case", "suspected_deepfake", "artist:lanterns", "NOTICE_SENT")
        assert (copy["kind"], copy["case_status"]) == ("copy", "NOTICE_SENT")  # our recording: a copy, whatever its title
        case = stack.repository().get_case(fake["case_id"])
        assert case.evidence == {} and case.likeness["artist"]["name"] == "The Lanterns"
        assert case.decision["decision"] == "approve" and not str(case.decision["by"]).startswith("policy:")
        to_fake = [m for m in stack.sent_mail() if "fake01" in m["body"] and not m["subject"].lower().startswith(
            ("review", "[review", "reminder", "[copy]"))]  # the rights desk's copy is not a notice
        assert [m["to"] for m in to_fake] == [["privacy@youtube.example"]]
        assert "asserts no copyright" in to_fake[0]["body"] and "ELVIS Act" in to_fake[0]["body"]
        assert case.notice["law"] == "LIKENESS-US-ROP"


def test_given_our_recording_under_someone_elses_lead_then_a_partial_case_and_as_an_ai_cover_two_notices(tmp_path, media):
    """Our reference 6 dB under a louder lead that is not ours: a partial case, reviewed, and a
    copyright notice that says which part is ours; presented as our artist's AI voice, an AI
    cover that sends both the copyright notice and the likeness complaint."""
    import numpy as np

    from takedown_local.corpus import _mix
    from takedown_local.media import synth_track, write_audio
    from tests.workflow.conftest import SR

    ours = synth_track(202, 60, sample_rate=SR)[10 * SR: 40 * SR]  # ref-2's audio, as the catalogue holds it
    lead = synth_track(4711, 30, sample_rate=SR)
    up = tmp_path / "uploads"
    up.mkdir()
    write_audio(up / "cover.mp3", _mix(ours, lead, -6.0), SR)
    write_audio(up / "ai-cover.mp3", _mix(ours, lead * np.float32(0.99), -6.0), SR)
    (up / "cover.json").write_text(json.dumps({"source_url": "https://www.youtube.com/watch?v=cover01",
                                               "platform": "youtube", "title": "my karaoke cover"}))
    (up / "ai-cover.json").write_text(json.dumps({"source_url": "https://www.youtube.com/watch?v=aicover01",
                                                  "platform": "youtube", "title": "The Lanterns - AI cover (RVC)"}))
    with LocalStack("dev") as stack:
        summary = driver.run(stack, catalog=media["catalog"], uploads=up, decide="approve")
        rows = {r["file"]: r for r in summary["uploads"]}
        assert summary["lost"] == 0 and not summary["failed"]
        assert (rows["cover.mp3"]["kind"], rows["cover.mp3"]["track_id"], rows["cover.mp3"]["case_status"]) == (
            "partial", "ref-2", "NOTICE_SENT")
        notice = [m for m in stack.sent_mail() if m["to"] == ["copyright@youtube.example"] and "v=cover01" in m["body"]]
        assert len(notice) == 1 and "reproduces part of the copyrighted work" in notice[0]["body"]
        ai = rows["ai-cover.mp3"]
        assert (ai["kind"], ai["track_id"], ai["case_status"]) == ("suspected_ai_cover", "ref-2", "NOTICE_SENT")
        sent = sorted(m["to"][0] for m in stack.sent_mail() if "aicover01" in m["body"]
                      and not m["subject"].lower().startswith(("review", "[review", "reminder", "[copy]")))
        assert sent == ["copyright@youtube.example", "privacy@youtube.example"]
