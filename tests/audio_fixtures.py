"""Synthetic, deterministic music-like audio and real media files for tests.

The implementation lives in takedown_local.media (the demo uses it too); tests import it
from here under the names they always used. The byte-level helpers below damage media the
way uploads arrive damaged (a cut-short download, a corrupted index), for the decoder's
tests and the decode fuzzer.
"""

from __future__ import annotations

import struct

from takedown_local.media import (  # noqa: F401
    FORMATS,
    add_white_noise,
    resample_linear,
    synth_track,
    write_audio,
    write_silence,
)

_MP4_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl"}


def _mp4_boxes(data: bytes, start: int, end: int):
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size < 8:
            return
        yield kind, pos, pos + size
        pos += size


def mp4_audio_box(data: bytes, name: bytes) -> int:
    """Offset of box ``name`` (e.g. b"stsz", the sample sizes) in an MP4's sound track."""
    for kind, start, end in _mp4_boxes(data, 0, len(data)):
        if kind != b"moov":
            continue
        for kind2, t_start, t_end in _mp4_boxes(data, start + 8, end):
            if kind2 != b"trak":
                continue
            found: dict[str, object] = {}

            def walk(a: int, b: int) -> None:
                for k, x, y in _mp4_boxes(data, a, b):
                    if k in _MP4_CONTAINERS:
                        walk(x + 8, y)
                    elif k == b"hdlr":
                        found["handler"] = data[x + 16 : x + 20]
                    elif k == name:
                        found["box"] = x

            walk(t_start + 8, t_end)
            if found.get("handler") == b"soun" and "box" in found:
                return int(found["box"])  # type: ignore[call-overload]
    raise ValueError(f"no {name!r} box in the sound track")


def mp4_with_oversized_sample(data: bytes, fraction: float = 2 / 3) -> bytes:
    """The MP4 with one audio sample, ``fraction`` of the way in, claiming 512 MB more than it
    holds (one flipped bit in the sample-size table): ffmpeg's demuxer fails on it with
    ENOMEM, and a plain demux loop ends there."""
    out = bytearray(data)
    at = mp4_audio_box(out, b"stsz")
    count = struct.unpack(">I", out[at + 16 : at + 20])[0]
    entry = at + 20 + 4 * int(count * fraction)
    struct.pack_into(">I", out, entry, struct.unpack(">I", out[entry : entry + 4])[0] + 0x20000000)
    return bytes(out)


def wav_bytes(pcm16: bytes, sample_rate: int, *, claimed_data_bytes: int | None = None) -> bytes:
    """A mono 16-bit PCM WAV holding ``pcm16`` whose header claims ``claimed_data_bytes`` of
    data (default: the truth)."""
    size = len(pcm16) if claimed_data_bytes is None else claimed_data_bytes
    fmt = struct.pack("<HHIIHH", 1, 1, sample_rate, 2 * sample_rate, 2, 16)
    riff_size = min(0xFFFFFFFF, 4 + 8 + len(fmt) + 8 + size)
    return (
        b"RIFF" + struct.pack("<I", riff_size) + b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
        + b"data" + struct.pack("<I", size) + pcm16
    )
