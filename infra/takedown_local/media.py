"""Music-like audio and real media files for the demo, the tests and the benchmark.

``synth_track(seed, seconds)`` makes something with real spectral peaks: a melody and a bass
line of harmonic notes with attack/decay envelopes, chords, and percussive noise bursts on a
beat grid, all drawn from a seeded generator. Two seeds give unrelated music; the same seed
gives the same samples on every machine.

``write_audio(path, samples, sample_rate, fmt)`` writes it with PyAV in a real container and
codec (wav, flac, mp3, ogg (Vorbis), opus (Ogg Opus), m4a (AAC), webm (Opus),
mp4 (AAC + a small H.264 video track), mkv), so tests exercise the same decoders as uploads.
It writes mono, or stereo given a ``(2, n)`` array (a phase-inverted channel, a wide mix).
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np

FORMATS = ("wav", "flac", "mp3", "ogg", "opus", "m4a", "webm", "mp4", "mkv")

# container format name, audio codec, codec sample rate (None: keep), channels
_CODECS: dict[str, tuple[str, str, int | None, int]] = {
    "wav": ("wav", "pcm_s16le", None, 1),
    "flac": ("flac", "flac", None, 1),
    "mp3": ("mp3", "libmp3lame", None, 1),
    "ogg": ("ogg", "vorbis", None, 2),  # FFmpeg's native Vorbis encoder wants stereo
    "opus": ("ogg", "libopus", 48000, 1),
    "m4a": ("mp4", "aac", None, 1),
    "webm": ("webm", "libopus", 48000, 1),
    "mp4": ("mp4", "aac", None, 1),
    "mkv": ("matroska", "aac", None, 1),
}
_WITH_VIDEO = {"mp4", "webm"}


def _note(freq: float, n: int, sr: int, rng: np.random.Generator, harmonics: int = 6) -> np.ndarray:
    t = np.arange(n, dtype=np.float64) / sr
    tone = np.zeros(n)
    amps = rng.uniform(0.3, 1.0, harmonics) / np.arange(1, harmonics + 1)
    phases = rng.uniform(0, 2 * np.pi, harmonics)  # drawn whatever the pitch: same piece
    for h in range(1, harmonics + 1):
        f = freq * h
        if f < sr / 2 * 0.95:
            tone += amps[h - 1] * np.sin(2 * np.pi * f * t + phases[h - 1])
    attack = max(1, int(0.01 * sr))
    env = np.exp(-t * rng.uniform(1.5, 5.0))
    env[:attack] *= np.linspace(0.0, 1.0, attack)
    release = max(1, int(0.02 * sr))
    env[-release:] *= np.linspace(1.0, 0.0, release)
    return tone * env


def synth_track(
    seed: int, seconds: float, sample_rate: int = 22050, *, pitch_semitones: float = 0.0, tempo: float = 1.0
) -> np.ndarray:
    """A deterministic music-like mono float32 signal (peak about 0.9).

    ``pitch_semitones`` and ``tempo`` render the same piece transposed and/or played faster
    (tempo 1.05: 5 % faster, same pitch): an ideal pitch shift or time-stretch. Time ``x`` in
    a tempo-1 render corresponds to ``x / tempo`` in the faster one.
    """
    sr = sample_rate
    n = int(round(seconds * sr))
    out = np.zeros(n + sr, dtype=np.float64)
    # one generator per layer, so the piece does not depend on how much of it is rendered
    head, mel, bas, per = (np.random.default_rng([seed, k]) for k in range(4))
    bpm = head.uniform(90, 150)
    beat = 60.0 / bpm  # seconds per beat at tempo 1
    scale = np.array([0, 2, 3, 5, 7, 8, 10, 12, 14, 15])  # natural minor, two-ish octaves
    root = 110.0 * 2 ** ((head.integers(0, 12) + pitch_semitones) / 12)
    end = seconds * tempo  # musical time to render

    def place(at: float, note: np.ndarray, gain: float) -> None:
        start = int(at / tempo * sr)
        if start < n:
            seg = note[: len(out) - start]
            out[start : start + len(seg)] += gain * seg

    pos = 0.0
    while pos < end:  # melody, sometimes with a second voice
        dur = beat * mel.choice([0.5, 0.5, 1.0, 1.0, 1.5, 2.0])
        step = scale[mel.integers(0, len(scale))] + 12 * mel.integers(1, 3)
        length = int(dur / tempo * sr)
        place(pos, _note(root * 2 ** (step / 12), length, sr, mel), 0.5)
        if mel.random() < 0.35:
            chord = _note(root * 2 ** ((step + mel.choice([3, 4, 7])) / 12), length, sr, mel, 4)
            place(pos, chord, 0.3)
        pos += dur
    pos = 0.0
    while pos < end:  # bass line on every other beat
        step = scale[bas.integers(0, 5)]
        place(pos, _note(root / 2 * 2 ** (step / 12), int(2 * beat / tempo * sr), sr, bas, 4), 0.4)
        pos += 2 * beat
    pos = 0.0
    while pos < end:  # percussion: short noise bursts on the half-beat grid
        hit = per.random() < 0.8
        length = int(per.uniform(0.03, 0.12) * sr)
        burst = per.standard_normal(length) * np.exp(-np.arange(length) / (0.02 * sr))
        if per.random() < 0.5:  # a darker "kick": smooth the burst
            burst = np.convolve(burst, np.ones(8) / 8, mode="same")
        if hit:
            place(pos, burst, 0.25)
        pos += beat / 2
    out = out[:n]
    peak = float(np.max(np.abs(out))) or 1.0
    return (0.9 * out / peak).astype(np.float32)


def resample_linear(samples: np.ndarray, factor: float) -> np.ndarray:
    """Play ``samples`` ``factor`` times faster (speed change: pitch and tempo together)."""
    n_out = int(len(samples) / factor)
    pos = np.arange(n_out) * factor
    return np.interp(pos, np.arange(len(samples)), samples).astype(np.float32)


def add_white_noise(samples: np.ndarray, snr_db: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    power = float(np.mean(samples.astype(np.float64) ** 2))
    noise = rng.standard_normal(len(samples)) * np.sqrt(power / 10 ** (snr_db / 10))
    return (samples + noise).astype(np.float32)


def write_audio(
    path: str | os.PathLike,
    samples: np.ndarray,
    sample_rate: int,
    fmt: str | None = None,
    *,
    bitrate: int | None = None,
    faststart: bool = False,
) -> Path:
    """Write float ``samples`` to ``path`` in ``fmt`` (default: the path's extension).

    ``samples`` is mono, shape ``(n,)``, or stereo, shape ``(2, n)`` (channels first). A mono
    signal goes to a mono stream, except Vorbis (FFmpeg's native encoder wants stereo: both
    channels carry it). Formats: wav, flac, mp3, ogg (Vorbis), opus (Ogg Opus), m4a (AAC),
    webm (Opus + VP8 video), mp4 (AAC + H.264 video), mkv (AAC). ``faststart`` puts an
    MP4's index (moov) before its data, as streaming services serve it. Returns the path.
    """
    import av

    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".")).lower()
    if fmt not in _CODECS:
        raise ValueError(f"unknown format {fmt!r}; choose one of {FORMATS}")
    container_fmt, codec, codec_rate, channels = _CODECS[fmt]
    rate = codec_rate or sample_rate
    data = np.asarray(samples, dtype=np.float32)
    if data.ndim == 1:
        data = data[None, :]
    if data.ndim != 2 or data.shape[0] not in (1, 2):
        raise ValueError("samples must have shape (n,) or (2, n)")
    if rate != sample_rate:
        data = np.stack([resample_linear(ch, sample_rate / rate) for ch in data])
    channels = max(channels, data.shape[0])
    data = np.clip(np.repeat(data, channels // data.shape[0], axis=0), -1.0, 1.0)
    layout = "stereo" if channels == 2 else "mono"
    options = {"movflags": "faststart"} if faststart and container_fmt == "mp4" else {}

    with av.open(str(path), mode="w", format=container_fmt, options=options) as out:
        astream = out.add_stream(codec, rate=rate)
        astream.layout = layout
        if codec == "vorbis":
            astream.codec_context.options = {"strict": "experimental"}
        if bitrate:
            astream.bit_rate = bitrate
        vstream = None
        if fmt in _WITH_VIDEO:
            vcodec = "libvpx" if fmt == "webm" else "libx264"
            vstream = out.add_stream(vcodec, rate=Fraction(5, 1))
            vstream.width, vstream.height, vstream.pix_fmt = 64, 48, "yuv420p"
        sample_fmt = astream.format.name
        frame_size = astream.codec_context.frame_size or 1024
        pts = 0
        video_pts = 0
        seconds_per_video_frame = 1 / 5
        for start in range(0, data.shape[1], frame_size):
            block = data[:, start : start + frame_size]
            if block.shape[1] < frame_size and codec in ("aac", "libopus", "vorbis", "libmp3lame"):
                block = np.pad(block, ((0, 0), (0, frame_size - block.shape[1])))
            frame = _audio_frame(av, block, sample_fmt, layout, rate)
            frame.pts = pts
            pts += block.shape[1]
            for packet in astream.encode(frame):
                out.mux(packet)
            while vstream is not None and video_pts * seconds_per_video_frame <= pts / rate:
                img = np.full((48, 64, 3), (video_pts * 7) % 255, dtype=np.uint8)
                vframe = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
                vframe.pts = video_pts
                video_pts += 1
                for packet in vstream.encode(vframe):
                    out.mux(packet)
        for packet in astream.encode(None):
            out.mux(packet)
        if vstream is not None:
            for packet in vstream.encode(None):
                out.mux(packet)
    return path


def _audio_frame(av, block: np.ndarray, sample_fmt: str, layout: str, rate: int):
    """One frame from ``block``, shape (channels, n)."""
    planar = sample_fmt.endswith("p")
    base = sample_fmt.rstrip("p")
    if base == "s16":
        arr = (block * 32767).astype(np.int16)
    elif base == "s32":
        arr = (block.astype(np.float64) * 2147483647).astype(np.int32)
    elif base == "flt":
        arr = block.astype(np.float32)
    elif base == "dbl":
        arr = block.astype(np.float64)
    else:
        raise ValueError(f"unsupported sample format {sample_fmt}")
    if not planar:
        arr = arr.T.reshape(1, -1)  # interleaved
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(arr), format=sample_fmt, layout=layout)
    frame.sample_rate = rate
    return frame


def write_silence(path: str | os.PathLike, seconds: float, sample_rate: int = 8000) -> Path:
    """Write ``seconds`` of digital silence as mono 16-bit FLAC, block by block.

    FLAC stores a silent block as one constant, so an hour is about 15 KB and takes a fraction
    of a second to write: the long-upload case without a long file. Returns the path.
    """
    import av

    path = Path(path)
    block = 65535  # FLAC's largest block: fewest frames
    zeros = np.zeros((1, block), dtype=np.int16)
    total = int(round(seconds * sample_rate))
    with av.open(str(path), mode="w", format="flac") as out:
        stream = out.add_stream("flac", rate=sample_rate)
        stream.layout, stream.format = "mono", "s16"
        stream.codec_context.options = {"frame_size": str(block)}
        for pts in range(0, total, block):
            n = min(block, total - pts)
            frame = av.AudioFrame.from_ndarray(zeros[:, :n], format="s16", layout="mono")
            frame.sample_rate, frame.pts = sample_rate, pts
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path
