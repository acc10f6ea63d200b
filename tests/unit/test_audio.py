"""Decoding uploads: every container/codec we accept, and clear errors for the rest."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from audio_fixtures import FORMATS, synth_track, write_audio  # noqa: E402

from takedown_core.audio import DecodeError, decode_audio  # noqa: E402

RATE = 11025
SECONDS = 4.0


@pytest.fixture(scope="module")
def signal() -> np.ndarray:
    return synth_track(seed=11, seconds=SECONDS, sample_rate=22050)


@pytest.mark.parametrize("fmt", FORMATS)
def test_decodes_every_supported_format_to_mono_float32_at_the_analysis_rate(tmp_path, signal, fmt):
    # Given a music-like signal written in a real container and codec
    path = write_audio(tmp_path / f"clip.{fmt}", signal, 22050)
    # When it is decoded to the analysis rate
    out = decode_audio(path, sample_rate=RATE)
    # Then it is mono float32 of about the right length and carries the signal
    assert out.dtype == np.float32 and out.ndim == 1
    assert abs(out.size / RATE - SECONDS) < 0.15
    assert 0.1 < float(np.max(np.abs(out))) < 2.0


def test_lossless_decode_matches_the_source(tmp_path, signal):
    path = write_audio(tmp_path / "clip.flac", signal, 22050)
    out = decode_audio(path, sample_rate=22050)
    assert out.size == signal.size
    assert np.max(np.abs(out - signal)) < 1e-3


def test_reads_from_a_binary_file_object(tmp_path, signal):
    data = write_audio(tmp_path / "clip.mp3", signal, 22050).read_bytes()
    out = decode_audio(io.BytesIO(data), sample_rate=RATE)
    assert abs(out.size / RATE - SECONDS) < 0.15


def test_max_seconds_caps_the_decode(tmp_path, signal):
    path = write_audio(tmp_path / "clip.m4a", signal, 22050)
    out = decode_audio(path, sample_rate=RATE, max_seconds=1.5)
    assert out.size == round(1.5 * RATE)


def test_a_text_file_is_not_audio(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("this is not music\n" * 100)
    with pytest.raises(DecodeError) as err:
        decode_audio(path, sample_rate=RATE)
    assert err.value.reason == "not_audio"
    assert str(err.value)


def test_an_empty_file_is_empty(tmp_path):
    path = tmp_path / "empty.mp3"
    path.write_bytes(b"")
    with pytest.raises(DecodeError) as err:
        decode_audio(path, sample_rate=RATE)
    assert err.value.reason == "empty"


@pytest.mark.parametrize("fmt", ["mp4", "ogg"])
def test_a_damaged_container_is_corrupt(tmp_path, signal, fmt):
    data = write_audio(tmp_path / f"clip.{fmt}", signal, 22050).read_bytes()
    damaged = tmp_path / f"damaged.{fmt}"
    # keep the container's magic, destroy everything after it
    damaged.write_bytes(data[:12] + bytes(np.random.default_rng(0).integers(0, 256, 3000, dtype=np.uint8)))
    with pytest.raises(DecodeError) as err:
        decode_audio(damaged, sample_rate=RATE)
    assert err.value.reason == "corrupt"


def test_a_truncated_stream_keeps_what_decoded(tmp_path, signal):
    data = write_audio(tmp_path / "clip.mp3", signal, 22050).read_bytes()
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(data[: len(data) // 2])
    out = decode_audio(cut, sample_rate=RATE)
    assert 0.3 * SECONDS < out.size / RATE < 0.7 * SECONDS


def test_a_video_without_audio_is_not_audio(tmp_path):
    import av

    path = tmp_path / "silent.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=5)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 40, np.uint8), format="rgb24")
            for packet in stream.encode(frame.reformat(format="yuv420p")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    with pytest.raises(DecodeError) as err:
        decode_audio(path, sample_rate=RATE)
    assert err.value.reason == "not_audio"


def test_min_seconds_rejects_a_too_short_clip(tmp_path, signal):
    path = write_audio(tmp_path / "clip.wav", signal[:22050], 22050)
    with pytest.raises(DecodeError) as err:
        decode_audio(path, sample_rate=RATE, min_seconds=2.0)
    assert err.value.reason == "too_short"
