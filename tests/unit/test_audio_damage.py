"""Damaged and hostile uploads: all the audio that is there reaches the matcher, the report
says how much that was, and nothing but DecodeError ever comes out.

Every damaged input is made here from synthetic music with real codecs (no downloads); the
inputs a hostile trial found are marked with what the old decoder did with them.
"""

from __future__ import annotations

import io
import json
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from audio_fixtures import (  # noqa: E402
    mp4_with_oversized_sample,
    synth_track,
    wav_bytes,
    write_audio,
    write_silence,
)

from takedown_core.audio import DecodeError, DecodeReport, decode, decode_audio  # noqa: E402
from takedown_core.engine import DEFAULT_PARAMS, Index, IndexWriter  # noqa: E402

RATE = DEFAULT_PARAMS.sample_rate  # the analysis rate, 11,025 Hz
SR = 22050


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))


def _plain_decode_seconds(path) -> float:
    """Seconds a plain PyAV loop decodes (every packet, errors skipped, no seeking)."""
    import av

    seconds = 0.0
    with av.open(str(path)) as c:
        stream = c.streams.audio[0]
        for packet in c.demux(stream):
            try:
                seconds += sum(f.samples / f.sample_rate for f in packet.decode())
            except av.error.FFmpegError:
                pass
    return seconds


def _decode_error(path, **kw) -> DecodeError:
    with pytest.raises(DecodeError) as err:
        decode(path, sample_rate=RATE, **kw)
    return err.value


@pytest.fixture(scope="module")
def music() -> np.ndarray:
    return synth_track(21, 10.0, SR)


# A small catalogue, to check that damaged-but-decoded uploads still match the right track.
CATALOGUE_SEEDS = (3101, 3102, 3103, 3104)


@pytest.fixture(scope="module")
def index(tmp_path_factory) -> Index:
    writer = IndexWriter()
    for seed in CATALOGUE_SEEDS:
        x = synth_track(seed, 20.0, RATE)
        writer.add(f"track-{seed}", x, duration_s=20.0, metadata={"title": f"Track {seed}"})
    out = tmp_path_factory.mktemp("index") / "v1"
    writer.write(out)
    return Index.open(out)


# --------------------------------------------------------------------------- stream changes


def test_two_mp3s_joined_at_another_sample_rate_decode_to_the_end(tmp_path, index):
    # Given an unrelated 4 s intro at 44.1 kHz joined (byte concatenation) to a catalogue
    # track at 48 kHz (the old decoder stopped at the join: 4 s of 24 s, and said nothing)
    intro = write_audio(tmp_path / "intro.mp3", synth_track(77, 4.0, 44100), 44100).read_bytes()
    body = write_audio(tmp_path / "body.mp3", synth_track(3102, 20.0, 48000), 48000).read_bytes()
    joined = tmp_path / "joined.mp3"
    joined.write_bytes(intro + body)
    # When it is decoded
    out = decode(joined, sample_rate=RATE)
    # Then all of it is there, the change was followed, and nothing was lost: the second
    # file's ID3 tag between the parts is metadata, not a damaged packet
    assert out.report.decoded_s == pytest.approx(24.0, abs=0.2)
    assert out.report.stream_changes == 1
    assert out.report.bad_packets == 0 and not out.report.partial
    assert out.samples.size == pytest.approx(24.0 * RATE, abs=0.2 * RATE)
    # and the body matches its track
    best = index.query(out.samples).best
    assert best is not None and best.track_id == "track-3102"
    assert best.offset_s == pytest.approx(-4.0, abs=0.2)


def test_a_mono_intro_joined_to_a_stereo_body_decodes_to_the_end(tmp_path, music):
    # Given a 3 s mono MP3 joined to a 10 s stereo MP3 (the old decoder stopped at the switch)
    intro = write_audio(tmp_path / "intro.mp3", synth_track(5, 3.0, SR), SR).read_bytes()
    body = write_audio(tmp_path / "body.mp3", np.stack([music, 0.7 * music]), SR).read_bytes()
    joined = tmp_path / "joined.mp3"
    joined.write_bytes(intro + body)
    # When it is decoded
    out = decode(joined, sample_rate=RATE)
    # Then both parts are there and the layout change was followed
    assert out.report.decoded_s == pytest.approx(13.0, abs=0.2)
    assert out.report.stream_changes == 1
    assert out.report.downmix == "sum"
    assert _rms(out.samples[-5 * RATE :]) > 0.05  # the stereo body carries the music


def _frame(av, fmt: str, layout: str, rate: int, seconds: float, seed: int):
    x = synth_track(seed, seconds, rate)
    channels = 2 if layout == "stereo" else 1
    base = fmt.rstrip("p")
    scale = {"s16": 32767, "s32": 2**31 - 1}.get(base)
    data = np.repeat(x[None, :], channels, axis=0)
    if scale:
        data = (data.astype(np.float64) * scale).astype(np.int16 if base == "s16" else np.int32)
    if not fmt.endswith("p"):
        data = data.T.reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt, layout=layout)
    frame.sample_rate = rate
    return frame


def test_every_kind_of_parameter_change_is_followed():
    # Given decoded frames whose sample format, layout and rate all change along the way,
    # including frames already at the analysis format (the resampler then passes them
    # through, and used to pass the next, different ones through unconverted too)
    import av

    from takedown_core.audio import _Converter, _MonoSink

    frames = [
        ("s16", "mono", 44100, 0.5),
        ("fltp", "stereo", 48000, 0.5),
        ("s32", "mono", 22050, 0.5),
        ("flt", "mono", RATE, 0.5),
        ("s16p", "stereo", RATE, 0.5),
        ("flt", "mono", RATE, 0.5),
    ]
    sink = _MonoSink(cap=None, block=RATE)
    convert = _Converter(av, RATE, sink)
    # When they go through the converter
    for i, (fmt, layout, rate, seconds) in enumerate(frames):
        convert.push(_frame(av, fmt, layout, rate, seconds, seed=i))
    convert.flush()
    out = sink.samples()
    # Then every change was followed and every frame's audio came out, at the analysis rate
    assert convert.changes == len(frames) - 1
    assert out.size == pytest.approx(3.0 * RATE, abs=0.02 * RATE)
    for k in range(len(frames)):
        assert _rms(out[int((k * 0.5 + 0.1) * RATE) : int((k * 0.5 + 0.4) * RATE)]) > 0.03


# --------------------------------------------------------------------------- damaged packets


def test_garbage_overwriting_an_mp3_is_skipped_as_ffmpeg_does(tmp_path):
    # Given 4 KB of garbage written over a 30 s MP3 one second in (the old decoder kept
    # 0.96 s and then called the file too short)
    path = write_audio(tmp_path / "clip.mp3", synth_track(31, 30.0, SR), SR)
    data = bytearray(path.read_bytes())
    at = len(data) // 30
    data[at : at + 4096] = np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    damaged = tmp_path / "damaged.mp3"
    damaged.write_bytes(bytes(data))
    # When it is decoded with the matcher's floor
    out = decode(damaged, sample_rate=RATE, min_seconds=1.0)
    # Then the bad packets are skipped and counted, and the rest decodes (ffmpeg: 28.97 s)
    r = out.report
    assert r.decoded_s > 28.5
    assert r.bad_packets >= 1 and r.partial
    assert r.claimed_s == pytest.approx(30.0, abs=0.1)
    assert "damaged packet" in r.describe()


def test_a_file_that_is_mostly_garbage_is_corrupt_with_its_figures(tmp_path):
    # Given a 30 s MP3 whose bytes after the first 0.9 s are garbage
    path = write_audio(tmp_path / "clip.mp3", synth_track(32, 30.0, SR), SR)
    data = bytearray(path.read_bytes())
    at = int(len(data) * 0.9 / 30)
    data[at:] = np.random.default_rng(1).integers(0, 256, len(data) - at, dtype=np.uint8).tobytes()
    damaged = tmp_path / "damaged.mp3"
    damaged.write_bytes(bytes(data))
    # When it is decoded with the matcher's floor of 1 s
    err = _decode_error(damaged, min_seconds=1.0)
    # Then it is corrupt (not too_short), and the message gives the figures
    assert err.reason == "corrupt"
    assert "decoded of the 30.0 s the file claims" in str(err)
    assert "packets did not decode" in str(err)
    assert err.report is not None and err.report.partial and err.report.bad_packets > 0


def test_more_failed_packets_than_good_ones_is_corrupt(tmp_path, music):
    # Given an MP4 (index first) whose audio data after 40 % of the file is garbage: the index
    # still delimits every packet, and most of them no longer decode
    path = write_audio(tmp_path / "clip.m4a", music, SR, faststart=True)
    data = bytearray(path.read_bytes())
    start, end = int(len(data) * 0.4), len(data) - 100
    data[start:end] = np.random.default_rng(2).integers(0, 256, end - start, dtype=np.uint8).tobytes()
    damaged = tmp_path / "damaged.m4a"
    damaged.write_bytes(bytes(data))
    # When it is decoded: about 4 s decode, well above the floor
    err = _decode_error(damaged, min_seconds=1.0)
    # Then it is quarantined as corrupt: what decoded is scraps between the damage
    assert err.reason == "corrupt"
    assert err.report.bad_packets > err.report.packets / 2
    assert err.report.decoded_s > 2.0
    assert f"{err.report.bad_packets} of {err.report.packets} packets did not decode" in str(err)


def test_a_demuxer_failure_is_seeked_past(tmp_path, music):
    # Given an MP4 (audio and video interleaved) whose sample table says one audio sample,
    # two thirds in, is 512 MB larger than it is: ffmpeg's demuxer fails there with ENOMEM
    # (the old decoder stopped there, at 6.6 s of 10 s)
    path = write_audio(tmp_path / "clip.mp4", music, SR)
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(mp4_with_oversized_sample(path.read_bytes()))
    # When it is decoded
    out = decode(damaged, sample_rate=RATE)
    # Then decoding seeks past the failure and goes on to the end, and says audio was lost
    r = out.report
    assert r.decoded_s > 9.0
    assert r.stopped_by is None
    assert r.bad_packets >= 1 and r.partial


def test_a_demuxer_failure_that_nothing_can_be_read_past_is_reported(tmp_path, music):
    # Given the same damage in an audio-only MP4 (one chunk: the damage hides the rest)
    path = write_audio(tmp_path / "clip.m4a", music, SR)
    damaged = tmp_path / "damaged.m4a"
    damaged.write_bytes(mp4_with_oversized_sample(path.read_bytes()))
    # When it is decoded
    out = decode(damaged, sample_rate=RATE)
    # Then what was read is kept, and the report says what ended decoding
    r = out.report
    assert r.decoded_s == pytest.approx(6.6, abs=0.2)
    assert r.stopped_by and "6.6 s" in r.stopped_by
    assert r.partial and "stopped early" in r.describe()


# --------------------------------------------------------------------------- downmix


def test_a_phase_inverted_channel_does_not_remove_the_music(tmp_path, index):
    # Given a catalogue track as stereo MP3 with the right channel phase-inverted (it sounds
    # normal on any stereo device; the old L+R downmix decoded it to silence)
    x = synth_track(3103, 20.0, SR)
    path = write_audio(tmp_path / "inverted.mp3", np.stack([x, -x]), SR)
    # When it is decoded
    out = decode(path, sample_rate=RATE)
    # Then the difference was analysed, the music is there at its level, and it matches
    assert out.report.downmix == "difference"
    assert _rms(out.samples) > 0.5 * _rms(x)
    assert "phase-inverted" in out.report.describe()
    best = index.query(out.samples).best
    assert best is not None and best.track_id == "track-3103"


def test_an_ordinary_stereo_mix_is_folded_exactly_as_before(tmp_path, music):
    # Given an ordinary stereo mix: the music in both channels, other parts panned
    other = synth_track(22, 10.0, SR)
    path = write_audio(tmp_path / "mix.flac", np.stack([music + 0.3 * other, 0.8 * music - 0.1 * other]) * 0.7, SR)
    # When it is decoded
    out = decode(path, sample_rate=RATE)
    # Then it is the sum throughout, sample for sample what ffmpeg's own downmix gives
    # (the gain the catalogue was decoded with)
    import av

    with av.open(str(path)) as c:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        ref = np.concatenate(
            [f.to_ndarray().reshape(-1) for p in c.demux(c.streams.audio[0]) for fr in p.decode()
             for f in resampler.resample(fr)]
            + [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
        )
    assert out.report.downmix == "sum"
    assert out.samples.size == ref.size
    assert np.max(np.abs(out.samples - ref)) < 1e-5


@pytest.mark.parametrize(
    "left,right",
    [
        pytest.param(lambda a, b: a, lambda a, b: b, id="unrelated parts in each channel"),
        pytest.param(lambda a, b: a, lambda a, b: 0 * a, id="all hard left"),
        pytest.param(lambda a, b: a + 0.6 * b, lambda a, b: a - 0.6 * b, id="wide: a part in anti-phase"),
    ],
)
def test_wide_and_panned_mixes_keep_the_sum(tmp_path, music, left, right):
    other = synth_track(23, 10.0, SR)
    path = write_audio(tmp_path / "mix.flac", 0.5 * np.stack([left(music, other), right(music, other)]), SR)
    assert decode(path, sample_rate=RATE).report.downmix == "sum"


def test_a_polarity_flip_half_way_is_followed_block_by_block(tmp_path, music):
    half = music.size // 2
    right = np.concatenate([music[:half], -music[half:]])
    path = write_audio(tmp_path / "flip.flac", np.stack([music, right]), SR)
    out = decode(path, sample_rate=RATE)
    assert out.report.downmix == "mixed"
    # the sum cancels after the flip, the difference before it: each block takes the one that
    # carries the music, so only the block that straddles the flip (1.5 s) can lose some
    per_second = [_rms(out.samples[i * RATE : (i + 1) * RATE]) for i in range(int(out.report.decoded_s))]
    assert sum(r < 0.3 * _rms(music) for r in per_second) <= 1


def _fold(blocks_db: list[float]) -> str:
    """Fold stereo blocks (1 s each) whose side is louder than their mid by the given dB."""
    from takedown_core.audio import _MonoSink

    rng = np.random.default_rng(5)
    sink = _MonoSink(cap=None, block=RATE)
    for db in blocks_db:
        mid, side = rng.standard_normal((2, RATE)).astype(np.float32) * 0.1
        side *= np.float32(10 ** (db / 20))
        sink.add_stereo(mid + side, mid - side)
    sink.samples()
    return sink.downmix


@pytest.mark.parametrize(
    "blocks_db,expected",
    [
        ([-10.0] * 6, "sum"),  # an ordinary mix
        ([-1.0] * 6, "sum"),  # a very wide one
        ([2.0] * 6, "sum"),  # side a little louder: not clearly
        ([-10.0] * 4 + [4.0] + [-10.0] * 2, "mixed"),  # one block twice as loud in the side
        ([4.0] * 6, "difference"),  # an inverted copy of a wide mix
    ],
)
def test_the_difference_is_taken_only_where_it_is_clearly_louder(blocks_db, expected):
    assert _fold(blocks_db) == expected


def test_the_downmix_holds_one_block_of_stereo_and_respects_the_cap():
    from takedown_core.audio import _MonoSink

    sink = _MonoSink(cap=int(2.5 * RATE), block=RATE)
    x = np.ones(4 * RATE, np.float32)
    sink.add_stereo(x, x)
    assert sink.fill <= RATE and sink.full
    assert sink.samples().size == int(2.5 * RATE)


# --------------------------------------------------------------------------- truncation


@pytest.mark.parametrize("fmt", ["ogg", "mp3", "flac", "m4a"])
def test_a_file_cut_at_30_percent_decodes_what_is_there_and_is_flagged(tmp_path, music, fmt):
    # Given a 10 s file cut at 30 % of its bytes (MP4 with its index first, as streamed)
    data = write_audio(tmp_path / f"clip.{fmt}", music, SR, faststart=True).read_bytes()
    cut = tmp_path / f"cut.{fmt}"
    cut.write_bytes(data[: int(len(data) * 0.3)])
    # When it is decoded with the matcher's floor
    out = decode(cut, sample_rate=RATE, min_seconds=1.0)
    # Then what is there is decoded (all of what a plain decode loop gets: the seeks past the
    # early end first take the frames the decoder holds back), and the report says audio is
    # missing
    assert 1.5 < out.report.decoded_s < 4.0
    assert out.report.decoded_s >= _plain_decode_seconds(cut) - 0.03
    assert out.report.partial
    assert out.samples.size == round(out.report.decoded_s * RATE)


def test_an_mp4_cut_before_its_index_is_corrupt(tmp_path, music):
    # An MP4 written in one pass keeps its index (moov) at the end: cut, nothing locates
    # the samples
    data = write_audio(tmp_path / "clip.m4a", music, SR).read_bytes()
    cut = tmp_path / "cut.m4a"
    cut.write_bytes(data[: int(len(data) * 0.3)])
    assert _decode_error(cut).reason == "corrupt"


def test_an_intact_file_is_not_partial(tmp_path, music):
    for fmt in ("ogg", "mp3", "flac", "m4a", "webm"):
        r = decode(write_audio(tmp_path / f"clip.{fmt}", music[: 4 * SR], SR), sample_rate=RATE).report
        assert not r.partial, (fmt, r)
        assert r.stopped_by is None and r.bad_packets == 0


def test_a_wav_claiming_a_huge_length_decodes_its_real_data_and_is_flagged(tmp_path):
    # Given a WAV whose header claims 0x7FFFFFFF bytes of data and that holds 5 s
    pcm = (synth_track(41, 5.0, SR) * 32767).astype("<i2").tobytes()
    path = tmp_path / "huge.wav"
    path.write_bytes(wav_bytes(pcm, SR, claimed_data_bytes=0x7FFFFFFF))
    # When it is decoded
    out = decode(path, sample_rate=RATE, min_seconds=1.0)
    # Then the 5 s are decoded and the report gives the header's claim
    r = out.report
    assert r.decoded_s == pytest.approx(5.0, abs=0.01)
    assert r.claimed_s == pytest.approx(0x7FFFFFFF / (2 * SR))
    assert r.partial
    # and with only 0.5 s of data it is corrupt, with the figures, not too_short
    path.write_bytes(wav_bytes(pcm[: SR], SR, claimed_data_bytes=0x7FFFFFFF))
    err = _decode_error(path, min_seconds=1.0)
    assert err.reason == "corrupt"
    assert "0.50 s decoded of the 48,695.8 s the file claims" in str(err)


# --------------------------------------------------------------------------- not audio, short, long


def test_a_pdf_under_an_audio_name_is_not_audio(tmp_path):
    path = tmp_path / "song.mp3"
    path.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n" * 50)
    assert _decode_error(path).reason == "not_audio"


def test_a_zip_bomb_under_an_audio_name_is_not_audio(tmp_path):
    # a small zip of 64 MB of zeros: nothing may try to unpack it
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z, z.open("zeros.wav", "w", force_zip64=True) as f:
        block = bytes(1 << 20)
        for _ in range(64):
            f.write(block)
    path = tmp_path / "song.flac"
    path.write_bytes(buf.getvalue())
    assert path.stat().st_size < 200_000
    assert _decode_error(path).reason == "not_audio"


def test_a_fifth_of_a_second_is_too_short_and_intact(tmp_path):
    path = write_audio(tmp_path / "blip.wav", synth_track(42, 0.2, SR), SR)
    err = _decode_error(path, min_seconds=1.0)
    assert err.reason == "too_short"
    assert err.report is not None and not err.report.partial
    assert err.report.decoded_s == pytest.approx(0.2, abs=0.01)


def test_an_hour_of_digital_silence_decodes_to_the_cap(tmp_path):
    # Given an hour of silence (FLAC: 14 KB)
    path = write_silence(tmp_path / "silence.flac", 3600.0)
    # When it is decoded with a cap
    out = decode(path, sample_rate=RATE, max_seconds=30.0, min_seconds=1.0)
    # Then it is 30 s of zeros, capped, not an error and not partial
    assert out.samples.size == 30 * RATE and not out.samples.any()
    r = out.report
    assert r.capped and not r.partial
    assert r.claimed_s == pytest.approx(3600.0)
    assert r.describe().startswith("decoded the first 30.0 s of the 3,600.0 s the file claims")


def test_a_zero_byte_file_is_empty(tmp_path):
    path = tmp_path / "empty.m4a"
    path.write_bytes(b"")
    assert _decode_error(path).reason == "empty"


# --------------------------------------------------------------------------- the report


def test_the_report_is_json_ready_and_reads_as_a_sentence(tmp_path, music):
    out = decode(write_audio(tmp_path / "clip.flac", music, SR), sample_rate=RATE, max_seconds=4.0)
    d = out.report.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d == {
        "decoded_s": 4.0, "claimed_s": 10.0, "capped": True, "packets": d["packets"], "bad_packets": 0,
        "stream_changes": 0, "stopped_by": None, "downmix": "mono", "partial": False,
    }
    assert out.report.describe() == "decoded the first 4.00 s of the 10.0 s the file claims (the decoding limit)"
    assert np.array_equal(decode_audio(tmp_path / "clip.flac", sample_rate=RATE, max_seconds=4.0), out.samples)


@pytest.mark.parametrize(
    "decoded,claimed,partial",
    [
        (29.7, 30.0, False),  # codec padding and a partial last frame: within 0.5 s
        (58.9, 60.0, False),  # within 2 %
        (55.0, 60.0, True),
        (3.0, 10.0, True),
        (10.0, None, False),  # no claim: nothing to fall short of
    ],
)
def test_partial_means_clearly_short_of_the_claim(decoded, claimed, partial):
    r = DecodeReport(decoded, claimed, False, 100, 0, 0, None, "mono")
    assert r.partial is partial
    # capped decodes are never short of their claim
    assert not DecodeReport(decoded, claimed, True, 100, 0, 0, None, "mono").partial


# --------------------------------------------------------------------------- fuzz findings
# Inputs bench/fuzz_decode.py found breaking the contract (only DecodeError, bounded time and
# memory), kept as generated inputs.


def test_a_wav_claiming_a_1_hz_sample_rate_is_corrupt_quickly(tmp_path):
    # A header field set to 1 Hz made 2 s of samples 44,100 s at the analysis rate: 4.7 GB
    # and over 10 s of resampling, with no cap
    pcm = (synth_track(43, 2.0, SR) * 32767).astype("<i2").tobytes()
    path = tmp_path / "slow.wav"
    path.write_bytes(wav_bytes(pcm, 1))
    err = _decode_error(path)
    assert err.reason == "corrupt"
    assert err.report.decoded_s == 0


def test_an_mp4_cut_inside_its_index_never_raises_anything_else(tmp_path):
    # Cut within the first kilobyte, an index-first MP4 can open with an audio stream that
    # has no decoder (PyAV's codec_context is None): an AttributeError escaped at 352 bytes
    data = write_audio(tmp_path / "fs.m4a", synth_track(101, 2.0, SR), SR, faststart=True).read_bytes()
    reasons = set()
    for n in range(40, 1200, 4):
        with pytest.raises(DecodeError) as err:
            decode(io.BytesIO(data[:n]), sample_rate=RATE)
        reasons.add(err.value.reason)
    assert reasons <= {"corrupt", "not_audio"}


def test_a_header_claiming_gigabytes_does_not_make_ffmpeg_take_them(tmp_path):
    # bench/fuzz_decode.py (seed 11): a stereo WAV whose LIST chunk came to claim 3.5 GB took
    # 0.8-1.2 GB of memory inside av.open (FFmpeg zero-fills what the field claims) before it
    # failed as corrupt, for a 176 KB upload. Rebuilt from the fuzzer's seed and program; the
    # decode runs in a fresh process so that its own peak memory is what is measured.
    import subprocess

    from bench.fuzz_decode import field_offsets, make_seeds, mutate

    seeds = make_seeds()
    offsets = {name: field_offsets(data) for name, data in seeds.items()}
    program = [("field", 466, 62417, ">H"), ("repeat", 0.99999, 0.14637064154840693, 36)]
    path = tmp_path / "claims-gigabytes.wav"
    path.write_bytes(mutate(seeds, offsets, "wav-stereo", program))
    # The peak is the new process's own VmHWM (a fresh address space at exec): ru_maxrss would
    # carry the forking test process's high-water mark across exec.
    probe = (
        "import sys\n"
        "from takedown_core.audio import DecodeError, decode\n"
        "try:\n    decode(sys.argv[1], sample_rate=11025, max_seconds=900)\n    print('decoded')\n"
        "except DecodeError as e:\n    print(e.reason)\n"
        "hwm = [ln for ln in open('/proc/self/status') if ln.startswith('VmHWM:')][0]\n"
        "print(int(hwm.split()[1]) // 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True, timeout=60,
                         check=True).stdout.split()
    assert out[0] == "corrupt"
    assert int(out[1]) < 300  # MB, the whole process (it was 860 MB and more)
