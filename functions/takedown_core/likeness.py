"""The metadata signal for deepfakes: an upload that names a catalogue artist and says it is AI.

A song generated in an artist's voice holds no recording of ours, so no fingerprint matches
it. What gives most of them away is how they are presented: the artist's name (or an alias)
in the title, the uploader's name, the description or the tags, together with words such as
"AI cover", "voice model", "RVC", "Suno", "not real". :class:`LikenessRules` holds the
environment's artists and terms (``cdk.json``: ``likeness``) and :meth:`LikenessRules.find`
reads an upload's metadata for both; a :class:`LikenessSignal` says which artist, and which
words in which field showed it. It is stored on the case as the reason it was opened, shown
to the reviewer, and quoted in the likeness complaint (notices.py). It is never a reason to
act without a person.

Configuration (the ``likeness`` block of an environment)::

    {"artists": [{"id": "lanterns", "name": "The Lanterns", "aliases": ["Lanterns", "Лантернс"]}],
     "terms": {"en": ["ai", "ai cover", "voice model", "rvc", "suno"], "es": ["ia", "cover ia"], ...}}

Listing an artist states that the label may complain on the artist's behalf when their name,
voice or likeness is imitated. Every term list applies to every upload (an upload's language
is not guessed). :meth:`LikenessRules.from_config` refuses anything else with
:class:`LikenessConfigError`, naming every problem (synthesis runs it: ``config.py``).

Matching is on words, not characters, so that an artist called "Ai" is never found inside
"Aitana" and "rvc" never inside "arvcx":

- Text is case-folded and accent-stripped (Unicode NFKD, combining marks dropped), so
  "BEYONCÉ", "Beyoncé" and "beyonce" are one word, as are full-width "ＡＩ" and "ai".
- A word is a run of letters and digits; anything else (space, punctuation, ``_``, ``#``,
  ``@``, an apostrophe) separates words. In scripts written without spaces (Chinese,
  Japanese kana, Thai, Lao, Khmer, Myanmar) each character is a word, so a name written in
  them is found as a sequence of characters.
- An alias or term of several words matches those words in sequence, within one field (one
  tag at a time: words never run from one tag into the next), and also written together as
  one word, as in a hashtag: "The Lanterns" matches "#TheLanterns", "AI cover" "#AICover".
- Words the upload uses for the artist's name are not also read as a term: an artist called
  "Ai" titled "Ai - New Song" is no signal by itself, while "Ai - New Song (AI cover)" is
  (the longer term "AI cover" claims its "AI", and the title's first "Ai" names the artist).
  Where a name and a term cover the same words, the name wins.

Both are needed, in any of the fields: a name without a term, or a term without a name,
finds nothing. When an upload names several catalogue artists, the signal is for the one
named in the most fields (then the earliest field in title, uploader, description, tags
order; then the configuration's order).

Pure standard library: the fingerprint function runs it for every upload without a match.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

FIELDS = ("title", "uploader", "description", "tags")
"""The metadata read, in this order (also the order of a signal's hits and of describe())."""

CONFIG_KEYS = frozenset({"artists", "terms"})
ARTIST_KEYS = frozenset({"id", "name", "aliases"})
MAX_HITS = 12       # hits of each kind kept on a signal: it is stored on the case item
MAX_FOUND = 120     # characters of the upload's own words kept per hit

_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_LANG = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})*$")

# Scripts written without spaces between words: each character is a word of its own.
_CHAR_WORDS = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x2E80, 0x2FDF),  # CJK radicals
    (0x3005, 0x3007),  # 々 〆 〇
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x31F0, 0x31FF),  # Katakana phonetic extensions
    (0x3400, 0x4DBF),  # CJK extension A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width Katakana
    (0x20000, 0x3134F),  # CJK extensions B-G
)


class LikenessConfigError(ValueError):
    """The ``likeness`` settings are not usable; ``problems`` lists each one."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


# --------------------------------------------------------------------------- words


def _char_word(ch: str) -> bool:
    cp = ord(ch)
    return any(lo <= cp <= hi for lo, hi in _CHAR_WORDS)


def _fold(ch: str) -> str:
    """One character case-folded, decomposed, without combining marks ("" for a mark)."""
    return "".join(c for c in unicodedata.normalize("NFKD", ch.casefold()) if not unicodedata.combining(c))


@dataclass(frozen=True)
class _Word:
    text: str    # folded
    start: int   # span in the original text
    end: int


def words(text: str) -> list[_Word]:
    """The words of ``text``, folded, each with its span in ``text`` (module docstring)."""
    out: list[_Word] = []
    cur: list[str] = []
    start = end = 0
    for i, ch in enumerate(text):
        folded = _fold(ch)
        if not folded:  # a combining mark: part of the word it follows, if any
            if cur:
                end = i + 1
            continue
        for f in folded:
            if f.isalnum() and _char_word(f):
                if cur:
                    out.append(_Word("".join(cur), start, end))
                    cur = []
                out.append(_Word(f, i, i + 1))
            elif f.isalnum():
                if not cur:
                    start = i
                cur.append(f)
                end = i + 1
            elif cur:
                out.append(_Word("".join(cur), start, end))
                cur = []
    if cur:
        out.append(_Word("".join(cur), start, end))
    return out


def _keys(phrase: str) -> list[tuple[str, ...]]:
    """The word sequences a configured alias or term matches: its words, and (for several
    words outside the space-less scripts) the same written together, as in a hashtag."""
    seq = tuple(w.text for w in words(phrase))
    if not seq:
        return []
    out = [seq]
    if len(seq) > 1 and not any(_char_word(w[0]) for w in seq):
        out.append(("".join(seq),))
    return out


# --------------------------------------------------------------------------- the signal


@dataclass(frozen=True)
class Hit:
    """One alias or term found: in which field, what was configured, what the upload wrote."""

    field: str        # one of FIELDS
    text: str         # the alias or term as configured ("Lanterns", "ai cover")
    found: str        # the upload's own words for it ("LANTERNS", "#AICover")
    lang: str = ""    # the term list it is from ("en"); "" for a name

    def to_name_dict(self) -> dict[str, str]:
        return {"field": self.field, "alias": self.text, "found": self.found}

    def to_term_dict(self) -> dict[str, str]:
        return {"field": self.field, "term": self.text, "lang": self.lang, "found": self.found}


def _str(d: Mapping[str, Any], key: str, what: str) -> str:
    value = d.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"likeness signal: {what} has no {key!r}")
    return value


def _hits(items: Any, key: str, what: str) -> tuple[Hit, ...]:
    if not isinstance(items, (list, tuple)) or not items:
        raise ValueError(f"likeness signal: no {what}")
    out = []
    for item in items:
        if not isinstance(item, Mapping):
            raise ValueError(f"likeness signal: a {what[:-1]} is not an object")
        where = _str(item, "field", what[:-1])
        if where not in FIELDS:
            raise ValueError(f"likeness signal: field {where!r} is not one of {list(FIELDS)}")
        lang = item.get("lang") if key == "term" else ""
        out.append(Hit(where, _str(item, key, what[:-1]), _str(item, "found", what[:-1]),
                       lang if isinstance(lang, str) else ""))
    return tuple(out)


@dataclass(frozen=True)
class LikenessSignal:
    """An upload names ``artist_name`` (catalogue artist ``artist_id``) and says it is AI.

    ``names``: which alias was found in which field; ``terms``: which term in which field.
    Both are non-empty, in FIELDS order, at most MAX_HITS each.
    """

    artist_id: str
    artist_name: str
    names: tuple[Hit, ...]
    terms: tuple[Hit, ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: {"artist": {"id", "name"}, "names": [{"field", "alias", "found"}],
        "terms": [{"field", "term", "lang", "found"}]}."""
        return {
            "artist": {"id": self.artist_id, "name": self.artist_name},
            "names": [h.to_name_dict() for h in self.names],
            "terms": [h.to_term_dict() for h in self.terms],
        }

    @classmethod
    def from_dict(cls, d: Any) -> "LikenessSignal":
        """The signal from :meth:`to_dict`'s output (as stored, e.g. read back from DynamoDB).
        Raises ValueError if it is not one: no artist, no name found, or no term found."""
        if not isinstance(d, Mapping) or not isinstance(d.get("artist"), Mapping):
            raise ValueError("likeness signal: no artist")
        artist = d["artist"]
        return cls(
            artist_id=_str(artist, "id", "the artist"),
            artist_name=_str(artist, "name", "the artist"),
            names=_hits(d.get("names"), "alias", "names"),
            terms=_hits(d.get("terms"), "term", "terms"),
        )

    def describe(self) -> str:
        """One plain sentence: 'The title names The Lanterns (“Lanterns”) and says “AI cover”,
        and the tags say “RVC”.' (the upload's own words, quoted)."""
        clauses = []
        for where in FIELDS:
            names = _unique(h.found for h in self.names if h.field == where)
            terms = _unique(h.found for h in self.terms if h.field == where)
            if not names and not terms:
                continue
            subject, name_verb, term_verb = _FIELD_WORDS[where]
            parts = []
            if names:
                other = [n for n in names if not _same(n, self.artist_name)]
                parts.append(f"{name_verb} {self.artist_name}" + (f" ({_quoted(other)})" if other else ""))
            if terms:
                parts.append(("" if parts and term_verb == name_verb else f"{term_verb} ") + _quoted(terms))
            clauses.append(f"{subject} " + " and ".join(parts))
        text = clauses[0] if len(clauses) == 1 else ", ".join(clauses[:-1]) + ", and " + clauses[-1]
        return text[:1].upper() + text[1:] + "."


# field -> (its name in a sentence, the verb for naming the artist, the verb for the terms)
_FIELD_WORDS = {
    "title": ("the title", "names", "says"),
    "uploader": ("the uploader's name", "includes", "includes"),
    "description": ("the description", "names", "says"),
    "tags": ("the tags", "name", "say"),
}


def _same(a: str, b: str) -> bool:
    return [w.text for w in words(a)] == [w.text for w in words(b)]


def _unique(items: Iterable[str]) -> list[str]:
    out: list[str] = []
    seen: set[str] = set()
    for item in items:
        key = " ".join(w.text for w in words(item))
        if key not in seen:
            seen.add(key)
            out.append(item)
    return out


def _quoted(items: list[str], limit: int = 4) -> str:
    shown = [f"“{x}”" for x in items[:limit]]
    if len(items) > limit:
        shown.append(f"{len(items) - limit} more")
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


# --------------------------------------------------------------------------- the rules


@dataclass(frozen=True)
class Artist:
    id: str
    name: str
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Occurrence:
    field: str
    segment: int       # which segment of the field (a tag); words never cross segments
    first: int         # word positions [first, last) in the segment
    last: int
    text: str          # the configured alias or term
    found: str
    lang: str = ""
    artist: int = -1   # index into artists, for names

    def inside(self, other: "_Occurrence") -> bool:
        return (self.field, self.segment) == (other.field, other.segment) and (
            other.first <= self.first and self.last <= other.last)

    def overlaps(self, other: "_Occurrence") -> bool:
        return (self.field, self.segment) == (other.field, other.segment) and (
            self.first < other.last and other.first < self.last)

    @property
    def size(self) -> int:
        return self.last - self.first


class _Spans:
    """Occurrences indexed by where they start, so that "inside" and "overlaps" look only at
    the few that can qualify (an alias or term is a handful of words), not at all of them: a
    description of 2,500 words repeating "AI" stays linear."""

    def __init__(self, occ: list[_Occurrence]) -> None:
        self.by_start: dict[tuple[str, int, int], list[_Occurrence]] = {}
        self.longest = max((o.size for o in occ), default=0)
        for o in occ:
            self.by_start.setdefault((o.field, o.segment, o.first), []).append(o)

    def near(self, o: _Occurrence) -> Iterable[_Occurrence]:
        """Occurrences that may overlap ``o``: those starting less than ``longest`` words before its end."""
        for first in range(o.first - self.longest + 1, o.last):
            yield from self.by_start.get((o.field, o.segment, first), ())

    def has_longer_around(self, o: _Occurrence) -> bool:
        return any(p.size > o.size and o.inside(p) for p in self.near(o))

    def has_overlapping(self, o: _Occurrence) -> bool:
        return any(o.overlaps(p) for p in self.near(o))


def _maximal(occ: list[_Occurrence]) -> list[_Occurrence]:
    """Drop an occurrence that lies inside a longer one of the same kind ("ai" in "ai cover")."""
    spans = _Spans(occ)
    return [o for o in occ if not spans.has_longer_around(o)]


@dataclass(frozen=True)
class LikenessRules:
    """The environment's artists and terms, compiled for matching. Build with :meth:`from_config`."""

    artists: tuple[Artist, ...] = ()
    terms: tuple[tuple[str, str], ...] = ()   # (language, term)
    _names: dict[str, tuple[tuple[tuple[str, ...], int, str], ...]] = field(default_factory=dict, repr=False)
    _terms: dict[str, tuple[tuple[tuple[str, ...], str, str], ...]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> "LikenessRules":
        """Rules from an environment's ``likeness`` block (None or {}: no artists, nothing is
        ever found). Raises LikenessConfigError listing every problem."""
        problems: list[str] = []
        if cfg is None:
            cfg = {}
        if not isinstance(cfg, Mapping):
            raise LikenessConfigError([f"likeness must be an object with {sorted(CONFIG_KEYS)}"])
        unknown = sorted(set(cfg) - CONFIG_KEYS)
        if unknown:
            problems.append(f"likeness: unknown key(s) {unknown}; allowed: {sorted(CONFIG_KEYS)}")
        artists = _artists(cfg.get("artists", []), problems)
        terms = _terms(cfg.get("terms", {}), problems)
        names: dict[str, list[tuple[tuple[str, ...], int, str]]] = {}
        owner: dict[tuple[str, ...], str] = {}
        for index, artist in enumerate(artists):
            for alias in (artist.name, *artist.aliases):
                for key in _keys(alias):
                    if owner.get(key, artist.id) != artist.id:
                        problems.append(f"likeness: {alias!r} would name both {owner[key]!r} and {artist.id!r}")
                    owner[key] = artist.id
                    names.setdefault(key[0], []).append((key, index, alias))
        term_index: dict[str, list[tuple[tuple[str, ...], str, str]]] = {}
        for lang, term in terms:
            for key in _keys(term):
                term_index.setdefault(key[0], []).append((key, lang, term))
        if problems:
            raise LikenessConfigError(problems)
        return cls(
            artists=tuple(artists),
            terms=tuple(terms),
            _names={k: tuple(sorted(v, key=lambda e: -len(e[0]))) for k, v in names.items()},
            _terms={k: tuple(sorted(v, key=lambda e: -len(e[0]))) for k, v in term_index.items()},
        )

    # ----------------------------------------------------------------------- finding

    def find(self, fields: Mapping[str, "str | Sequence[str] | None"]) -> LikenessSignal | None:
        """The signal in an upload's metadata, or None. ``fields`` maps title, uploader,
        description and tags (other keys are ignored) to a string, a list of strings (tags:
        each one apart) or None."""
        if not self.artists:
            return None
        names, terms = self._occurrences(fields)
        best: tuple[tuple[int, int, int], LikenessSignal] | None = None
        for index in sorted({o.artist for o in names}):
            kept_names, kept_terms = _resolve([o for o in names if o.artist == index], terms)
            if not kept_names or not kept_terms:
                continue
            artist = self.artists[index]
            signal = LikenessSignal(artist.id, artist.name, _as_hits(kept_names), _as_hits(kept_terms))
            named_in = {o.field for o in kept_names}
            rank = (-len(named_in), min(FIELDS.index(f) for f in named_in), index)
            if best is None or rank < best[0]:
                best = (rank, signal)
        return best[1] if best else None

    def terms_in(self, fields: Mapping[str, "str | Sequence[str] | None"], *,
                 artist_id: str | None = None) -> tuple[Hit, ...]:
        """The terms the metadata uses (no artist needed), e.g. for an upload that holds part
        of our recording: "a partial match plus such terms". With ``artist_id``, words that
        name that artist are not read as terms (an artist called "Ai")."""
        names, terms = self._occurrences(fields)
        index = next((i for i, a in enumerate(self.artists) if a.id == artist_id), None)
        mine = [o for o in names if o.artist == index] if index is not None else []
        _, kept = _resolve(mine, terms)
        return _as_hits(kept)

    def _occurrences(self, fields: Mapping[str, Any]) -> tuple[list[_Occurrence], list[_Occurrence]]:
        names: list[_Occurrence] = []
        terms: list[_Occurrence] = []
        for where in FIELDS:
            for segment, text in enumerate(_segments(fields.get(where))):
                ws = words(text)
                seq = [w.text for w in ws]
                for i, first in enumerate(seq):
                    for key, artist, alias in self._names.get(first, ()):
                        if tuple(seq[i: i + len(key)]) == key:
                            names.append(_Occurrence(where, segment, i, i + len(key), alias,
                                                     _found(text, ws, i, len(key)), artist=artist))
                    for key, lang, term in self._terms.get(first, ()):
                        if tuple(seq[i: i + len(key)]) == key:
                            terms.append(_Occurrence(where, segment, i, i + len(key), term,
                                                     _found(text, ws, i, len(key)), lang=lang))
        return names, terms


def _segments(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence):
        return [v for v in value if isinstance(v, str)]
    return []


def _found(text: str, ws: list[_Word], i: int, n: int) -> str:
    """The upload's own words for a match, with what joins them ("AI-Cover"); a hashtag's
    "#" is kept, as the reader will see it."""
    start, end = ws[i].start, ws[i + n - 1].end
    if start > 0 and text[start - 1] in "#@":
        start -= 1
    return " ".join(text[start:end].split())[:MAX_FOUND]


def _resolve(names: list[_Occurrence], terms: list[_Occurrence]) -> tuple[list[_Occurrence], list[_Occurrence]]:
    """Which words name the artist and which are terms (module docstring): the longest
    matches stand; a name inside a longer term is read as the term; a term that shares words
    with a name is read as the name."""
    terms = _maximal(terms)
    term_spans = _Spans(terms)
    names = [n for n in _maximal(names) if not term_spans.has_longer_around(n)]
    name_spans = _Spans(names)
    terms = [t for t in terms if not name_spans.has_overlapping(t)]
    return names, terms


def _as_hits(occ: list[_Occurrence]) -> tuple[Hit, ...]:
    out: list[Hit] = []
    seen: set[tuple[str, str, str]] = set()
    for o in sorted(occ, key=lambda o: (FIELDS.index(o.field), o.segment, o.first)):
        key = (o.field, o.text, " ".join(w.text for w in words(o.found)))
        if key in seen:
            continue
        seen.add(key)
        out.append(Hit(o.field, o.text, o.found, o.lang))
        if len(out) == MAX_HITS:
            break
    return tuple(out)


# --------------------------------------------------------------------------- configuration


def _nonempty_strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)


def _artists(value: Any, problems: list[str]) -> list[Artist]:
    if not isinstance(value, list):
        problems.append("likeness.artists must be a list of {id, name, aliases}")
        return []
    out: list[Artist] = []
    seen: set[str] = set()
    for n, a in enumerate(value):
        where = f"likeness.artists[{n}]"
        if not isinstance(a, Mapping):
            problems.append(f"{where} must be an object with id, name and optional aliases")
            continue
        unknown = sorted(set(a) - ARTIST_KEYS)
        if unknown:
            problems.append(f"{where}: unknown key(s) {unknown}; allowed: {sorted(ARTIST_KEYS)}")
        aid, name, aliases = a.get("id"), a.get("name"), a.get("aliases", [])
        if not isinstance(aid, str) or not _ID.match(aid):
            problems.append(f"{where}: id must be lower-case letters, digits, '-' or '_' (at most 64), got {aid!r}")
        elif aid in seen:
            problems.append(f"{where}: duplicate id {aid!r}")
        if not isinstance(name, str) or not name.strip():
            problems.append(f"{where}: name must be a non-empty string, got {name!r}")
        elif not words(name):
            problems.append(f"{where}: name {name!r} has no letters or digits to match")
        if not _nonempty_strings(aliases):
            problems.append(f"{where}: aliases must be a list of non-empty strings")
            aliases = []
        for alias in aliases:
            if not words(alias):
                problems.append(f"{where}: alias {alias!r} has no letters or digits to match")
        if isinstance(aid, str) and isinstance(name, str) and name.strip():
            seen.add(aid)
            out.append(Artist(aid, " ".join(name.split()), tuple(" ".join(x.split()) for x in aliases)))
    return out


def _terms(value: Any, problems: list[str]) -> list[tuple[str, str]]:
    if not isinstance(value, Mapping):
        problems.append('likeness.terms must be an object of term lists by language, e.g. {"en": ["ai cover"]}')
        return []
    out: list[tuple[str, str]] = []
    for lang, terms in value.items():
        if not isinstance(lang, str) or not _LANG.match(lang):
            problems.append(f"likeness.terms: {lang!r} is not a language code like 'en' or 'pt-br'")
        if not _nonempty_strings(terms):
            problems.append(f"likeness.terms.{lang}: must be a list of non-empty strings")
            continue
        for term in terms:
            if not words(term):
                problems.append(f"likeness.terms.{lang}: {term!r} has no letters or digits to match")
            else:
                out.append((str(lang), " ".join(term.split())))
    return out
