"""Review clips, the pure part: the time mapping (checked against real engine matches of sped
up and slowed excerpts), the clip plan, the "brought back" filter settings (checked by ear's
proxy: a tone's pitch and a clip's length through PyAV's filters), the page's view, the CSP."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from audio_fixtures import resample_linear, synth_track  # noqa: E402

from takedown_core.clips import (  # noqa: E402
    MAX_CLIP_S,
    MAX_CLIPS,
    PAD_S,
    ClipSet,
    clips_view,
    plan_clips,
    rectify_for,
    reference_time,
    upload_duration_of,
    upload_time,
)
from takedown_core.engine import DEFAULT_PARAMS, Index, IndexWriter  # noqa: E402
from takedown_core.pages import review_page, security_headers  # noqa: E402

SR = DEFAULT_PARAMS.sample_rate


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    w = IndexWriter()
    for i in range(3):
        w.add(f"t{i}", synth_track(3000 + i, 60.0, SR))
    d = tmp_path_factory.mktemp("clips") / "ix"
    w.write(d)
    return Index.open(d)


# --------------------------------------------------------------------------- the time mapping


@pytest.mark.parametrize("factor", [1.25, 0.8, 1.04, 1.0])
def test_given_a_sped_or_slowed_excerpt_when_matched_then_reference_time_maps_upload_time_onto_our_recording(
        index, factor):
    # Given 20 s of t1 from 12 s, played `factor` times faster (resampled: pitch follows)
    start = 12.0
    x = synth_track(3001, 60.0, SR)
    upload = resample_linear(x[int(start * SR): int((start + 20) * SR)], factor)
    # When the engine matches it
    best = index.query(upload).best
    assert best is not None and best.track_id == "t1"
    # Then upload second q plays our second start + factor*q, and the mapping says so
    for q in (0.0, 5.0, 10.0, len(upload) / SR - 1):
        assert reference_time(q, offset_s=best.offset_s, speed=best.speed) == pytest.approx(start + factor * q, abs=0.15)
    # and agrees with the engine's own landmarks and reference span
    for q, r in best.landmarks:
        assert reference_time(q, offset_s=best.offset_s, speed=best.speed) == pytest.approx(r, abs=0.25)
    assert upload_time(reference_time(7.0, offset_s=best.offset_s, speed=best.speed),
                       offset_s=best.offset_s, speed=best.speed) == pytest.approx(7.0)


# --------------------------------------------------------------------------- the plan


def _evidence(**kw):
    doc = {"track_id": "t1", "offset_s": 10.0, "query_start_s": 5.0, "matched_duration_s": 12.0, "speed": 1.0,
           "pitch_semitones": 0.0, "transform": "none", "query": {"query_duration_s": 30.0}}
    return {**doc, **kw}


def test_given_a_short_match_then_one_upload_clip_padded_and_the_same_moments_of_our_recording():
    plan = plan_clips(_evidence(), upload_duration_s=30.0)
    roles = [(s.role, s.index) for s in plan.specs]
    assert roles == [("upload", 0), ("reference", 0)]  # no speed or pitch change: no third clip
    up, ref = plan.specs
    assert (up.upload_start_s, up.upload_end_s) == (5.0 - PAD_S, 5.0 + 12.0 + PAD_S)
    assert (ref.reference_start_s, ref.reference_end_s) == (10.0 + up.upload_start_s, 10.0 + up.upload_end_s)
    assert plan.note == ""


def test_given_the_match_at_the_upload_edges_then_clips_stay_inside_both_recordings():
    # the upload starts 1 s before our recording (offset -1) and ends 2 s after the match
    plan = plan_clips(_evidence(offset_s=-1.0, query_start_s=0.5, matched_duration_s=10.0), upload_duration_s=12.5)
    up, ref = plan.specs
    assert up.upload_start_s == 0.0 and up.upload_end_s == 12.5
    assert ref.reference_start_s == 0.0 and ref.upload_start_s == pytest.approx(1.0)  # our second 0 is upload 1.0


def test_given_a_long_match_then_at_most_three_clips_of_at_most_twenty_seconds_spread_over_it():
    plan = plan_clips(_evidence(query_start_s=10.0, matched_duration_s=600.0), upload_duration_s=900.0)
    ups = [s for s in plan.specs if s.role == "upload"]
    assert len(ups) == MAX_CLIPS
    assert all(s.upload_end_s - s.upload_start_s <= MAX_CLIP_S + 1e-9 for s in ups)
    assert ups[0].upload_start_s == 10.0 - PAD_S and ups[-1].upload_end_s == pytest.approx(610.0 + PAD_S)


def test_given_a_speed_change_then_a_third_clip_brings_the_upload_back_and_lasts_as_long_as_our_span():
    plan = plan_clips(_evidence(speed=1.25, pitch_semitones=12 * math.log2(1.25), transform="speed"),
                      upload_duration_s=30.0)
    third = [s for s in plan.specs if s.role == "upload_rectified"]
    assert len(third) == 1
    r = third[0]
    assert r.rectify is not None and r.rectify.rate_factor == pytest.approx(0.8) and r.rectify.tempo == 1.0
    assert r.duration_s == pytest.approx((r.upload_end_s - r.upload_start_s) * 1.25, abs=0.01)


def test_given_reference_audio_is_off_then_upload_clips_only_and_the_page_says_so():
    plan = plan_clips(_evidence(speed=1.1), upload_duration_s=30.0, reference_audio=False)
    assert [s.role for s in plan.specs] == ["upload"]
    assert plan.note == "Our recording is not available for listening in this account."


def test_given_a_deepfake_without_a_match_then_one_upload_clip_from_the_start_and_no_reference():
    plan = plan_clips({}, upload_duration_s=8.0)
    assert [(s.role, s.upload_start_s, s.upload_end_s) for s in plan.specs] == [("upload", 0.0, 8.0)]
    assert plan.track_id is None and "no recording of ours" in plan.note


def test_upload_duration_comes_from_the_query_figures_or_the_decode_report():
    assert upload_duration_of({"query": {"query_duration_s": 31.5}}) == 31.5
    assert upload_duration_of({"query": {"decode": {"decoded_s": 12.0}}}) == 12.0
    assert upload_duration_of({}) is None


# --------------------------------------------------------------------------- bringing it back


@pytest.mark.parametrize("speed,pitch,factor,tempo", [
    (1.0, 0.0, None, None),                            # nothing to bring back
    (1.25, 12 * math.log2(1.25), 0.8, 1.0),            # resampled: asetrate alone
    (1.10, 0.0, 1.0, 1 / 1.10),                        # time-stretch: atempo alone
    (1.0, 2.0, 2 ** (-2 / 12), 2 ** (2 / 12)),         # pitch-only: both
    (0.8, -3.0, 2 ** (3 / 12), 2 ** (-3 / 12) / 0.8),  # mixed
])
def test_rectify_factors(speed, pitch, factor, tempo):
    r = rectify_for(speed, pitch)
    if factor is None:
        assert r is None
        return
    assert r.rate_factor == pytest.approx(factor) and r.tempo == pytest.approx(tempo)


@pytest.mark.parametrize("speed,pitch", [(1.25, 12 * math.log2(1.25)), (1.1, 0.0), (1.0, 2.0), (0.8, -3.0)])
def test_given_a_changed_tone_when_brought_back_through_the_filters_then_pitch_and_length_are_ours(speed, pitch):
    from takedown_adapters.clips import rectify

    rate, ours_hz, seconds = 44_100, 440.0, 4.0
    # the upload: our 440 Hz tone (4 s) shifted by `pitch` and played `speed` times faster
    hz, n = ours_hz * 2 ** (pitch / 12), int(seconds / speed * rate)
    upload = (0.3 * np.sin(2 * np.pi * hz * np.arange(n) / rate)).astype(np.float32)
    back = rectify(upload, rectify_for(speed, pitch), rate=rate)
    assert back.size / rate == pytest.approx(seconds, rel=0.01)
    spectrum = np.abs(np.fft.rfft(back[rate // 2: rate // 2 + rate]))
    assert np.argmax(spectrum) == pytest.approx(ours_hz, abs=2)


# --------------------------------------------------------------------------- the page


CLIPS = {"clips": [
    {"role": "upload", "index": 0, "key": "clips/c/r/0-upload.m4a", "upload_start_s": 2.0, "upload_end_s": 22.0,
     "reference_start_s": None, "reference_end_s": None, "duration_s": 20.0, "content_type": "audio/mp4"},
    {"role": "reference", "index": 0, "key": "clips/c/r/0-reference.m4a", "upload_start_s": 2.0,
     "upload_end_s": 22.0, "reference_start_s": 62.0, "reference_end_s": 87.0, "duration_s": 25.0},
], "problems": [], "note": "", "reference_audio": True}


def test_given_clips_then_the_view_labels_each_in_both_recordings_times_with_its_link():
    view = clips_view(CLIPS, lambda key: f"https://media.example/{key}?sig=1")
    [part] = view["parts"]
    assert [i["label"] for i in part["items"]] == ["The upload, 0:02–0:22",
                                                    "Our recording, 1:02–1:27 (the same moments)"]
    assert part["items"][0]["url"] == "https://media.example/clips/c/r/0-upload.m4a?sig=1"
    assert clips_view(None, str) is None


def test_given_a_review_with_clips_then_the_page_has_plain_audio_elements_and_no_script():
    view = clips_view(CLIPS, lambda key: f"https://media.example/{key}?a=1&b=2")
    page = review_page(case={"case_id": "c", "status": "IN_REVIEW", "evidence": {}, "source": {}, "work": {}},
                       review={"reviewer": "r@x", "expires_at": 10, "round": 0}, action_url="x/decision",
                       csrf="t", exp=10, sig="s", now=0, clips=view)
    assert page.count('<audio controls preload="metadata"') == 2
    assert 'src="https://media.example/clips/c/r/0-upload.m4a?a=1&amp;b=2" type="audio/mp4"' in page
    assert "<script" not in page


def test_given_the_upload_was_gone_then_the_page_says_why_and_plays_nothing():
    cs = ClipSet(problems=["The upload's file is no longer in the partner's bucket (b/k), so no clip of it could be cut."],
                 reference_audio=False)
    view = clips_view(cs.to_dict(), str)
    page = review_page(case={"case_id": "c", "status": "IN_REVIEW", "evidence": {}, "source": {}, "work": {}},
                       review={"reviewer": "r@x", "expires_at": 10, "round": 0}, action_url="x/decision",
                       csrf="t", exp=10, sig="s", now=0, clips=view)
    assert "<audio" not in page
    assert "no longer in the partner&#x27;s bucket" in page
    assert "Our recording is not available for listening in this account." in page


def test_the_csp_names_exactly_the_media_origin_and_nothing_more():
    plain = security_headers()["Content-Security-Policy"]
    with_media = security_headers("https://evidence-b.s3.eu-west-1.amazonaws.com")["Content-Security-Policy"]
    assert "media-src" not in plain
    assert with_media == plain + "; media-src https://evidence-b.s3.eu-west-1.amazonaws.com"
    with pytest.raises(ValueError):
        security_headers("https://a.example; script-src *")


# --------------------------------------------------------------------------- the decoder's seek


@pytest.mark.parametrize("fmt", ["flac", "m4a", "mp3", "ogg", "wav"])
def test_given_a_start_when_decoding_then_the_samples_are_the_full_decodes_from_that_second(tmp_path, fmt):
    from audio_fixtures import write_audio

    from takedown_core.audio import decode

    x = synth_track(3100, 40.0, 22050)
    path = write_audio(tmp_path / f"t.{fmt}", x, 22050)
    full = decode(path, sample_rate=22050).samples
    part = decode(path, sample_rate=22050, start_seconds=23.0, max_seconds=5.0)
    assert part.samples.size == 5 * 22050
    assert part.report.decoded_s == pytest.approx(28.0)
    same = full[23 * 22050: 28 * 22050]
    # sample-accurate: the same samples (a lossy codec's decoder state after a seek differs a little)
    assert np.corrcoef(part.samples[2000:], same[2000:])[0, 1] > 0.999
    lags = range(-50, 51)
    best = max(lags, key=lambda lag: float(np.dot(part.samples[2000:60000], full[23 * 22050 + 2000 + lag: 23 * 22050 + 60000 + lag])))
    assert best == 0


def test_given_a_deepfake_without_a_match_then_the_listen_section_does_not_speak_of_a_matched_part():
    from takedown_core.clips import NO_MATCH_NOTE

    cs = {"clips": [{**CLIPS["clips"][0], "role": "upload", "upload_start_s": 0.0, "upload_end_s": 20.0,
                     "reference_start_s": None, "reference_end_s": None, "duration_s": 20.0}],
          "problems": [], "note": NO_MATCH_NOTE, "reference_audio": True}
    view = clips_view(cs, lambda key: f"https://media.example/{key}")
    page = review_page(case={"case_id": "c", "status": "IN_REVIEW", "evidence": {}, "source": {}, "work": {}},
                       review={"reviewer": "r@x", "expires_at": 10, "round": 0}, action_url="x/decision",
                       csrf="t", exp=10, sig="s", now=0, clips=view)
    listen = page.split('id="listen-h"')[1].split("</section>")[0]
    assert "the upload’s opening seconds" in listen and "matched part" not in listen.replace("no matched part", "")
    assert view["parts"][0]["title"] == "The upload’s opening" and NO_MATCH_NOTE in page
