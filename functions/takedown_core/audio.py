"""Decode any upload straight to the analysis rate: mono float32, streaming, capped, accounted.

One pass with PyAV: demux the first audio stream, decode packet by packet, resample each
decoded frame to the analysis rate and fold it to one channel. The whole file is never read
into memory (PyAV reads through the file object as it demuxes) and decoding stops as soon as
``max_seconds`` of audio have been produced, so a 10-minute upload costs the memory of
``max_seconds`` of mono samples at the analysis rate, not of the file.

All the audio that is there reaches the matcher, and the report says how much that was:

- A stream whose parameters change part-way (two files joined at another sample rate, a mono
  intro before a stereo body, a new sample format) is followed: the resampler for the old
  parameters is flushed and a new one started. PyAV's ``AudioResampler`` is set up from the
  first frame it sees and raises ``ValueError`` on any other, which used to end the decode.
- A packet that does not decode (overwritten bytes, a second file's ID3 tag in the middle) is
  skipped and counted, as the ffmpeg command line does. When the demuxer itself fails
  (a damaged MP4 sample table), decoding seeks forward past the failure a bounded number of
  times; when nothing can be read beyond it, that error is reported as ``stopped_by``.
- Every decode measures what it produced against what the container claims
  (:class:`DecodeReport`), so a cut-short upload is flagged ``partial`` instead of passing as
  a short one.
- Two or more channels are folded to mono block by block, choosing the sum (L+R)/√2 or, where
  the channels cancel, the difference (L-R)/√2: one phase-inverted channel (inaudible on any
  stereo device) would otherwise remove the music from a plain downmix.
"""

from __future__ import annotations

import io
import os
from typing import Any, BinaryIO, NamedTuple

import numpy as np

from .decode_report import DecodeReport, secs as _secs, short_of as _short_of

__all__ = ["DecodeError", "DecodeReport", "DecodedAudio", "decode", "decode_audio", "decode_bytes"]

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

# --- Downmix. For two channels of equal power and correlation r, the side S=(L-R)/√2 and the
# mid M=(L+R)/√2 have power(S)/power(M) = (1-r)/(1+r). Ordinary mixes keep r above zero (a
# phase-correlation meter reading below zero is a fault mastering engineers fix), so S sits
# under M; one phase-inverted channel flips the sign of r and swaps the two, and a plain sum
# then holds only what differs between the channels. A block takes S when S is 3 dB (twice
# the power) louder than M: r < -1/3, a clearly anti-correlated block.
# The margin is a trade. An inverted copy's block has S/M = -(the original's S/M in dB), so a
# block of the original with |S/M| under the margin comes out of the copy as the original's
# side, not its sum: a WIDE mix loses many blocks to a large margin. Measured on 33 real
# tracks (Debian's warzone2100 and lincity-ng soundtracks, 4.3 h, 10,071 blocks above
# -50 dBFS; block S/M median -7.1 dB, 99th percentile +1.1 dB, max +8.6 dB) and on 24 MP3
# excerpts (15 s) of 8 of them with the right channel inverted, against an index of the 8:
#   margin   ordinary blocks changed (tracks touched)   inverted blocks lost   inverted matched
#    6 dB            0.29 %  (2 of 33)                         40 %               15 of 24
#    3 dB            0.44 %  (3 of 33)                         15 %               23 of 24
#    0 dB            2.36 %  (19 of 33)                         0 %               24 of 24
# (the old plain sum matched 4 of 24; every non-inverted excerpt matched at every margin).
# 3 dB keeps 30 of 33 real tracks exactly as before; the changed blocks are sections mixed
# anti-phase on purpose. The rule is a function of the block alone (no running state), so an
# excerpt is folded as the same passage of the whole recording is, wherever it starts.
_SIDE_OVER_MID_POWER = 10 ** (3.0 / 10)
# Blocks of 1.5 s: long enough for a stable power estimate over several notes, short enough
# that a file which flips its polarity part-way loses at most about one block to the choice.
# Only one block of stereo is held; only the chosen signal is kept.
_DOWNMIX_BLOCK_S = 1.5

# A frame whose sample rate is outside what any real codec uses is damage, and a hazard: a
# WAV header saying 1 Hz turns 2 s of samples into 44,100 s at the analysis rate (4.7 GB and
# minutes of resampling, found by the fuzzer). The lowest real rates are 8 kHz (telephony);
# the highest PCM rate in use is 768 kHz. Such frames are skipped as bad packets.
_MIN_SOURCE_RATE = 4000  # Hz
_MAX_SOURCE_RATE = 768000  # Hz
# M = (L+R) g and S = (L-R) g with g = 1/sqrt(2): the gain ffmpeg's own stereo-to-mono matrix
# uses, which the catalogue was decoded with; the -65 dBFS spectrum floor is an absolute
# level, so an ordinary mix must come out exactly as loud as before.
_FOLD_GAIN = np.float32(1 / np.sqrt(2))

# --- Claims. A decode that ends clearly short of what the container claims lost audio
# (a truncated download). "Clearly": codec delay and padding, the last partial frame and a
# video track a little longer than the audio (Matroska claims the longer of the two) move the
# figures by a fraction of a second, never by 2 %.
# (_CLAIM_SLACK_S, _CLAIM_SLACK_FRACTION: in decode_report.py, with the report that applies them.)
# Elementary streams (no container) carry no duration of their own: an MP3's comes from a VBR
# header (Xing, Info, VBRI) when there is one, otherwise (and always for ADTS AAC, AC-3)
# ffmpeg estimates it from the file size and the first frame's bit rate, which is 10-30 % off
# for a VBR file and says nothing about truncation (the estimate shrinks with the file). Such
# an estimate is no claim: claimed_s is None.
_ELEMENTARY_FORMATS = frozenset({"mp3", "aac", "ac3", "eac3"})

# --- Badly damaged. A damaged upload (packets skipped, decoding stopped by an error, or
# decoded clearly less than it claims) is still matched, and flagged partial, while what is
# left is a fair sample of it: a truncated download that holds 20 s of good audio is the
# upload's first 20 s, and a "no match" on it is a statement about those 20 s. It is
# quarantined as "corrupt", with its figures, when
#  - it yields less than the caller's min_seconds: too little to be evidence at all (an
#    intact file that short is "too_short": there the little audio is the whole upload), or
#  - more of its packets failed than decoded: the file is mostly garbage, what decoded is
#    scraps between the damage, and a person should see it rather than a "no match".
# Missing audio alone (a cut-short file) never makes a file corrupt above min_seconds.

# --- Demuxer failures: seek forward past the failure, starting just beyond the last packet
# read and doubling the step (a damaged MP4 sample table can hide a whole chunk of samples),
# at most this many seeks per file, so a file that fails everywhere costs milliseconds.
_RESUME_FIRST_STEP_S = 0.1
_MAX_RESUME_SEEKS = 24

# Ogg pages: "OggS", version 0, header type (bit 2: end of stream), granule, serial,
# sequence, CRC, segment count, segment table; a page is at most 27 + 255 + 255 * 255 bytes.
_OGG_MAX_PAGE = 27 + 255 + 255 * 255
_OGG_EOS = 0x04


class DecodedAudio(NamedTuple):
    """``samples``: mono float32 at the requested sample rate; ``report``: how it went."""

    samples: np.ndarray
    report: DecodeReport


class DecodeError(Exception):
    """An upload that cannot be turned into audio samples.

    ``reason`` is a short machine code: ``"not_audio"`` (no audio stream, or not a media file
    at all), ``"empty"`` (zero bytes, or an intact audio stream with zero samples),
    ``"corrupt"`` (a media container that fails to open, or an audio stream so damaged that
    too little of it decoded: the message gives the figures) or ``"too_short"`` (an intact
    stream with fewer samples than the caller's ``min_seconds``). ``str(exc)`` is a message a
    person can read. ``report`` is the :class:`DecodeReport` when decoding got that far.
    """

    def __init__(self, reason: str, message: str, report: DecodeReport | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.report = report


def _looks_like_media(header: bytes) -> bool:
    if any(header[off : off + len(magic)] == magic for off, magic in _MAGICS):
        return True
    # MPEG audio frame sync (11 set bits): raw MP3 / ADTS AAC without a tag.
    return len(header) >= 2 and header[0] == 0xFF and (header[1] & 0xE0) == 0xE0


def _read_at(source: str | os.PathLike | BinaryIO, offset: int, size: int, *, from_end: bool = False) -> bytes:
    """``size`` bytes at ``offset`` (from the end if ``from_end``; clamped to the file), leaving
    a file object's position where it was."""
    if isinstance(source, (str, os.PathLike)):
        with open(source, "rb") as fh:
            return _read_at(fh, offset, size, from_end=from_end)
    pos = source.tell()
    try:
        if from_end:
            end = source.seek(0, io.SEEK_END)
            source.seek(max(0, end - offset))
        else:
            source.seek(offset)
        return source.read(size)
    finally:
        source.seek(pos)


def _error_text(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return str(text).strip().rstrip(".")


# --------------------------------------------------------------------------- claims


def _wav_claim(source) -> float | None:
    """Seconds the RIFF/WAVE header's data chunk claims (ffmpeg clamps it to the file size,
    which hides a cut-short download); None when the header gives no usable figure."""
    head = _read_at(source, 0, 65536)
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return None
    byte_rate = 0
    pos = 12
    while pos + 8 <= len(head):
        cid, size = head[pos : pos + 4], int.from_bytes(head[pos + 4 : pos + 8], "little")
        if cid == b"fmt " and pos + 16 <= len(head):
            byte_rate = int.from_bytes(head[pos + 16 : pos + 20], "little")
        elif cid == b"data":
            # 0 and 0xFFFFFFFF are the "length unknown" conventions of streaming writers
            if byte_rate <= 0 or size in (0, 0xFFFFFFFF):
                return None
            return size / byte_rate
        pos += 8 + size + (size & 1)
    return None


def _ogg_cut_short(source) -> bool:
    """True when the file's last Ogg page is incomplete or is not an end-of-stream page: the
    file was cut (ffmpeg takes the duration from the last granule present, so no claim shows
    it)."""
    tail = _read_at(source, _OGG_MAX_PAGE + 4096, _OGG_MAX_PAGE + 4096, from_end=True)
    at = tail.rfind(b"OggS")
    while at >= 0 and (at + 27 > len(tail) or tail[at + 4] != 0):  # a page header is version 0
        at = tail.rfind(b"OggS", 0, at)
    if at < 0:
        return False  # no page in the last 68 KB: not ours to judge
    if at + 27 > len(tail):
        return True
    nseg = tail[at + 26]
    if at + 27 + nseg > len(tail):
        return True
    page_len = 27 + nseg + sum(tail[at + 27 : at + 27 + nseg])
    return at + page_len > len(tail) or not tail[at + 5] & _OGG_EOS


def _mp3_header_duration(source) -> bool:
    """True when the MP3's first frame is a Xing/Info/VBRI header that ffmpeg takes its
    duration from: it has a frame count, and its byte count is not far below the file size
    (ffmpeg ignores the header of a file with more joined to it, as libavformat's mp3dec does:
    more than 1/16 larger)."""
    head = _read_at(source, 0, 10)
    start = 0
    if head[:3] == b"ID3" and len(head) == 10:
        start = 10 + sum((b & 0x7F) << (7 * (3 - i)) for i, b in enumerate(head[6:10]))
        if head[5] & 0x10:
            start += 10  # ID3v2.4 footer
    data = _read_at(source, start, 8192)
    at = 0
    while True:
        at = data.find(b"\xff", at)
        if at < 0 or at + 4 > len(data):
            return False
        b1 = data[at + 1]
        if (b1 & 0xE0) == 0xE0 and (b1 >> 1) & 3 == 1:  # frame sync, layer III
            break
        at += 1
    mpeg1, mono = (b1 >> 3) & 3 == 3, (data[at + 3] >> 6) & 3 == 3
    xing = at + 4 + ((17 if mono else 32) if mpeg1 else (9 if mono else 17))
    if data[xing : xing + 4] in (b"Xing", b"Info"):
        flags = int.from_bytes(data[xing + 4 : xing + 8], "big")
        if not flags & 1:
            return False  # no frame count: no duration
        size = int.from_bytes(data[xing + 12 : xing + 16], "big") if flags & 2 else 0
    elif data[at + 36 : at + 40] == b"VBRI":
        size = int.from_bytes(data[at + 46 : at + 50], "big")
    else:
        return False
    file_size = _file_size(source)
    return not size or file_size <= size or file_size - size <= size >> 4


def _file_size(source) -> int:
    if isinstance(source, (str, os.PathLike)):
        return os.path.getsize(source)
    pos = source.tell()
    try:
        return source.seek(0, io.SEEK_END)
    finally:
        source.seek(pos)


def _claimed_seconds(container, stream, source) -> float | None:
    """Seconds the container or stream header claims, or None (see _ELEMENTARY_FORMATS)."""
    fmt = set((container.format.name or "").split(","))
    if "wav" in fmt:
        claim = _wav_claim(source)
        if claim is not None:
            return claim
    if fmt & _ELEMENTARY_FORMATS and not ("mp3" in fmt and _mp3_header_duration(source)):
        return None
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and container.duration > 0:
        return container.duration / 1_000_000
    return None


# --------------------------------------------------------------------------- output


class _MonoSink:
    """Collects mono float32 output up to ``cap`` samples; stereo input is folded per block
    to (L+R)/√2, or to (L-R)/√2 where that is 3 dB louder (see the downmix rule). Holds one
    stereo block at most."""

    def __init__(self, cap: int | None, block: int) -> None:
        self.cap = cap
        self.chunks: list[np.ndarray] = []
        self.size = 0  # mono samples committed to chunks
        self.buf = np.empty((2, block), dtype=np.float32)
        self.fill = 0  # stereo samples waiting in buf
        self.sum_blocks = 0
        self.diff_blocks = 0
        self.skip = 0  # samples still to drop before any is kept (a decode that starts after a seek)

    @property
    def produced(self) -> int:
        return self.size + self.fill

    @property
    def full(self) -> bool:
        return self.cap is not None and self.produced >= self.cap

    def _room(self, n: int) -> int:
        return n if self.cap is None else max(0, min(n, self.cap - self.produced))

    def _skipped(self, n: int) -> int:
        """How many of the next ``n`` samples are dropped (the lead-in before a seek's target)."""
        drop = min(n, self.skip)
        self.skip -= drop
        return drop

    def add_mono(self, x: np.ndarray) -> None:
        if self.skip:
            x = x[self._skipped(x.size):]
        self.settle()
        n = self._room(x.size)
        if n:
            self.chunks.append(np.array(x[:n], dtype=np.float32, copy=True))
            self.size += n

    def add_stereo(self, left: np.ndarray, right: np.ndarray) -> None:
        if self.skip:
            drop = self._skipped(left.size)
            left, right = left[drop:], right[drop:]
        n = self._room(left.size)
        block = self.buf.shape[1]
        i = 0
        while i < n:
            take = min(n - i, block - self.fill)
            self.buf[0, self.fill : self.fill + take] = left[i : i + take]
            self.buf[1, self.fill : self.fill + take] = right[i : i + take]
            self.fill += take
            i += take
            if self.fill == block:
                self.settle()

    def settle(self) -> None:
        """Fold the stereo samples waiting in the block buffer."""
        if not self.fill:
            return
        left, right = self.buf[0, : self.fill], self.buf[1, : self.fill]
        out = left + right
        out *= _FOLD_GAIN
        mid_power = float(np.dot(out, out))
        # power(M) + power(S) = 2 g^2 (power(L) + power(R)) with g = 1/sqrt(2): no S is computed
        side_power = float(np.dot(left, left)) + float(np.dot(right, right)) - mid_power
        if side_power > _SIDE_OVER_MID_POWER * mid_power:
            out = left - right
            out *= _FOLD_GAIN
            self.diff_blocks += 1
        else:
            self.sum_blocks += 1
        self.chunks.append(out)
        self.size += self.fill
        self.fill = 0

    @property
    def downmix(self) -> str:
        if not self.diff_blocks:
            return "sum" if self.sum_blocks else "mono"
        return "mixed" if self.sum_blocks else "difference"

    def samples(self) -> np.ndarray:
        self.settle()
        if not self.chunks:
            return np.zeros(0, dtype=np.float32)
        out = np.concatenate(self.chunks) if len(self.chunks) > 1 else self.chunks[0]
        self.chunks = []
        # one pass to look; nan_to_num makes three (isnan, isposinf, isneginf) on every decode
        if not np.isfinite(out).all():
            np.nan_to_num(out, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
        return out


class _Converter:
    """Resamples decoded frames into a sink, starting a new resampler whenever the frames'
    sample rate, channel layout or sample format changes (after flushing the old one)."""

    def __init__(self, av, sample_rate: int, sink: _MonoSink, *, start_s: float = 0.0, origin_s: float = 0.0) -> None:
        self.av, self.rate, self.sink = av, sample_rate, sink
        # a decode that seeked: the first frame's time (from the stream's start, origin_s) says
        # how much lead-in to drop
        self.start_s, self.origin_s = start_s, origin_s
        self.key: tuple | None = None
        self.resampler = None
        self.stereo = False
        self.changes = 0

    def push(self, frame) -> None:
        layout = frame.layout
        key = (frame.format.name, layout.name, layout.nb_channels, frame.sample_rate)
        if key != self.key:
            if not _MIN_SOURCE_RATE <= frame.sample_rate <= _MAX_SOURCE_RATE:
                raise ValueError(f"a sample rate of {frame.sample_rate} Hz is not audio")
            if self.key is not None:
                self.flush()
                self.changes += 1
            self.key = key
            self.stereo = layout.nb_channels >= 2
            self.resampler = self.av.AudioResampler(
                format="fltp" if self.stereo else "flt", layout="stereo" if self.stereo else "mono", rate=self.rate
            )
        if self.start_s:
            t = frame.time - self.origin_s if frame.pts is not None and frame.time is not None else None
            # a frame with no time after a seek: assume it starts at the target (the demuxer's best)
            self.sink.skip = max(0, int(round((self.start_s - (t if t is not None else self.start_s)) * self.rate)))
            self.start_s = 0.0
        frame.pts = None  # let the resampler run on sample counts, not timestamps
        self._take(self.resampler.resample(frame))

    def flush(self) -> None:
        if self.resampler is None:
            return
        try:
            self._take(self.resampler.resample(None))
        except (self.av.error.FFmpegError, ValueError):
            pass  # the resampler's last few samples: not worth failing over
        self.resampler = None

    def _take(self, frames) -> None:
        for out in frames:
            if self.sink.full:
                return
            n = out.samples
            if self.stereo:  # fltp: one plane per channel; views, copied into the sink's block
                planes = out.planes
                self.sink.add_stereo(
                    np.frombuffer(planes[0], np.float32, n), np.frombuffer(planes[1], np.float32, n)
                )
            else:
                self.sink.add_mono(np.frombuffer(out.planes[0], np.float32, n))


# --------------------------------------------------------------------------- demuxing


class _EarlyEnd(Exception):
    """The demuxer ended before the claimed end of the stream."""


class _PacketReader:
    """Audio packets of one stream. A demuxer error, or an end of file clearly before the
    claimed end, is followed by seeks forward past it (bounded). When nothing can be read
    beyond an error, ``stopped_by`` says why reading ended; ``skipped`` counts the failures
    reading resumed after (each lost at least one packet)."""

    def __init__(self, av, container, stream, claimed_s: float | None, drain) -> None:
        self.av, self.container, self.stream, self.claimed_s = av, container, stream, claimed_s
        self.drain = drain  # takes the frames the decoder holds back, before a seek drops them
        self.stopped_by: str | None = None
        self.skipped = 0  # demuxer failures seeked past
        self.seeks = 0

    def __iter__(self):
        av, stream = self.av, self.stream
        it = self.container.demux(stream)
        read_to = stream.start_time or 0  # end of the last packet read, in stream.time_base ticks
        error: BaseException | None = None  # the demuxer failure being seeked past
        step = _RESUME_FIRST_STEP_S
        while True:
            try:
                packet = next(it)
            except StopIteration:
                if error is None:
                    if not self._ends_early(read_to):
                        return
                    error, step = _EarlyEnd(), _RESUME_FIRST_STEP_S
                packet = None  # the seek landed past the readable data: try further on
            except (av.error.FFmpegError, ValueError, OverflowError) as exc:
                if error is None:
                    error, step = exc, _RESUME_FIRST_STEP_S
                packet = None
            if packet is not None:
                if packet.size == 0:
                    continue  # the demuxer's end-of-stream marker; the decoder is flushed after
                pts = packet.pts
                end = None if pts is None else pts + (packet.duration or 0)
                if error is not None:
                    if end is not None and end <= read_to:
                        continue  # the seek landed before the damage: this was decoded already
                    self.skipped += 1
                    error = None
                if end is not None and end > read_to:
                    read_to = end
                yield packet
                continue
            if not self._seek(read_to, step):
                if not isinstance(error, _EarlyEnd):  # a cut-short file is told by its length
                    at = float(read_to * stream.time_base) if stream.time_base else 0.0
                    self.stopped_by = f"the file cannot be read past {at:.1f} s ({_error_text(error)})"
                return
            step *= 2
            it = self.container.demux(stream)

    def _ends_early(self, read_to: int) -> bool:
        """The demuxer says "end of file" clearly before the claimed end: a damaged index
        (an MP4 sample size that points past the file) ends an MP4 that way, with no error."""
        tb = self.stream.time_base
        return bool(tb) and self.claimed_s is not None and _short_of(float(read_to * tb), self.claimed_s)

    def _seek(self, read_to: int, step_s: float) -> bool:
        """Seek to ``step_s`` seconds after ``read_to`` (ticks); False when that is not possible."""
        av, stream = self.av, self.stream
        tb = stream.time_base
        if self.seeks >= _MAX_RESUME_SEEKS or not tb:
            return False
        target = read_to + max(1, int(step_s / tb))
        if self.claimed_s is not None and float(target * tb) > self.claimed_s:
            return False
        self.seeks += 1
        self.drain()
        try:
            self.container.seek(target, stream=stream, backward=False, any_frame=True)
            stream.codec_context.flush_buffers()
        except (av.error.FFmpegError, ValueError, OverflowError):
            return False
        return True


# --------------------------------------------------------------------------- decode


# --- FFmpeg's own allocations. A damaged header can claim gigabytes (the fuzzer found a WAV
# whose LIST chunk claims 3.5 GB), and FFmpeg zero-fills what a field claims before it notices
# the file holds nothing of the sort: a 176 KB upload took 0.8-1.2 GB of memory in av.open
# before failing as corrupt. av_max_alloc caps any single allocation; decoding audio never needs
# a tenth of this (frames and packets are kilobytes to a few megabytes; a 4K video keyframe
# demuxed beside the audio is tens of MB at most), and a larger request fails cleanly, which
# the decoder reports as damage.
_FFMPEG_MAX_ALLOC = 256 * 2**20  # bytes
_ffmpeg_capped = False


def _cap_ffmpeg_allocations(av: Any) -> None:
    """Call libavutil's av_max_alloc once per process, on the libavutil PyAV itself loaded
    (the wheel's own copy under ``av.libs``; a system FFmpeg otherwise). Best effort: where
    the library cannot be found, decoding works as before."""
    global _ffmpeg_capped
    if _ffmpeg_capped:
        return
    _ffmpeg_capped = True
    import ctypes
    import ctypes.util
    import glob

    here = os.path.dirname(av.__file__)
    candidates = sorted(glob.glob(os.path.join(here, os.pardir, "av.libs", "libavutil*.so*")))
    candidates += [c for c in (ctypes.util.find_library("avutil"),) if c]
    for path in candidates:
        try:
            ctypes.CDLL(path).av_max_alloc(ctypes.c_size_t(_FFMPEG_MAX_ALLOC))
            return
        except (OSError, AttributeError):
            continue


def decode(
    source: str | os.PathLike | BinaryIO,
    *,
    sample_rate: int,
    max_seconds: float | None = None,
    min_seconds: float | None = None,
    threads: bool = True,
    start_seconds: float = 0.0,
) -> DecodedAudio:
    """Decode the first audio stream of ``source`` to mono float32 at ``sample_rate`` (Hz).

    ``source`` is a path or a seekable binary file object (an S3 streaming body should be
    spooled to a temporary file first). Video files are fine: only the audio stream is
    decoded. At most ``max_seconds`` of audio are decoded; decoding stops there.

    Returns ``DecodedAudio(samples, report)``: ``samples`` has shape ``(n,)``, dtype float32,
    ``n <= max_seconds * sample_rate``; ``report`` is a :class:`DecodeReport`.

    ``threads``: let FFmpeg decode with its own threads (frame or slice threading, where the
    codec has it). A caller that already runs one decode per core passes False: the threads
    then only cost CPU (FLAC at 22.05 kHz: 8.8 s of CPU with them, 7.4 s without, for the
    same 2.48 h; bench/build_speed.py's corpus, one process).

    ``start_seconds``: begin there instead of at the start (a review clip): the container is
    seeked to the packet at or before it (nothing before is demuxed or decoded: a clip of a
    15-minute upload reads a few seconds of it) and the decoded lead-in up to it is dropped.
    Accurate to a sample where the container has timestamps (MP4, FLAC, Ogg, WAV); a VBR MP3
    without a seek table seeks by its average bit rate. The report's ``decoded_s`` then
    counts from the file's start (``start_seconds`` + what was decoded).

    Raises :class:`DecodeError` (and nothing else for any input bytes) when there is no audio
    (``not_audio``), the file is empty or an intact stream holds no samples (``empty``), the
    container does not open or the stream is badly damaged (``corrupt``, with the figures),
    or an intact stream is shorter than ``min_seconds`` (``too_short``). ``ValueError`` for
    a non-positive ``sample_rate``.
    """
    import av

    _cap_ffmpeg_allocations(av)

    if sample_rate <= 0:
        raise ValueError("sample_rate must be positive")
    try:
        header = _read_at(source, 0, _HEADER_BYTES)
    except OSError as exc:
        raise DecodeError("not_audio", f"cannot read the upload: {exc}") from exc
    if not header:
        raise DecodeError("empty", "the upload is empty (zero bytes)")

    cap = None if max_seconds is None else max(1, int(round(max_seconds * sample_rate)))
    src = os.fspath(source) if isinstance(source, (str, os.PathLike)) else source
    try:
        container = av.open(src, mode="r")
    except (av.error.FFmpegError, ValueError, OSError, OverflowError) as exc:
        if _looks_like_media(header):
            raise DecodeError("corrupt", f"the media container is damaged and cannot be opened ({_error_text(exc)})") from exc
        raise DecodeError("not_audio", "the upload is not an audio or video file") from exc

    with container:
        if not container.streams.audio:
            raise DecodeError("not_audio", "the file has no audio stream")
        stream = container.streams.audio[0]
        if stream.codec_context is None:  # PyAV found no decoder for the stream's codec id
            if _looks_like_media(header):
                raise DecodeError("corrupt", "the audio stream's codec is damaged or unknown")
            raise DecodeError("not_audio", "the upload is not an audio or video file")
        if threads:
            stream.thread_type = "AUTO"
        try:
            claimed_s = _claimed_seconds(container, stream, source)
        except OSError:
            claimed_s = None  # the header could not be re-read: no claim to hold the decode to
        sink = _MonoSink(cap, max(1, int(round(_DOWNMIX_BLOCK_S * sample_rate))))
        start_s = max(0.0, float(start_seconds))
        if start_s and stream.time_base:
            try:
                target = int(start_s / stream.time_base) + (stream.start_time or 0)
                container.seek(target, stream=stream, backward=True, any_frame=False)
            except (av.error.FFmpegError, ValueError, OverflowError) as exc:
                raise DecodeError("corrupt", f"cannot seek to {start_s:.1f} s ({_error_text(exc)})") from exc
        origin_s = float((stream.start_time or 0) * stream.time_base) if stream.time_base else 0.0
        convert = _Converter(av, sample_rate, sink, start_s=start_s, origin_s=origin_s)
        def drain() -> None:
            """Decode the frames the decoder holds back (frame threading, codec delay)."""
            try:
                for frame in stream.codec_context.decode(None):
                    convert.push(frame)
            except (av.error.FFmpegError, ValueError, OverflowError):
                pass

        reader = _PacketReader(av, container, stream, claimed_s, drain)
        packets = bad = 0
        for packet in reader:
            packets += 1
            try:
                for frame in packet.decode():
                    convert.push(frame)
            except (av.error.FFmpegError, ValueError, OverflowError):
                # skipped, as the ffmpeg command line does; an ID3v2 tag where two MP3 files
                # were joined reaches the decoder as a packet and is metadata, not lost audio
                if bytes(packet)[:3] != b"ID3":
                    bad += 1
            if sink.full:
                break
        stopped_by = reader.stopped_by
        if not sink.full:
            drain()
            convert.flush()
            if stopped_by is None and "ogg" in (container.format.name or "").split(","):
                try:
                    if _ogg_cut_short(source):
                        stopped_by = "the file ends before its Ogg stream does: it was cut short"
                except OSError:
                    pass

    samples = sink.samples()
    report = DecodeReport(
        decoded_s=start_s + samples.size / sample_rate,
        claimed_s=claimed_s,
        capped=sink.full,
        packets=packets + reader.skipped,
        bad_packets=bad + reader.skipped,
        stream_changes=convert.changes,
        stopped_by=stopped_by,
        downmix=sink.downmix,
    )
    _judge(report, min_seconds, media_like=_looks_like_media(header))
    return DecodedAudio(samples, report)


def _judge(report: DecodeReport, min_seconds: float | None, *, media_like: bool) -> None:
    """Raise the DecodeError a decode with this report deserves, if any (see the thresholds)."""
    damaged = report.partial
    too_short = min_seconds is not None and report.decoded_s < min_seconds
    if report.decoded_s == 0:
        if not media_like:
            # ffmpeg falls back to the file name's extension when probing finds nothing: a zip
            # named .flac "opens" as raw FLAC and yields nothing
            raise DecodeError("not_audio", "the upload is not an audio or video file", report)
        if not damaged:
            raise DecodeError("empty", "the audio stream contains no samples", report)
        raise DecodeError("corrupt", f"the audio stream is damaged and did not decode: {_figures(report)}", report)
    if damaged:
        mostly_failed = report.bad_packets > report.packets - report.bad_packets
        if too_short or mostly_failed:
            raise DecodeError("corrupt", f"the audio stream is damaged: {_figures(report)}", report)
    elif too_short:
        raise DecodeError(
            "too_short",
            f"the audio lasts {report.decoded_s:.2f} s, shorter than the {min_seconds:g} s needed",
            report,
        )


def _figures(report: DecodeReport) -> str:
    """'0.96 s decoded of the 30.0 s the file claims, 212 of 230 packets did not decode'."""
    parts = [f"{_secs(report.decoded_s)} decoded"]
    if report.claimed_s is not None:
        parts[0] += f" of the {_secs(report.claimed_s)} the file claims"
    if report.bad_packets:
        parts.append(f"{report.bad_packets:,} of {report.packets:,} packets did not decode")
    if report.stopped_by:
        parts.append(report.stopped_by)
    return ", ".join(parts)


def decode_audio(
    source: str | os.PathLike | BinaryIO,
    *,
    sample_rate: int,
    max_seconds: float | None = None,
    min_seconds: float | None = None,
    threads: bool = True,
) -> np.ndarray:
    """``decode(...).samples``: mono float32 of shape ``(n,)`` at ``sample_rate``. Raises
    :class:`DecodeError` as :func:`decode` does."""
    return decode(source, sample_rate=sample_rate, max_seconds=max_seconds, min_seconds=min_seconds,
                  threads=threads).samples


def decode_bytes(data: bytes, *, sample_rate: int, max_seconds: float | None = None) -> np.ndarray:
    """Convenience for tests and small payloads: decode an in-memory file."""
    return decode_audio(io.BytesIO(data), sample_rate=sample_rate, max_seconds=max_seconds)
