"""Decode any upload straight to the analysis rate: mono float32, streaming, capped.

One pass with PyAV: demux the first audio stream, decode packet by packet, and resample each
decoded frame to mono float32 at the analysis rate with ``av.AudioResampler``. The whole file
is never read into memory (PyAV reads through the file object as it demuxes) and decoding
stops as soon as ``max_seconds`` of audio have been produced, so a 10-minute upload costs the
memory of ``max_seconds`` of mono samples at the analysis rate, not of the file.
"""

from __future__ import annotations

import io
import os
from typing import BinaryIO

import numpy as np

__all__ = ["DecodeError", "decode_audio", "decode_bytes"]

# Magic numbers of the containers we accept. A file that starts with one of these but does
# not decode is "corrupt"; a file that matches none and does not decode is "not_audio".
_MAGICS: tuple[tuple[int, bytes], ...] = (
    (0, b"ID3"),  # MP3 with an ID3v2 tag
    (0, b"fLaC"),  # FLAC
    (0, b"OggS"),  # Ogg (Vorbis, Opus, FLAC)
    (0, b"RIFF"),  # WAV
    (0, b"FORM"),  # AIFF
    (0, b"\x1a\x45\xdf\xa3"),  # Matroska / WebM (EBML)
    (4, b"ftyp"),  # MP4 / M4A / MOV
    (0, b"\x30\x26\xb2\x75"),  # ASF / WMA
)
_HEADER_BYTES = 16


class DecodeError(Exception):
    """An upload that cannot be turned into audio samples.

    ``reason`` is a short machine code: ``"not_audio"`` (no audio stream, or not a media file
    at all), ``"empty"`` (zero bytes, or an audio stream with zero samples), ``"corrupt"``
    (a media container that fails to decode) or ``"too_short"`` (fewer samples than the
    caller's ``min_seconds``). ``str(exc)`` is a message a person can read.
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _looks_like_media(header: bytes) -> bool:
    if any(header[off : off + len(magic)] == magic for off, magic in _MAGICS):
        return True
    # MPEG audio frame sync (11 set bits): raw MP3 / ADTS AAC without a tag.
    return len(header) >= 2 and header[0] == 0xFF and (header[1] & 0xE0) == 0xE0


def _read_header(source: str | os.PathLike | BinaryIO) -> bytes:
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as fh:
            return fh.read(_HEADER_BYTES)
    pos = source.tell()
    header = source.read(_HEADER_BYTES)
    source.seek(pos)
    return header


def decode_audio(
    source: str | os.PathLike | BinaryIO,
    *,
    sample_rate: int,
    max_seconds: float | None = None,
    min_seconds: float | None = None,
) -> np.ndarray:
    """Decode the first audio stream of ``source`` to mono float32 at ``sample_rate``.

    ``source`` is a path or a seekable binary file object (an S3 streaming body should be
    spooled to a temporary file first). Video files are fine: only the audio stream is
    decoded. At most ``max_seconds`` of audio are decoded; decoding stops there.

    Raises :class:`DecodeError` when there is no audio, the file does not decode, it yields
    zero samples, or fewer than ``min_seconds``.
    """
    import av

    if sample_rate <= 0:
        raise ValueError("sample_rate must be positive")
    try:
        header = _read_header(source)
    except OSError as exc:
        raise DecodeError("not_audio", f"cannot read the upload: {exc}") from exc
    if not header:
        raise DecodeError("empty", "the upload is empty (zero bytes)")

    cap = None if max_seconds is None else max(1, int(round(max_seconds * sample_rate)))
    chunks: list[np.ndarray] = []
    produced = 0
    src = os.fspath(source) if isinstance(source, (str, os.PathLike)) else source
    try:
        container = av.open(src, mode="r")
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        if _looks_like_media(header):
            raise DecodeError("corrupt", f"the media container is damaged and cannot be opened ({exc})") from exc
        raise DecodeError("not_audio", "the upload is not an audio or video file") from exc

    decode_failed: Exception | None = None
    with container:
        if not container.streams.audio:
            raise DecodeError("not_audio", "the file has no audio stream")
        stream = container.streams.audio[0]
        stream.thread_type = "AUTO"
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)

        def take(frames) -> bool:
            """Append resampled frames; True once the cap is reached."""
            nonlocal produced
            for out in frames:
                data = out.to_ndarray().reshape(-1)
                if data.size == 0:
                    continue
                if cap is not None and produced + data.size > cap:
                    data = data[: cap - produced]
                chunks.append(np.array(data, dtype=np.float32, copy=True))
                produced += data.size
                if cap is not None and produced >= cap:
                    return True
            return False

        done = False
        try:
            for packet in container.demux(stream):
                for frame in packet.decode():
                    frame.pts = None  # let the resampler run on sample counts, not timestamps
                    if take(resampler.resample(frame)):
                        done = True
                        break
                if done:
                    break
        except (av.error.FFmpegError, ValueError) as exc:
            # A truncated or damaged stream: keep what decoded before the damage.
            decode_failed = exc
        if not done:
            try:
                take(resampler.resample(None))  # flush
            except (av.error.FFmpegError, ValueError):
                pass

    if produced == 0:
        if decode_failed is not None:
            raise DecodeError("corrupt", f"the audio stream is damaged and did not decode ({decode_failed})")
        raise DecodeError("empty", "the audio stream contains no samples")
    samples = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
    np.nan_to_num(samples, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    if min_seconds is not None and samples.size < min_seconds * sample_rate:
        raise DecodeError(
            "too_short",
            f"the audio lasts {samples.size / sample_rate:.2f} s, shorter than the {min_seconds:g} s needed",
        )
    return samples


def decode_bytes(data: bytes, *, sample_rate: int, max_seconds: float | None = None) -> np.ndarray:
    """Convenience for tests and small payloads: decode an in-memory file."""
    return decode_audio(io.BytesIO(data), sample_rate=sample_rate, max_seconds=max_seconds)
