"""Where an upload lives, in one canonical form per platform: one item, one case, one notice.

A platform serves one item under many URLs: ``youtu.be/ID``, ``m.youtube.com/watch?v=ID``,
``youtube.com/watch?v=ID&t=30s`` and ``www.youtube.com/shorts/ID`` are one video. Each
platform's ``location`` rules in configuration (``cdk.json``: ``platforms.<id>.location``)
say how to tell:

    "location": {
      "hosts": ["www.youtube.com", "youtube.com", "m.youtube.com", "youtu.be"],   # first: canonical
      "ids": [{"host": "youtu.be", "path": "/{id}"},        # the item id in the path ...
              {"path": "/watch", "param": "v"},              # ... or in a query parameter
              {"path": "/shorts/{id}"}],                     # ("{*}": any one segment, e.g. "/@{*}/video/{id}")
      "url": "https://www.youtube.com/watch?v={id}",        # where the item with that id lives (optional)
      "ignore_params": ["t", "si", "feature"]               # parameters that do not change the item
    }

A URL whose host is one of a platform's ``hosts`` belongs to that platform. If one of its
``ids`` rules matches, the item's identity is ``<platform>:<id>`` and its URL is ``url`` with
the id filled in (without ``url``: the URL as reported, normalised as below). Otherwise the URL itself is the identity after generic normalisation (see
:func:`normalize_url`) with the host replaced by the canonical host and the platform's
``ignore_params`` dropped as well as the global tracking parameters. A URL on no configured
platform gets generic normalisation only. Non-http(s) locations (``s3://bucket/key``, the
landing object when nobody knows a URL) are kept as given.

Rules only ever merge spellings of one item: a parameter that is not known to be noise is
kept, so an unknown parameter can at worst make two cases of one item, never one case of
two items.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

__all__ = ["Location", "LocationRules", "Locations", "LocationError", "normalize_url", "key_in_url", "is_http",
           "location_problem"]

# Parameters that never identify an item on any platform (share trackers, analytics).
TRACKING_PARAMS = ("utm_*", "fbclid", "gclid", "si", "feature", "pp", "igshid", "mc_cid", "mc_eid")
_ID_CHARS = re.compile(r"^[A-Za-z0-9._~-]{1,200}$")  # unreserved characters only: an id is never a path
_UNRESERVED = re.compile(r"%([0-9A-Fa-f]{2})")


class LocationError(ValueError):
    """A URL that cannot be used as a location (not parseable, no host, bad port)."""


@dataclass(frozen=True)
class Location:
    """key: the identity of the item (what a case id is made from); url: where it is, for a
    person and a notice (http(s), canonical); platform: the configured platform whose hosts
    serve it, or None."""

    key: str
    url: str
    platform: str | None = None


@dataclass(frozen=True)
class IdRule:
    path: str                    # "/watch" (with param) or a pattern with one "{id}" segment: "/shorts/{id}";
                                 # "{*}" stands for any one segment's text ("/@{*}/video/{id}")
    param: str | None = None     # query parameter holding the id
    host: str | None = None      # only for this host (e.g. "youtu.be")

    def match(self, host: str, path: str, query: list[tuple[str, str]]) -> str | None:
        if self.host and host != self.host:
            return None
        if self.param:
            if path.rstrip("/") != self.path.rstrip("/"):
                return None
            values = [v for k, v in query if k == self.param]
            return values[0] if len(values) == 1 and _ID_CHARS.match(values[0]) else None
        pattern = re.escape(self.path.rstrip("/")).replace(re.escape("{id}"), "(?P<id>[^/]+)")
        pattern = "^" + pattern.replace(re.escape("{*}"), "[^/]+") + "/?$"
        m = re.match(pattern, path)
        if not m:
            return None
        ident = unquote(m.group("id"))
        return ident if _ID_CHARS.match(ident) and ident not in (".", "..") else None


@dataclass(frozen=True)
class LocationRules:
    platform: str
    hosts: tuple[str, ...]
    ids: tuple[IdRule, ...] = ()
    url: str | None = None
    ignore_params: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, platform: str, raw: Mapping[str, Any]) -> "LocationRules":
        """Rules from ``platforms.<platform>.location``; raises LocationError if malformed."""
        hosts = tuple(str(h).lower().strip() for h in raw.get("hosts") or ())
        if not hosts or not all(hosts):
            raise LocationError(f"platform {platform}: location.hosts must list at least one host")
        ids = []
        for r in raw.get("ids") or ():
            rule = IdRule(path=str(r.get("path", "")), param=r.get("param"), host=r.get("host"))
            if not rule.path.startswith("/"):
                raise LocationError(f"platform {platform}: an id rule's path must start with '/': {r}")
            if (rule.param is None) == (rule.path.count("{id}") != 1):
                raise LocationError(f"platform {platform}: an id rule has either a param or one {{id}} in its path: {r}")
            if rule.host and rule.host not in hosts:
                raise LocationError(f"platform {platform}: id rule host {rule.host} is not in location.hosts")
            ids.append(rule)
        url = raw.get("url")
        if url is not None and ("{id}" not in str(url) or not str(url).startswith("https://") or not ids):
            raise LocationError(f"platform {platform}: location.url must be an https URL with {{id}}, and needs ids")
        return cls(platform, hosts, tuple(ids), url, tuple(str(p) for p in raw.get("ignore_params") or ()))


def is_http(location: str) -> bool:
    """True for text that claims to be an http(s) URL (whether or not it parses)."""
    return location.strip().lower().startswith(("http:", "https:"))


def _ignored(name: str, patterns: tuple[str, ...]) -> bool:
    return any(name == p or (p.endswith("*") and name.startswith(p[:-1])) for p in patterns)


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, after decoding %2E: what a browser resolves the path to."""
    segments = path.split("/")
    out: list[str] = []
    for i, seg in enumerate(segments):
        last = i == len(segments) - 1
        if seg == ".":
            if last:
                out.append("")
        elif seg == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(seg)
    result = "/".join(out)
    return result if result.startswith("/") else "/" + result


def _normalize_escapes(text: str) -> str:
    """Upper-case percent escapes and decode the ones of unreserved characters (RFC 3986 6.2.2)."""

    def fix(m: re.Match) -> str:
        ch = chr(int(m.group(1), 16))
        return ch if re.match(r"[A-Za-z0-9._~-]", ch) else "%" + m.group(1).upper()

    return _UNRESERVED.sub(fix, text)


def _split(url: str) -> tuple[str, str, str, list[tuple[str, str]]]:
    """(host[:port], path, raw query, query pairs) of an http(s) URL; raises LocationError."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower().rstrip(".")
        port = parts.port
    except ValueError as e:
        raise LocationError(f"not a usable URL ({e}): {url[:200]!r}") from None
    if parts.scheme.lower() not in ("http", "https") or not host:
        raise LocationError(f"not an http(s) URL with a host: {url[:200]!r}")
    if port and port not in (80, 443):
        host = f"{host}:{port}"
    path = _remove_dot_segments(_normalize_escapes(quote(parts.path or "/", safe="/%:@!$&'()*+,;=~")))
    query = parse_qsl(parts.query, keep_blank_values=True)
    return host, path, parts.query, query


def normalize_url(url: str, *, host: str | None = None, ignore: tuple[str, ...] = ()) -> str:
    """The generic canonical form of an http(s) URL: https, lower-case host without a default
    port, dot segments resolved, escapes normalised, no trailing slash, no fragment, no
    tracking parameters (and none of ``ignore``), the rest sorted. ``host`` replaces the host
    (an alias of the platform's canonical host). Raises LocationError for an unusable URL."""
    real_host, path, _, query = _split(url)
    kept = sorted((k, v) for k, v in query if not _ignored(k, TRACKING_PARAMS + ignore))
    path = path.rstrip("/") or "/"
    return urlunsplit(("https", host or real_host, path, urlencode(kept, quote_via=quote), ""))


class Locations:
    """Every configured platform's rules; ``locate(url)`` gives the item's Location."""

    def __init__(self, platforms: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.rules: dict[str, LocationRules] = {}
        self._by_host: dict[str, LocationRules] = {}
        for name, cfg in (platforms or {}).items():
            raw = (cfg or {}).get("location")
            if not raw:
                continue
            rules = LocationRules.from_config(name, raw)
            self.rules[name] = rules
            for h in rules.hosts:
                other = self._by_host.setdefault(h, rules)
                if other is not rules:
                    raise LocationError(f"host {h} is listed by platforms {other.platform} and {name}")

    def platform_of(self, url: str) -> str | None:
        """The configured platform whose hosts serve ``url``, or None."""
        try:
            host = _split(url)[0]
        except LocationError:
            return None
        rules = self._by_host.get(host)
        return rules.platform if rules else None

    def locate(self, location: str) -> Location:
        """The canonical Location of an http(s) URL (or of an ``s3://`` URI, kept as given).

        Raises LocationError for a URL that cannot be parsed."""
        loc = location.strip()
        if not is_http(loc):
            return Location(key=loc, url=loc)
        host, path, _, query = _split(loc)
        rules = self._by_host.get(host)
        if rules is None:
            url = normalize_url(loc)
            return Location(key=url, url=url)
        for rule in rules.ids:
            ident = rule.match(host, path, query)
            if ident:
                url = (rules.url.format(id=quote(ident, safe="")) if rules.url
                       else normalize_url(loc, host=rules.hosts[0], ignore=rules.ignore_params))
                return Location(key=f"{rules.platform}:{ident}", url=url, platform=rules.platform)
        url = normalize_url(loc, host=rules.hosts[0], ignore=rules.ignore_params)
        return Location(key=url, url=url, platform=rules.platform)


def location_problem(url: str | None, platform: str, config: Mapping[str, Any] | None,
                     display_name: str | None = None) -> str | None:
    """Why ``url`` cannot tell ``platform`` where the material is, or None.

    A notice must give "information reasonably sufficient to permit the service provider to
    locate the material" (17 U.S.C. 512(c)(3)(A)(iii); DSA Art. 16(2)(b): "the exact
    electronic location"): an address on another host (a monitoring vendor's own item page,
    which a partner's ``location_template`` may make, or a mirror) does not. ``config`` is
    the platform's configuration; only a platform that lists its hosts (``location.hosts``)
    can be checked, and a host under one of them (a short-link host such as
    ``vm.tiktok.com``) is the platform's too. None as well for a missing or non-http(s) URL
    (no URL at all is the notice's own check) and for a URL that does not parse. The reason
    names the platform by ``config["name"]``, else ``display_name``, else its id."""
    raw = (config or {}).get("location")
    if not url or not raw or not is_http(url):
        return None
    rules = LocationRules.from_config(platform, raw)
    try:
        host = _split(url)[0]
    except LocationError:
        return None
    bare = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    if any(bare == h or bare.endswith("." + h) for h in rules.hosts):
        return None  # a listed host, or one under it (vm.tiktok.com, on.soundcloud.com, player.vimeo.com)
    name = str((config or {}).get("name") or display_name or platform)
    return f"{url} is not an address on {name} ({', '.join(rules.hosts)}): {name} could not find the material from it"


def key_in_url(key: str) -> str:
    """An object key as URL path text that resolves to exactly that key.

    Each segment is percent-encoded. A key with a ``.``, ``..`` or empty segment would let a
    browser (or a platform) resolve the URL to another item (``a/../b.mp3`` is ``/b.mp3``;
    WHATWG URL parsing treats ``%2e%2e`` as ``..`` too), so such a key is encoded whole, its
    slashes included: one opaque segment.
    """
    segments = key.split("/")
    if any(seg in ("", ".", "..") for seg in segments):
        return quote(key, safe="")
    return "/".join(quote(seg, safe="") for seg in segments)
