"""The partner's metadata sidecar: `NAME.json` (or `NAME.EXT.json`) beside the media.

    {"source_url": "https://www.youtube.com/watch?v=...", "platform": "youtube",
     "uploader": "some channel", "title": "Song (sped up)", "partner_ref": "A-123",
     "territory": "US"}

Every field is optional; a missing field takes the partner's default (platform) or stays
empty. A sidecar that is not a JSON object, has unknown fields, wrong types or an unusable
URL is rejected with a message that says which field is wrong: the upload is then
quarantined with that reason rather than guessed at.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlsplit

from .cases import Source

MAX_SIDECAR_BYTES = 64 * 1024  # a sidecar is a few hundred bytes; anything huge is wrong
FIELDS = {
    "source_url": "public URL of the upload on the platform",
    "platform": "platform id, e.g. youtube, tiktok, soundcloud",
    "uploader": "account or channel that uploaded it",
    "title": "title the uploader gave it",
    "partner_ref": "the partner's own reference for this item",
    "territory": "ISO 3166 country code or EU where it is served",
}
MAX_FIELD_CHARS = 2048


class SidecarError(ValueError):
    """The sidecar is present but unusable; str() says what to fix."""


def sidecar_keys(media_key: str) -> list[str]:
    """Where a media object's sidecar may be: NAME.EXT.json first, then NAME.json."""
    keys = [f"{media_key}.json"]
    stem, dot, _ext = media_key.rpartition(".")
    if dot and "/" not in _ext:
        keys.append(f"{stem}.json")
    return keys


def is_sidecar_key(key: str) -> bool:
    return key.lower().endswith(".json")


def parse_sidecar(raw: bytes, *, platforms: set[str] | None = None) -> dict[str, Any]:
    if len(raw) > MAX_SIDECAR_BYTES:
        raise SidecarError(f"sidecar is {len(raw)} bytes; the limit is {MAX_SIDECAR_BYTES}")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SidecarError(f"sidecar is not valid UTF-8 JSON: {e}") from None
    if not isinstance(data, dict):
        raise SidecarError("sidecar must be a JSON object like {\"source_url\": ..., \"platform\": ...}")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise SidecarError(f"sidecar has unknown field(s) {unknown}; allowed: {sorted(FIELDS)}")
    out: dict[str, Any] = {}
    for k, v in data.items():
        if v is None:
            continue
        if not isinstance(v, str):
            raise SidecarError(f"sidecar field '{k}' must be a string, got {type(v).__name__}")
        v = v.strip()
        if len(v) > MAX_FIELD_CHARS:
            raise SidecarError(f"sidecar field '{k}' is longer than {MAX_FIELD_CHARS} characters")
        if v:
            out[k] = v
    url = out.get("source_url")
    if url is not None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise SidecarError(f"sidecar field 'source_url' must be an http(s) URL, got {url!r}")
        try:
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
        except ValueError:
            raise SidecarError(f"sidecar field 'source_url' has an invalid port: {url!r}") from None
    if "platform" in out:
        out["platform"] = out["platform"].lower()
        if platforms is not None and out["platform"] not in platforms:
            raise SidecarError(f"sidecar platform {out['platform']!r} is not configured; known: {sorted(platforms)}")
    return out


def build_source(*, partner: dict[str, Any], bucket: str, key: str, sidecar: dict[str, Any] | None) -> Source:
    s = sidecar or {}
    url = s.get("source_url")
    template = partner.get("location_template")
    if url is None and template:
        # The partner's feed says where its items live (e.g. "https://feed.example/items/{key}").
        url = template.format(key=quote(key), bucket=bucket)
    return Source(
        partner=partner["id"],
        platform=s.get("platform") or partner["default_platform"],
        url=url,
        uploader=s.get("uploader"),
        title=s.get("title"),
        partner_ref=s.get("partner_ref"),
        territory=s.get("territory"),
        bucket=bucket,
        key=key,
    )
