"""What one decode produced, against what the file claims: the report, without numpy.

The decoder (``audio.py``) makes it; ingest records it with every upload, and the review page
and the notices read it, so it lives apart from the decoder (the review API does not import
numpy or PyAV).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# A decode that ends clearly short of what the container claims lost audio (a truncated
# download). "Clearly": codec delay and padding, the last partial frame and a video track a
# little longer than the audio (Matroska claims the longer of the two) move the figures by a
# fraction of a second, never by 2 %.
_CLAIM_SLACK_S = 0.5
_CLAIM_SLACK_FRACTION = 0.02


def short_of(decoded_s: float, claimed_s: float) -> bool:
    return decoded_s < claimed_s - max(_CLAIM_SLACK_S, _CLAIM_SLACK_FRACTION * claimed_s)


def secs(s: float) -> str:
    return f"{s:,.2f} s" if s < 10 else f"{s:,.1f} s"


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"


@dataclass(frozen=True)
class DecodeReport:
    """What one decode produced, against what the file claims.

    ``decoded_s``: seconds of audio produced at the analysis rate (after the cap).
    ``claimed_s``: seconds the container or stream header claims; None when it claims none
    (including a raw MP3/AAC stream whose only figure is ffmpeg's estimate from its size).
    ``capped``: decoding stopped at ``max_seconds``.
    ``packets``: audio packets read; ``bad_packets``: packets skipped because they did not
    decode (a packet the demuxer failed on and decoding seeked past counts as one).
    ``stream_changes``: mid-stream changes of sample rate, channel layout or sample format
    that were followed.
    ``stopped_by``: the error that ended decoding before the end of the stream, if any.
    ``downmix``: "mono" (no multichannel audio), "sum" ((L+R)/√2 throughout), "difference"
    ((L-R)/√2 throughout: one channel is phase-inverted) or "mixed" (block by block).
    """

    decoded_s: float
    claimed_s: float | None
    capped: bool
    packets: int
    bad_packets: int
    stream_changes: int
    stopped_by: str | None
    downmix: str

    @property
    def short_of_claim(self) -> bool:
        """Not capped, and decoded clearly less than the container claims (see the slack)."""
        return not self.capped and self.claimed_s is not None and short_of(self.decoded_s, self.claimed_s)

    @property
    def partial(self) -> bool:
        """True when audio was lost: packets skipped, decoding stopped by an error, or
        (not capped) decoded clearly less than claimed."""
        return bool(self.bad_packets or self.stopped_by or self.short_of_claim)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: seconds rounded to 0.01 s, and ``partial``."""
        return {
            "decoded_s": round(self.decoded_s, 2),
            "claimed_s": None if self.claimed_s is None else round(self.claimed_s, 2),
            "capped": self.capped,
            "packets": self.packets,
            "bad_packets": self.bad_packets,
            "stream_changes": self.stream_changes,
            "stopped_by": self.stopped_by,
            "downmix": self.downmix,
            "partial": self.partial,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DecodeReport":
        """The report back from :meth:`to_dict` (as stored with an upload's record)."""
        return cls(**{f: d.get(f) for f in cls.__dataclass_fields__})

    def describe(self) -> str:
        """One plain sentence for a person, e.g. "decoded 29.7 s of the 30.0 s the file
        claims; 3 damaged packets skipped"."""
        if self.claimed_s is None:
            head = f"decoded {secs(self.decoded_s)} (the file states no duration)"
        elif self.capped:
            head = f"decoded the first {secs(self.decoded_s)} of the {secs(self.claimed_s)} the file claims"
        else:
            head = f"decoded {secs(self.decoded_s)} of the {secs(self.claimed_s)} the file claims"
        if self.capped:
            head += " (the decoding limit)"
        parts = [head]
        if self.bad_packets:
            parts.append(plural(self.bad_packets, "damaged packet") + " skipped")
        if self.stopped_by:
            parts.append(f"decoding stopped early: {self.stopped_by}")
        if self.stream_changes:
            parts.append(f"followed {plural(self.stream_changes, 'mid-stream change')} of sample rate, channels or format")
        if self.downmix == "difference":
            parts.append("the two channels cancel when added (one is phase-inverted), so their difference was analysed")
        elif self.downmix == "mixed":
            parts.append("where the two channels cancel when added (a phase-inverted channel), their difference was analysed")
        return "; ".join(parts)
