"""How a speed or pitch change is told to reviewers and in notices (wording.change_phrase)."""

import math

import pytest

from takedown_core.wording import change_phrase, evidence_summary


def _semis(speed: float) -> float:
    return 12 * math.log2(speed)


@pytest.mark.parametrize("speed", [0.75, 0.8, 0.85, 0.95, 1.05, 1.2, 1.35])
def test_resampled_copy_states_the_pitch_that_goes_with_the_speed(speed):
    text = change_phrase(speed, _semis(speed), "speed")
    pct = round(abs(speed - 1) * 100)
    assert f"{pct}% {'faster' if speed > 1 else 'slower'}" in text
    assert f"by {abs(_semis(speed)):.1f} semitone" in text
    assert "changed together" in text


def test_a_1_05_resample_is_0_8_semitones_not_1():
    # the example: 1.05x resampled = +0.84 semitones
    text = change_phrase(1.05, 0.8447, "speed")
    assert "pitch raised by 0.8 semitones" in text


def test_nightcore_is_told_as_speed_plus_a_shift_on_top():
    text = change_phrase(1.25, _semis(1.25) + 2.0, "mixed")
    assert "Plays 25% faster" in text
    assert "pitch raised by 5.9 semitones" in text
    assert "3.9 higher from the speed change, then 2.0 higher on top" in text
    assert "nightcore" in text


def test_slowed_and_shifted_up_is_not_called_nightcore():
    text = change_phrase(0.8, -2.0, "mixed")
    assert "3.9 lower from the speed change, then 1.9 higher on top" in text
    assert "nightcore" not in text


def test_stretch_and_pitch_shift():
    assert "tempo changed without changing the pitch" in change_phrase(1.1, 0.0, "time_stretch")
    assert change_phrase(1.0, -3.0, "pitch_shift") == (
        "Same speed as our recording; pitch lowered by 3.0 semitones (pitch shifted without changing the tempo)")
    assert change_phrase(1.0, 0.0, "none") == "No speed or pitch change"


def test_old_evidence_without_a_transform_label_is_inferred():
    assert "changed together" in change_phrase(1.2, _semis(1.2), "")
    assert "on top" in change_phrase(1.25, _semis(1.25) + 2.0, "")


def test_unknown_values_do_not_raise():
    assert change_phrase(None, None, "") == "Speed change unknown; pitch change unknown"


def test_evidence_summary_uses_the_same_sentence():
    s = evidence_summary({"speed": 1.25, "pitch_semitones": _semis(1.25) + 2.0, "transform": "mixed",
                          "false_match_rate": 1e-9, "offset_s": 1.0, "matched_duration_s": 10.0})
    assert s["change"] == change_phrase(1.25, _semis(1.25) + 2.0, "mixed")


def test_a_resample_states_the_pitch_its_measured_speed_implies():
    # the engine measures speed finer than pitch (1/3-semitone cells): 1.05x read as +0.87 st
    assert "pitch raised by 0.8 semitones" in change_phrase(1.05, 0.87, "speed")
    s = evidence_summary({"speed": 1.05, "pitch_semitones": 0.87, "transform": "speed", "false_match_rate": 1e-9})
    assert s["pitch"] == "Pitch raised by 0.8 semitones"
