"""Review clips at the edge: read the upload and our recording from S3 by ranges, cut with the
project's decoder, bring the upload back with ffmpeg filters, encode AAC in MP4, store, link.

``S3ClipMaker`` implements ``takedown_core.clips.ClipMaker``: the plan is the core's
(``plan_clips``); this module only reads, decodes, filters, encodes and writes. An S3 object
is read through :class:`S3RangeFile` (ranged GETs behind a buffer), so a clip of a
15-minute, 500 MB upload fetches the container's index and a few seconds of audio, not the
file; the decoder seeks (``audio.decode(start_seconds=...)``) and stops at the clip's end.

``S3ClipLinks`` implements ``ClipLinks`` with presigned GETs (SigV4, ``generate_presigned_url``).
"""

from __future__ import annotations

import io
import json
import logging
import os
import tempfile
import time
from collections import OrderedDict
from fractions import Fraction
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from botocore.exceptions import ClientError

from takedown_core.audio import DecodeError, decode
from takedown_core.clips import (
    CLIP_CONTENT_TYPE,
    CLIP_RATE,
    Clip,
    ClipSet,
    ClipSpec,
    Rectify,
    clip_prefix,
    plan_clips,
    reference_pointer_key,
    upload_duration_of,
)

log = logging.getLogger(__name__)
BLOCK = 256 * 1024             # bytes per ranged GET (a 20 s clip of a 192 kb/s upload is 480 KB)
CACHED_BLOCKS = 64             # blocks kept per object (16 MB): every clip re-reads the header and index
READ_BUFFER = 64 * 1024        # bytes the buffered reader in front of the blocks holds
CLIP_BIT_RATE = 96_000         # b/s of the AAC clips: mono speech and music, clear on a phone
FRAME = 1024                   # samples per AAC frame
_MISSING = ("NoSuchKey", "404", "NotFound", "NoSuchBucket")


class ObjectMissing(LookupError):
    """The S3 object is not there (deleted, never written)."""


class S3RangeFile(io.RawIOBase):
    """A read-only, seekable file over one S3 object, read in ``BLOCK``-sized ranged GETs; the
    last ``CACHED_BLOCKS`` blocks are kept, so the clips of one review (each reopens the
    container: its header, an MP4's index at the end) fetch those once. ``requests`` and
    ``fetched`` (bytes) count what was read from S3."""

    def __init__(self, s3: Any, bucket: str, key: str) -> None:
        super().__init__()
        self.s3, self.bucket, self.key = s3, bucket, key
        try:
            self.size = int(s3.head_object(Bucket=bucket, Key=key)["ContentLength"])
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in _MISSING:
                raise ObjectMissing(f"s3://{bucket}/{key}") from e
            raise
        self.pos = 0
        self.requests = 0
        self.fetched = 0
        self._blocks: OrderedDict[int, bytes] = OrderedDict()

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.size}[whence]
        self.pos = max(0, base + offset)
        return self.pos

    def _block(self, i: int) -> bytes:
        data = self._blocks.get(i)
        if data is not None:
            self._blocks.move_to_end(i)
            return data
        start = i * BLOCK
        end = min(self.size, start + BLOCK) - 1
        data = self.s3.get_object(Bucket=self.bucket, Key=self.key, Range=f"bytes={start}-{end}")["Body"].read()
        self.requests += 1
        self.fetched += len(data)
        self._blocks[i] = data
        if len(self._blocks) > CACHED_BLOCKS:
            self._blocks.popitem(last=False)
        return data

    def readinto(self, b: Any) -> int:
        """Up to len(b) bytes from the current position, within one block (a short read is
        allowed of a raw stream; the buffered reader in front asks again)."""
        if self.pos >= self.size or len(b) == 0:
            return 0
        i, off = divmod(self.pos, BLOCK)
        data = self._block(i)[off: off + len(b)]
        b[: len(data)] = data
        self.pos += len(data)
        return len(data)


def open_object(s3: Any, bucket: str, key: str) -> io.BufferedReader:
    """A buffered, seekable reader of ``s3://bucket/key``; raises ObjectMissing."""
    return io.BufferedReader(S3RangeFile(s3, bucket, key), buffer_size=READ_BUFFER)


def cut(source: Any, start_s: float, end_s: float, *, rate: int = CLIP_RATE) -> np.ndarray:
    """Mono float32 at ``rate`` of ``source`` (a path or seekable file) from ``start_s`` to
    ``end_s``: the decoder seeks there and stops at the end. Raises DecodeError."""
    if hasattr(source, "seek"):
        source.seek(0)
    return decode(source, sample_rate=rate, start_seconds=max(0.0, start_s),
                  max_seconds=max(0.05, end_s - max(0.0, start_s))).samples


def rectify(samples: np.ndarray, how: Rectify, *, rate: int = CLIP_RATE) -> np.ndarray:
    """``samples`` played at our recording's speed and pitch (ffmpeg's asetrate, aresample and
    atempo through PyAV's filter graph)."""
    import av
    import av.filter

    graph = av.filter.Graph()
    node = src = graph.add_abuffer(format="flt", sample_rate=rate, layout="mono", time_base=Fraction(1, rate))
    for name, args in how.filters(rate):
        nxt = graph.add(name, args)
        node.link_to(nxt)
        node = nxt
    # the sink takes whatever rate the chain ends at; aresample already brought it back to ``rate``
    fmt = graph.add("aformat", f"sample_fmts=flt:channel_layouts=mono:sample_rates={rate}")
    node.link_to(fmt)
    sink = graph.add("abuffersink")
    fmt.link_to(sink)
    graph.configure()
    out: list[np.ndarray] = []

    def drain() -> None:
        while True:
            try:
                frame = sink.pull()
            except (av.error.BlockingIOError, av.error.EOFError):
                return
            out.append(frame.to_ndarray().reshape(-1).astype(np.float32, copy=False))

    data = np.ascontiguousarray(samples, dtype=np.float32)
    for i in range(0, data.size, 4096):
        frame = av.AudioFrame.from_ndarray(data[None, i:i + 4096], format="flt", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = rate, i, Fraction(1, rate)
        src.push(frame)
        drain()
    src.push(None)
    drain()
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def encode_m4a(samples: np.ndarray, path: str, *, rate: int = CLIP_RATE, bit_rate: int = CLIP_BIT_RATE) -> None:
    """Write ``samples`` (mono float32) as AAC-LC in MP4 at ``path``, its index first
    (``+faststart``: a browser reads the duration from the first bytes)."""
    import av

    data = np.clip(np.ascontiguousarray(samples, dtype=np.float32), -1.0, 1.0)
    with av.open(path, "w", format="mp4", options={"movflags": "+faststart"}) as out:
        stream = out.add_stream("aac", rate=rate, layout="mono")
        stream.bit_rate = bit_rate
        for i in range(0, data.size, FRAME):
            frame = av.AudioFrame.from_ndarray(data[None, i:i + FRAME], format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


class S3ClipMaker:
    """Cuts a review's clips from the upload (its landing bucket) and our recording (the
    reference-audio bucket, or none when this account does not hold it) into the evidence
    bucket under ``clips/<case_id>/<review_id>/``."""

    def __init__(self, s3: Any, *, evidence_bucket: str, reference_bucket: str | None,
                 workdir: str | None = None) -> None:
        self.s3, self.evidence_bucket, self.reference_bucket = s3, evidence_bucket, reference_bucket
        self.workdir = workdir or tempfile.gettempdir()

    def _reference_key(self, track_id: str) -> str:
        assert self.reference_bucket
        try:
            raw = self.s3.get_object(Bucket=self.reference_bucket, Key=reference_pointer_key(track_id))["Body"].read()
        except ClientError as e:
            if e.response.get("Error", {}).get("Code") in _MISSING:
                raise ObjectMissing(f"s3://{self.reference_bucket}/{reference_pointer_key(track_id)}") from e
            raise
        return str(json.loads(raw)["key"])

    def make(self, case: Any, review_id: str) -> ClipSet:
        started = time.monotonic()
        evidence = dict(case.evidence or {})
        plan = plan_clips(evidence, upload_duration_s=upload_duration_of(evidence),
                          reference_audio=self.reference_bucket is not None)
        out = ClipSet(note=plan.note, reference_audio=self.reference_bucket is not None)
        src = case.source
        try:
            upload = open_object(self.s3, src.bucket, src.key)
        except ObjectMissing:
            out.problems.append("The upload's file is no longer in the partner's bucket "
                                f"({src.bucket}/{src.key}), so no clip of it could be cut.")
            upload = None
        reference = None
        if any(s.role == "reference" for s in plan.specs) and plan.track_id:
            try:
                ref_key = self._reference_key(plan.track_id)
                reference = open_object(self.s3, self.reference_bucket, ref_key)
            except (ObjectMissing, KeyError, ValueError):
                out.problems.append("Our recording is not in the reference-audio bucket, so its clip could not be cut.")
        prefix = clip_prefix(case.case_id, review_id)
        for spec in plan.specs:
            source = reference if spec.role == "reference" else upload
            if source is None:
                continue
            try:
                out.clips.append(self._one(spec, source, prefix))
            except DecodeError as e:
                out.problems.append(f"The {'recording' if spec.role == 'reference' else 'upload'} could not be "
                                    f"decoded for clip {spec.index + 1} ({e}).")
        log.info("clips cut", extra={"case_id": case.case_id, "clips": len(out.clips), "problems": len(out.problems),
                                     "seconds": round(time.monotonic() - started, 2)})
        return out

    def _one(self, spec: ClipSpec, source: Any, prefix: str) -> Clip:
        if spec.role == "reference":
            assert spec.reference_start_s is not None and spec.reference_end_s is not None
            samples = cut(source, spec.reference_start_s, spec.reference_end_s)
        else:
            samples = cut(source, spec.upload_start_s, spec.upload_end_s)
            if spec.rectify is not None:
                samples = rectify(samples, spec.rectify)
        if samples.size < CLIP_RATE // 2:
            raise DecodeError("empty", "less than half a second of audio there")
        fd, path = tempfile.mkstemp(suffix=".m4a", dir=self.workdir)
        os.close(fd)
        try:
            encode_m4a(samples, path)
            size = os.path.getsize(path)
            key = prefix + spec.name
            with open(path, "rb") as f:
                self.s3.put_object(Bucket=self.evidence_bucket, Key=key, Body=f, ContentType=CLIP_CONTENT_TYPE)
        finally:
            os.unlink(path)
        return Clip(role=spec.role, index=spec.index, key=key, upload_start_s=spec.upload_start_s,
                    upload_end_s=spec.upload_end_s, reference_start_s=spec.reference_start_s,
                    reference_end_s=spec.reference_end_s, duration_s=round(samples.size / CLIP_RATE, 3),
                    content_type=CLIP_CONTENT_TYPE, bytes=size)


class S3ClipLinks:
    """Presigned GETs to the evidence bucket's clips. ``s3`` is a client configured for SigV4
    (presigned SigV4 URLs last at most 7 days; a URL signed with a Lambda role's temporary
    credentials stops working when those credentials expire, whatever X-Amz-Expires says)."""

    def __init__(self, s3: Any, bucket: str) -> None:
        self.s3, self.bucket = s3, bucket
        self._origin: str | None = None

    @property
    def origin(self) -> str:
        if self._origin is None:  # exactly the scheme and host the client signs for
            parts = urlsplit(self.url("clips/", 60))
            self._origin = f"{parts.scheme}://{parts.netloc}"
        return self._origin

    def url(self, key: str, expires_in: int) -> str:
        return self.s3.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": key},
                                              ExpiresIn=int(expires_in), HttpMethod="GET")
