"""The words the product uses for numbers, times, platforms and match evidence.

Shared by the review page, the reviewer e-mails and the takedown notices (their templates
receive these words, never raw evidence): every phrase is made in one place. Pure standard
library. Also the cleaning of untrusted text (``clean``, ``one_line``) and the check of a URL
before it is linked (``safe_http_url``).

The evidence helpers take the case's evidence typed (``evidence.MatchEvidence``, read once
from the stored document, whose numbers may be Decimals from DynamoDB); given the document
itself, they read it through ``MatchEvidence`` too.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from typing import Any, Mapping
from urllib.parse import urlsplit

from .evidence import MatchEvidence, num

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def clean(value: Any, limit: int | None = None) -> str:
    """Untrusted value as display text (not yet escaped): no control characters, trimmed."""
    if value is None:
        return ""
    text = _CONTROL.sub("", str(value)).strip()
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def one_line(value: Any, limit: int | None = None) -> str:
    """Untrusted value squeezed onto one line (for subjects and plain-text mail)."""
    return clean(" ".join(str(value or "").split()), limit)


def safe_http_url(url: Any) -> str | None:
    """The URL if it is a plain http(s) URL we may link to, else None (never link javascript:)."""
    text = clean(url)
    if not text or any(c.isspace() for c in text) or len(text) > 2048:
        return None
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return None
    return text


_PLATFORM_NAMES = {
    "youtube": "YouTube", "tiktok": "TikTok", "soundcloud": "SoundCloud", "facebook": "Facebook",
    "instagram": "Instagram", "vimeo": "Vimeo", "twitch": "Twitch", "dailymotion": "Dailymotion",
    "bandcamp": "Bandcamp", "x": "X", "twitter": "X (Twitter)", "mixcloud": "Mixcloud", "audiomack": "Audiomack",
}


def platform_name(platform: Any) -> str:
    """Display name of a platform id ("youtube" -> "YouTube"); other text is kept (cleaned)."""
    text = clean(platform, 80)
    return _PLATFORM_NAMES.get(text.lower(), text)


def fmt_time(seconds: Any) -> str:
    """Seconds as m:ss (or h:mm:ss), truncated as players show them; "?" when unknown."""
    s = num(seconds)
    if s is None:
        return "?"
    sign = "−" if s < 0 else ""
    total = int(math.floor(abs(s) + 1e-6))  # like a media player: 64.9 s is still 1:04
    h, rem = divmod(total, 3600)
    m, sec = divmod(rem, 60)
    return f"{sign}{h}:{m:02d}:{sec:02d}" if h else f"{sign}{m}:{sec:02d}"


def fmt_number(value: Any) -> str:
    f = num(value)
    if f is None:
        return "?"
    if f.is_integer() and abs(f) < 1e15:
        return f"{int(f):,}"
    return f"{f:,.3f}".rstrip("0").rstrip(".") if abs(f) >= 0.001 else f"{f:.2g}"


_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def fmt_epoch(ts: Any) -> str:
    """Epoch seconds as "1 Dec 2026, 14:05 UTC" (``fmt_when``); "?" when unknown."""
    f = num(ts)
    if f is None:
        return "?"
    return _fmt_dt(datetime.fromtimestamp(f, tz=timezone.utc))


def _fmt_dt(dt: datetime) -> str:
    # by hand, not strftime: "%-d" is glibc's and "%b" follows the locale
    dt = dt.astimezone(timezone.utc)
    return f"{dt.day} {_MONTHS[dt.month - 1]} {dt.year}, {dt.hour:02d}:{dt.minute:02d} UTC"


def fmt_when(value: Any) -> str:
    """A moment as the product writes it everywhere (pages, mails, the decided page):
    "1 Dec 2026, 14:05 UTC". ``value`` is epoch seconds (a number, a Decimal, digits) or an
    ISO-8601 time as the cases store them ("2026-12-01T14:05:09.123Z"; a time without zone is
    UTC). Text that is neither is returned cleaned, unchanged; None or "" gives "?"."""
    if value is None or value == "":
        return "?"
    if num(value) is not None:
        return fmt_epoch(value)
    text = clean(value, 64)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return text
    return _fmt_dt(dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc))


def fmt_remaining(expires_at: Any, now: Any) -> str:
    """ "in 2 days 3 hours", "in 40 minutes", "expired"."""
    e, n = num(expires_at), num(now)
    if e is None or n is None:
        return ""
    left = int(e - n)
    if left <= 0:
        return "expired"
    days, rem = divmod(left, 86400)
    hours, rem = divmod(rem, 3600)
    minutes = rem // 60
    parts = []
    if days:
        parts.append(f"{days} day{'s' * (days != 1)}")
    if hours and days < 3:
        parts.append(f"{hours} hour{'s' * (hours != 1)}")
    if not days and (minutes or not hours):
        parts.append(f"{max(minutes, 1)} minute{'s' * (max(minutes, 1) != 1)}")
    return "in " + " ".join(parts[:2])


def _humanize_count(n: float) -> str:
    for size, word in ((1e12, "trillion"), (1e9, "billion"), (1e6, "million")):
        if n >= size:
            v = n / size
            return f"{v:.1f}".rstrip("0").rstrip(".") + f" {word}"
    return f"{int(n):,}"


def _two_sig(n: float) -> float:
    if n < 100:
        return float(round(n))
    digits = int(math.floor(math.log10(n))) - 1
    return round(n / 10**digits) * 10**digits


def chance_phrase(false_match_rate: Any) -> str:
    """Plain English for the false-match rate: "about 1 chance in 2.5 million that this is a coincidence"."""
    r = num(false_match_rate)
    if r is None or r < 0:
        return "the chance that this is a coincidence was not computed"
    if r >= 0.5:
        return "a match this strong could easily be a coincidence"
    n = 1.0 / r if r > 0 else math.inf
    if n >= 1e12:
        return "less than 1 chance in a trillion that this is a coincidence"
    return f"about 1 chance in {_humanize_count(_two_sig(n))} that this is a coincidence"


def strength(false_match_rate: Any) -> tuple[str, str]:
    """(label, level) for the match; level is one of strong / good / weak / unknown."""
    r = num(false_match_rate)
    if r is None or r < 0:
        return "Match strength unknown", "unknown"
    if r <= 1e-6:
        return "Very strong match", "strong"
    if r <= 1e-3:
        return "Strong match", "good"
    if r <= 0.05:
        return "Possible match: check carefully", "weak"
    return "Weak match: may be a coincidence", "weak"


def speed_phrase(speed: Any) -> str:
    s = num(speed)
    if s is None or s <= 0:
        return "Speed change unknown"
    pct = (s - 1.0) * 100
    if abs(pct) < 0.5:
        return "Same speed as our recording"
    word = "faster" if pct > 0 else "slower"
    return f"Plays {abs(pct):.0f}% {word} than our recording (×{s:.2f})"


def pitch_phrase(semitones: Any) -> str:
    p = num(semitones)
    if p is None:
        return "Pitch change unknown"
    if abs(p) < 0.05:
        return "Same pitch as our recording"
    unit = "semitone" if abs(round(p, 1)) == 1 else "semitones"
    return f"Pitch {'raised' if p > 0 else 'lowered'} by {abs(p):.1f} {unit}"


def change_phrase(speed: Any, semitones: Any, transform: str = "") -> str:
    """Speed and pitch in one sentence, saying how they were changed.

    ``speed`` is the tempo ratio (1.25 = the upload runs 25 % faster), ``semitones`` the
    pitch change; ``transform`` the engine's label ("none", "speed", "time_stretch",
    "pitch_shift", "mixed"; "" for evidence that predates it: then inferred from the two
    numbers). A resampled copy ("speed") moves pitch by 12·log2(speed) semitones with the
    tempo (1.05 → +0.84); "mixed" is a speed change with a further pitch shift on top, told
    as the two parts (a "nightcore" edit: 1.25× and 2 semitones higher again, +5.9 in all).
    """
    s, p = num(speed), num(semitones)
    if transform == "speed" and s is not None and s > 0:
        p = 12 * math.log2(s)  # resampled: the pitch moved exactly with the speed (the speed is measured finer)
    sp, pi = speed_phrase(s), pitch_phrase(p)
    if sp.startswith("Same") and pi.startswith("Same"):
        return "No speed or pitch change"
    change = f"{sp}; {pi[0].lower()}{pi[1:]}"
    changed_speed = s is not None and s > 0 and abs(s - 1) >= 0.005
    changed_pitch = p is not None and abs(p) >= 0.05
    with_speed = 12 * math.log2(s) if s is not None and s > 0 else None
    if not transform and changed_speed and changed_pitch and with_speed is not None:
        transform = "speed" if abs(p - with_speed) < 0.35 else "mixed"
    if transform == "speed" and (changed_speed or changed_pitch):
        return change + " (speed and pitch changed together, as in a sped-up or slowed-down edit)"
    if transform == "time_stretch" and changed_speed:
        return change + " (tempo changed without changing the pitch)"
    if transform == "pitch_shift" and changed_pitch:
        return change + " (pitch shifted without changing the tempo)"
    if transform == "mixed" and changed_pitch and with_speed is not None:
        rest = p - with_speed
        if changed_speed and abs(with_speed) >= 0.05 and abs(rest) >= 0.05:
            nightcore = ", as in a \u201cnightcore\u201d edit" if s > 1 and rest > 0 else ""
            return change + (f" ({abs(with_speed):.1f} {'higher' if with_speed > 0 else 'lower'} from the speed "
                             f"change, then {abs(rest):.1f} {'higher' if rest > 0 else 'lower'} on top{nightcore})")
        if changed_speed:
            return change + " (tempo and pitch changed separately)"
    return change


def repeat_phrase(count: int | None, platform: str) -> str:
    """How many earlier notices this uploader drew on the platform ("" when unknown), for a
    reviewer weighing a repeat infringer (17 U.S.C. 512(i) asks platforms for a policy)."""
    if count is None:
        return ""
    if count == 0:
        return f"None before on {platform}"
    return f"{count} earlier notice{'s' if count != 1 else ''} on {platform} for this uploader's uploads"


def _fmt_score(score: Any) -> str:
    """The engine's score is -log10(false-match rate): one decimal is plenty."""
    f = num(score)
    if f is None:
        return "?"
    return f"{f:.0f}" if f.is_integer() else f"{f:.1f}"


def evidence_summary(evidence: "MatchEvidence | Mapping[str, Any] | None") -> dict[str, str]:
    """The match evidence in words, shared by the page, the emails and the notices.

    ``evidence`` is a ``MatchEvidence`` (or the stored document, read once here). Keys: score,
    strength, level, chance, upload_segment, reference_segment, speed, pitch, change (speed
    and pitch in one sentence), landmarks, content. Reference times follow the engine's
    convention: reference time = offset_s + speed × upload time.
    """
    ev = MatchEvidence.from_document(evidence)
    speed = ev.speed
    factor = speed if speed and speed > 0 else 1.0
    q0 = ev.query_start_s or 0.0
    dur = ev.matched_duration_s
    off = ev.offset_s
    label, level = strength(ev.false_match_rate)
    if dur is not None:
        upload_segment = f"{fmt_time(q0)}–{fmt_time(q0 + dur)} ({dur:.0f} s)"
    else:
        upload_segment = f"from {fmt_time(q0)}"
    if off is not None and dur is not None:
        r0 = off + factor * q0
        reference_segment = f"{fmt_time(r0)}–{fmt_time(r0 + factor * dur)} ({factor * dur:.0f} s)"
    elif off is not None:
        reference_segment = f"from {fmt_time(off + factor * q0)}"
    else:
        reference_segment = "unknown"
    pitch = ev.pitch_semitones
    if ev.transform == "speed" and ev.speed and ev.speed > 0:
        pitch = 12 * math.log2(ev.speed)  # as change_phrase: a resample's pitch follows its speed exactly
    sp, pi = speed_phrase(ev.speed), pitch_phrase(pitch)
    change = change_phrase(ev.speed, ev.pitch_semitones, ev.transform)
    return {
        "score": _fmt_score(ev.score),
        "strength": label,
        "level": level,
        "chance": chance_phrase(ev.false_match_rate),
        "upload_segment": upload_segment,
        "reference_segment": reference_segment,
        "speed": sp,
        "pitch": pi,
        "change": change,
        "landmarks": fmt_number(ev.aligned_hashes),
        "content": content_phrase(ev.salient_confirmed, ev.salient_peaks),
    }


def decode_note(evidence: "MatchEvidence | Mapping[str, Any] | None") -> str:
    """How the upload's audio was decoded, when a reviewer should know (part of it lost, a
    phase-inverted channel, joined parts); "" for an ordinary decode."""
    report = MatchEvidence.from_document(evidence).decode
    if report is None:
        return ""
    if not (report.partial or report.stream_changes or report.downmix in ("difference", "mixed")):
        return ""
    text = report.describe()
    return text[:1].upper() + text[1:] + ("." if report.partial else "") + (
        " Only the decoded part was compared with our recording." if report.partial else "")


def content_phrase(confirmed: Any, salient: Any) -> str:
    """How much of the upload's prominent sound our recording accounts for ("" if unmeasured).

    Low shares are what a different piece sharing a loop or sample looks like; a copy,
    even under heavy noise, keeps most of it."""
    c, n = num(confirmed), num(salient)
    if c is None or not n:
        return ""
    share = max(0.0, min(1.0, c / n))
    return f"{share:.0%} of the upload's prominent sound in and around the matched part is also in our recording ({c:.0f} of {n:.0f} peaks)"


def matched_landmarks(evidence: "MatchEvidence | Mapping[str, Any] | None") -> str:
    """How many landmarks matched in time ("1,204"), or "" when the evidence does not say."""
    hashes = MatchEvidence.from_document(evidence).aligned_hashes
    return "" if hashes is None else fmt_number(hashes)


def other_matches(evidence: "MatchEvidence | Mapping[str, Any] | None", limit: int = 5) -> list[dict[str, str]]:
    """Near-duplicates in our catalogue that also matched (a remaster, a re-release), in words:
    title (or track id), track_id and score, cleaned but not escaped; at most ``limit``."""
    return [
        {"title": clean(o.label, 200), "track_id": clean(o.track_id, 80), "score": clean(_fmt_score(o.score))}
        for o in MatchEvidence.from_document(evidence).others[:limit]
    ]


def alignment_landmarks(evidence: "MatchEvidence | Mapping[str, Any] | None") -> tuple[tuple[float, float], ...]:
    """The (upload time, reference time) pairs, in seconds, that the alignment chart draws."""
    return MatchEvidence.from_document(evidence).landmarks


_STATUS_WORDS = {
    "DETECTED": "Detected", "IN_REVIEW": "Waiting for review", "APPROVED": "Approved", "REJECTED": "Rejected",
    "REVIEW_EXPIRED": "Review expired", "NOTICE_SENT": "Notice sent", "CONTENT_REMOVED": "Content removed",
    "NOTICE_DISPUTED": "Notice disputed", "FAILED": "Failed",
}


def status_phrase(status: Any) -> str:
    """A case status in words ("IN_REVIEW" -> "Waiting for review"); an unknown one as it is (cleaned)."""
    return clean(_STATUS_WORDS.get(str(status), status))


_KIND_WORDS = {"copy": "Copy", "partial": "Partial match", "suspected_ai_cover": "Suspected AI cover",
               "suspected_deepfake": "Suspected deepfake"}


def kind_phrase(kind: Any) -> str:
    """A case kind in words ("partial" -> "Partial match"); a copy when none is given."""
    return _KIND_WORDS.get(str(kind or "copy"), clean(kind, 40))


def round_number(round_: Any) -> int:
    """The review round as a whole number (0: the first ask; 1, 2, ...: asked again), 0 when unknown."""
    return int(num(round_) or 0)


def portion_phrase(evidence: "MatchEvidence | Mapping[str, Any] | None") -> str:
    """Which part of an upload is our recording, for a partial match, in words: where in the
    upload, where in our recording, and (when measured) what share of the upload's prominent
    sound is ours. E.g. "0:12–0:52 of the upload (40 s) is 1:05–1:45 of our recording (40 s);
    38% of the upload's prominent sound ... (19 of 50 peaks)"."""
    summary = evidence_summary(evidence)
    text = f"{summary['upload_segment']} of the upload is {summary['reference_segment']} of our recording"
    return f"{text}; {summary['content']}" if summary["content"] else text


def likeness_artist(likeness: Any) -> Any:
    """The artist a stored likeness signal names (``{"artist": {"id", "name"}, ...}``), for a
    case whose work does not say; None when there is none."""
    artist = likeness.get("artist") if isinstance(likeness, Mapping) else None
    return artist.get("name") if isinstance(artist, Mapping) else None
