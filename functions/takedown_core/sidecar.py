"""The partner's metadata sidecar: `NAME.json` (or `NAME.EXT.json`) beside the media.

    {"source_url": "https://www.youtube.com/watch?v=...", "platform": "youtube",
     "uploader": "some channel", "title": "Song (sped up)", "partner_ref": "A-123",
     "territory": "US", "description": "the uploader's description", "tags": ["ai cover", "rvc"]}

Every field is optional; all are strings except ``tags``, a list of strings. A missing field
takes the partner's default (platform) or stays empty. ``description`` and ``tags`` are what
the uploader wrote about the item: with ``title`` and ``uploader`` they are read for a
catalogue artist's name beside words such as "AI cover" (likeness.py), the signal for a
deepfake that holds no recording of ours. A description may hold line breaks and tabs, a tag
not; neither may hold other control characters; blank tags are dropped and a repeated tag
is kept once. The schema is a pydantic model (:class:`Sidecar`), parsed straight from the bytes by
pydantic's own JSON parser, which bounds nesting depth (a sidecar nested 20,000 levels deep is
an error, not a RecursionError). A sidecar that is not a JSON object, has unknown fields,
wrong types, an unusable URL or an unconfigured platform raises :class:`SidecarError` with a
message that says which field is wrong, and nothing else ever escapes :func:`parse_sidecar`:
the upload is then quarantined with that reason rather than guessed at.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Mapping

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .cases import Source
from .locations import LocationError, Locations, key_in_url, normalize_url

MAX_SIDECAR_BYTES = 64 * 1024  # a sidecar is a few hundred bytes; anything huge is wrong
MAX_FIELD_CHARS = 2048
MAX_DESCRIPTION_CHARS = 5000  # YouTube's limit for a description
MAX_TAGS = 50
MAX_TAG_CHARS = 100
FIELDS = {
    "source_url": "public URL of the upload on the platform",
    "platform": "platform id, e.g. youtube, tiktok, soundcloud",
    "uploader": "account or channel that uploaded it",
    "title": "title the uploader gave it",
    "partner_ref": "the partner's own reference for this item",
    "territory": "ISO 3166 country code or EU where it is served",
    "description": f"description the uploader gave it (at most {MAX_DESCRIPTION_CHARS:,} characters, "
                   "line breaks allowed)",
    "tags": f"tags or hashtags the uploader gave it (a list of at most {MAX_TAGS} strings of at most "
            f"{MAX_TAG_CHARS} characters)",
}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# The same rules as JSON Schema patterns (ECMA-262 syntax; only the schema reads them, the
# validators below enforce them): what docs/sidecar.schema.json tells a partner in advance.
_ONE_LINE_PATTERN = "^[^\\u0000-\\u001f\\u007f]*$"
_TEXT_PATTERN = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f]*$"
_URL_PATTERN = "^\\s*$|^\\s*[hH][tT][tT][pP][sS]?://[^\\s\\u0000-\\u001f\\u007f]+\\s*$"


class SidecarError(ValueError):
    """The sidecar is present but unusable; str() says what to fix. ``field``: the sidecar
    field at fault (unknown fields: their names, comma-separated), or None when the sidecar
    as a whole is (not JSON, not an object, too large)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class UnknownPlatform(SidecarError):
    """The sidecar names a platform the environment has no notice channel for."""


def _text(description: str, **schema: Any) -> Any:
    return Field(default=None, description=description, max_length=MAX_FIELD_CHARS,
                 json_schema_extra=schema or None)


class Sidecar(BaseModel):
    """The sidecar's schema: strings only (or null), no other fields, blanks dropped."""

    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True, frozen=True)

    source_url: str | None = _text(FIELDS["source_url"], pattern=_URL_PATTERN)
    platform: str | None = _text(FIELDS["platform"])
    uploader: str | None = _text(FIELDS["uploader"])
    title: str | None = _text(FIELDS["title"])
    partner_ref: str | None = _text(FIELDS["partner_ref"])
    territory: str | None = _text(FIELDS["territory"])
    description: str | None = Field(default=None, description=FIELDS["description"],
                                    max_length=MAX_DESCRIPTION_CHARS, json_schema_extra={"pattern": _TEXT_PATTERN})
    tags: list[Annotated[str, Field(max_length=MAX_TAG_CHARS, json_schema_extra={"pattern": _ONE_LINE_PATTERN})]] | None = (
        Field(default=None, description=FIELDS["tags"], max_length=MAX_TAGS))

    @field_validator("description")
    @classmethod
    def _readable_text(cls, v: str | None) -> str | None:
        if v and _CONTROL_BUT_LINES.search(v):
            raise ValueError("must be text without control characters (line breaks and tabs are allowed)")
        return v

    @field_validator("tags")
    @classmethod
    def _short_strings(cls, v: list[str] | None) -> list[str] | None:
        if v is None:
            return v
        for n, tag in enumerate(v):
            if _CONTROL.search(tag):
                raise ValueError(f"item {n} must be one line of text without control characters, got {tag[:100]!r}")
        kept = [tag for tag in v if tag]  # blanks dropped, as a blank field is
        return list(dict.fromkeys(kept))  # a tag given twice is one tag

    @field_validator("source_url")
    @classmethod
    def _usable_url(cls, v: str | None) -> str | None:
        if not v:
            return v
        if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in v):
            raise ValueError(f"must be an http(s) URL without spaces or control characters, got {v[:200]!r}")
        if not v.lower().startswith(("http://", "https://")):
            raise ValueError(f"must be an http(s) URL, got {v[:200]!r}")
        try:
            normalize_url(v)  # what the case key will be made from: it must parse
        except LocationError:
            raise ValueError(f"must be an http(s) URL with a valid host and port, got {v[:200]!r}") from None
        return v


def json_schema() -> dict[str, Any]:
    """The sidecar's JSON Schema (draft 2020-12), generated from :class:`Sidecar`: what
    docs/sidecar.schema.json holds (tests/unit/test_sidecar_schema.py keeps the two equal).

    What a schema cannot say is in its description and enforced by :func:`parse_sidecar` only:
    the whole sidecar's size in bytes, a ``source_url`` whose host and port parse, a
    ``platform`` the environment has a channel for, and one that agrees with the URL's host."""
    doc = {k: v for k, v in Sidecar.model_json_schema().items() if k not in ("title", "description")}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "takedown partner sidecar",
        "description": (
            "Metadata beside an uploaded media file: NAME.json (or NAME.EXT.json), uploaded before the media. "
            f"Every field is optional; null or blank is the same as absent. At most {MAX_SIDECAR_BYTES:,} bytes of "
            "UTF-8 JSON. Beyond this schema the ingest also requires a source_url whose host and port are valid, a "
            "platform the label has a notice channel for, and a platform that matches the host of source_url."),
        **doc,
    }


_JSON_TYPES = {"int": "number", "float": "number", "bool": "boolean", "list": "array", "dict": "object"}


def _message(err: ValidationError) -> str:
    """One readable sentence for the partner from pydantic's errors."""
    errors = err.errors(include_url=False)
    extra = sorted(str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden" and e["loc"])
    if extra:
        return f"sidecar has unknown field(s) {extra}; allowed: {sorted(FIELDS)}"
    e = errors[0]
    if e["type"] == "json_invalid":
        return f"sidecar is not valid UTF-8 JSON: {e.get('ctx', {}).get('error', e['msg'])}"
    if not e["loc"]:
        got = type(e.get("input")).__name__
        return f"sidecar must be a JSON object like {{\"source_url\": ..., \"platform\": ...}}, got {_JSON_TYPES.get(got, got)}"
    field = str(e["loc"][0])
    item = f" item {e['loc'][1]}" if len(e["loc"]) > 1 else ""
    got = type(e.get("input")).__name__
    if e["type"] == "string_type":
        return f"sidecar field '{field}'{item} must be a string, got {got} ({_JSON_TYPES.get(got, got)})"
    if e["type"] == "string_too_long":
        limit = e.get("ctx", {}).get("max_length", MAX_FIELD_CHARS)
        return f"sidecar field '{field}'{item} is longer than {limit} characters"
    if e["type"] == "list_type":
        return f"sidecar field '{field}' must be a list of strings, got {got} ({_JSON_TYPES.get(got, 'string')})"
    if e["type"] == "too_long":
        return f"sidecar field '{field}' has more than {e.get('ctx', {}).get('max_length', MAX_TAGS)} items"
    msg = str(e["msg"]).removeprefix("Value error, ")
    return f"sidecar field '{field}' {msg}"


def _field(err: ValidationError) -> str | None:
    """The field _message speaks of (unknown fields: all of them), None for the whole sidecar."""
    errors = err.errors(include_url=False)
    extra = sorted(str(e["loc"][0]) for e in errors if e["type"] == "extra_forbidden" and e["loc"])
    if extra:
        return ",".join(extra)
    loc = errors[0]["loc"] if errors else ()
    return str(loc[0]) if loc and errors[0]["type"] != "json_invalid" else None


def parse_sidecar(raw: bytes, *, platforms: set[str] | None = None) -> dict[str, Any]:
    """The sidecar's non-empty fields as a dict (platform lower-cased).

    ``raw`` is the object's bytes (at most ``MAX_SIDECAR_BYTES``); ``platforms``, when given,
    is the set of configured platform ids a sidecar may name. Raises SidecarError, and only
    SidecarError, for anything unusable."""
    if len(raw) > MAX_SIDECAR_BYTES:
        raise SidecarError(f"sidecar is {len(raw)} bytes; the limit is {MAX_SIDECAR_BYTES}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SidecarError(f"sidecar is not valid UTF-8 JSON: {e}") from None
    try:
        sidecar = Sidecar.model_validate_json(text)
    except ValidationError as e:
        raise SidecarError(_message(e), field=_field(e)) from None
    except Exception as e:  # noqa: BLE001 - whatever a partner sends, it ends as a reason, not a crash
        raise SidecarError(f"sidecar could not be read ({type(e).__name__})") from None
    out = {k: v for k, v in sidecar.model_dump().items() if v}
    if "platform" in out:
        out["platform"] = out["platform"].lower()
        if platforms is not None and out["platform"] not in platforms:
            raise UnknownPlatform(f"sidecar platform {out['platform']!r} is not configured; known: {sorted(platforms)}",
                                  field="platform")
    return out


def sidecar_keys(media_key: str) -> list[str]:
    """Where a media object's sidecar may be: NAME.EXT.json first, then NAME.json."""
    keys = [f"{media_key}.json"]
    stem, dot, _ext = media_key.rpartition(".")
    if dot and "/" not in _ext:
        keys.append(f"{stem}.json")
    return keys


def is_sidecar_key(key: str) -> bool:
    return key.lower().endswith(".json")


def build_source(
    *,
    partner: Mapping[str, Any],
    bucket: str,
    key: str,
    sidecar: Mapping[str, Any] | None,
    locations: Locations | None = None,
) -> Source:
    """Where the upload was found, from the sidecar and the partner's defaults.

    The platform is the sidecar's, else the one whose hosts serve ``source_url``
    (``locations``), else the partner's default. Without a URL, the partner's
    ``location_template`` (e.g. ``https://feed.example/items/{key}``) places the item, with
    the key encoded so that the URL cannot resolve to another item (``locations.key_in_url``).
    Raises SidecarError when the sidecar names one platform and its URL is on another's hosts:
    a notice would go to the wrong platform.
    """
    s = dict(sidecar or {})
    url = s.get("source_url")
    url_platform = locations.platform_of(url) if (locations and url) else None
    platform = s.get("platform") or url_platform or partner["default_platform"]
    if url_platform and platform != url_platform:
        raise SidecarError(
            f"sidecar platform {platform!r} does not match its source_url, which is on {url_platform!r}",
            field="platform",
        )
    template = partner.get("location_template")
    if url is None and template:
        url = template.format(key=key_in_url(key), bucket=bucket)
    return Source(
        partner=partner["id"],
        platform=platform,
        url=url,
        uploader=s.get("uploader"),
        title=s.get("title"),
        partner_ref=s.get("partner_ref"),
        territory=s.get("territory"),
        description=s.get("description"),
        tags=tuple(s.get("tags") or ()),
        bucket=bucket,
        key=key,
    )
