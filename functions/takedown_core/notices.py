"""Takedown notices that meet the law they are sent under, and likeness complaints.

Two copyright laws are supported:

- "DMCA": 17 U.S.C. § 512(c)(3)(A)(i)-(vi), the notification to a US service provider's
  designated agent.
- "DSA": Regulation (EU) 2022/2065 (Digital Services Act), Article 16(2)(a)-(d), a notice to a
  hosting service's notice-and-action mechanism.

``render_notice`` builds every element the law asks for from the case (work, location, match
evidence) and from the label's configuration (the complainant) and refuses, with
``NoticeIncomplete``, to produce a notice in which any element is empty: a notice that does not
meet the law must never be sent. ``Notice.fields`` maps each element to the text that
satisfies it, so tests and audits can check them one by one.

A copyright notice asserts copyright in a recording that is in the upload, so it is made only
from a :class:`RecordingEvidence`, and that can only be made from a case whose kind may hold
our recording ("copy", "partial", "suspected_ai_cover"; a case without a kind is "copy") and
whose evidence names a catalogue track with a match (``track_id`` and ``false_match_rate``).
Anything else (a ``suspected_deepfake``, or a "copy" without that evidence) raises
:class:`NotACopyrightCase` before a word is written.

A generated voice that imitates a catalogue artist, in content with no recording of ours, is
not a copyright matter: ``render_likeness_complaint`` makes a likeness / impersonation
complaint for it, on the platform's own route (``platforms.<id>.likeness`` in cdk.json: a
channel, an address, a law, "US-ROP" (right of publicity, under the platform's policy) or
"DSA" (an Art. 16 notice naming the national personality right), the basis and the
platform's policy), from the :class:`~takedown_core.likeness.LikenessSignal` stored on the
case as ``likeness``. ``Notice.law`` is then "LIKENESS-US-ROP" or "LIKENESS-DSA". A platform
without a route raises :class:`NoRoute`; a case that is not a likeness case raises
:class:`NotALikenessCase`. Which notices a case sends is decided in one place,
``dispatch.NOTICE_TYPES``; ``likeness_route`` says where a likeness complaint goes.

The words are in templates, one file per law (``templates/notices/DMCA.txt.j2``,
``DSA.txt.j2``, ``LIKENESS-US-ROP.txt.j2``, ``LIKENESS-DSA.txt.j2``: a macro per element, the
subject, the addressee, the opening and the closing), the wording both copyright laws share
(``common.txt.j2``: the work, the upload's location, the evidence, how the notice was
approved), the wording both likeness routes share (``likeness.txt.j2``) and the layout of the
text and the HTML (``notice.txt.j2``, ``notice.html.j2``). This module decides what can be said (and why an element is empty) and
hands the templates words, never raw case data.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from .evidence import MatchEvidence
from .likeness import FIELDS as LIKENESS_FIELDS
from .likeness import LikenessSignal
from .locations import location_problem
from .render import macros, render
from .wording import clean, evidence_summary, matched_landmarks, one_line, platform_name, safe_http_url

LAWS: dict[str, list[str]] = {
    "DMCA": [
        "signature",                         # (i)
        "copyrighted_work",                  # (ii)
        "infringing_material",               # (iii)
        "contact_information",               # (iv)
        "good_faith_statement",              # (v)
        "accuracy_and_authority_statement",  # (vi)
    ],
    "DSA": [
        "explanation",          # (a)
        "exact_location",       # (b)
        "submitter",            # (c)
        "bona_fide_statement",  # (d)
    ],
}

COPYRIGHT_LAWS = ("DMCA", "DSA")

# The likeness / impersonation complaint: the same elements on either route, in reading order.
LIKENESS_ELEMENTS = [
    "person_impersonated",
    "content_location",
    "impersonation_evidence",
    "synthetic_voice_statement",
    "legal_basis",
    "complainant",
    "good_faith_statement",
    "accuracy_statement",
    "signature",
]
LIKENESS_ROUTES = {"US-ROP": "LIKENESS-US-ROP", "DSA": "LIKENESS-DSA"}  # route law -> Notice.law
LAWS.update({law: list(LIKENESS_ELEMENTS) for law in LIKENESS_ROUTES.values()})

# Element -> (heading, the provision it satisfies).
ELEMENTS: dict[str, dict[str, tuple[str, str]]] = {
    "DMCA": {
        "signature": ("Signature of the authorised person", "17 U.S.C. § 512(c)(3)(A)(i)"),
        "copyrighted_work": ("Copyrighted work", "17 U.S.C. § 512(c)(3)(A)(ii)"),
        "infringing_material": ("Infringing material and where to find it", "17 U.S.C. § 512(c)(3)(A)(iii)"),
        "contact_information": ("Contact information of the complaining party", "17 U.S.C. § 512(c)(3)(A)(iv)"),
        "good_faith_statement": ("Statement of good faith", "17 U.S.C. § 512(c)(3)(A)(v)"),
        "accuracy_and_authority_statement": (
            "Statement of accuracy and authority, under penalty of perjury",
            "17 U.S.C. § 512(c)(3)(A)(vi)",
        ),
    },
    "DSA": {
        "explanation": ("Why this content is illegal", "Regulation (EU) 2022/2065, Art. 16(2)(a)"),
        "exact_location": ("Exact electronic location of the content", "Regulation (EU) 2022/2065, Art. 16(2)(b)"),
        "submitter": ("Name and email address of the submitter", "Regulation (EU) 2022/2065, Art. 16(2)(c)"),
        "bona_fide_statement": ("Statement of bona fide belief", "Regulation (EU) 2022/2065, Art. 16(2)(d)"),
    },
}
_LIKENESS_HEADINGS = {
    "person_impersonated": "Person impersonated",
    "content_location": "Location of the content",
    "impersonation_evidence": "What shows the impersonation",
    "synthetic_voice_statement": "The voice is generated, not a recording of the artist",
    "legal_basis": "Legal basis",
    "complainant": "Who complains, and for whom",
    "good_faith_statement": "Statement of good faith",
    "accuracy_statement": "Statement of accuracy and authority",
    "signature": "Signature",
}
_DSA_POINT = {
    "person_impersonated": "a", "content_location": "b", "impersonation_evidence": "a",
    "synthetic_voice_statement": "a", "legal_basis": "a", "complainant": "c", "accuracy_statement": "d",
}
# The US route cites nothing per element (no statute prescribes the complaint's form; the basis
# is named in the legal basis); the DSA route cites the Art. 16(2) point each element meets.
ELEMENTS["LIKENESS-US-ROP"] = {name: (heading, "") for name, heading in _LIKENESS_HEADINGS.items()}
ELEMENTS["LIKENESS-DSA"] = {
    name: (heading, f"Regulation (EU) 2022/2065, Art. 16(2)({_DSA_POINT[name]})" if name in _DSA_POINT else "")
    for name, heading in _LIKENESS_HEADINGS.items()
}

# Case kinds (a case stored without one is "copy"): which may hold our recording, and which
# were opened for an artist's likeness.
KINDS = ("copy", "partial", "suspected_deepfake", "suspected_ai_cover")
COPYRIGHT_KINDS = frozenset({"copy", "partial", "suspected_ai_cover"})
LIKENESS_KINDS = frozenset({"suspected_deepfake", "suspected_ai_cover"})
LIKENESS_ROUTE_KEYS = frozenset({"channel", "address", "law", "basis", "policy"})

RECIPIENT = "recipient"  # not a legal element, but a notice with nowhere to go is not sent either

_EMAIL = re.compile(r"^[^@\s<>\"']+@[^@\s<>\"']+\.[^@\s<>\"']+$")


class NoticeIncomplete(Exception):
    """A required element is empty, so the notice must not be sent.

    ``missing`` lists element names (as in ``LAWS``, plus "recipient"); ``reasons`` says why
    for each; ``notice`` is the incomplete draft, for the record.
    """

    def __init__(self, missing: list[str], reasons: dict[str, str] | None = None, notice: "Notice | None" = None):
        self.missing = list(missing)
        self.reasons = dict(reasons or {})
        self.notice = notice
        detail = "; ".join(f"{m}: {self.reasons[m]}" if m in self.reasons else m for m in self.missing)
        super().__init__(f"notice incomplete, not sendable ({detail})")


class NotACopyrightCase(NoticeIncomplete):
    """The case's evidence holds none of our recordings (or its kind says it may not), so no
    copyright notice can be made for it: raised before any text is. ``missing`` is
    ["recording_evidence"]; ``reasons`` says why. A NoticeIncomplete, so that whatever refuses
    an incomplete notice refuses this too."""

    def __init__(self, reason: str):
        super().__init__(["recording_evidence"], {"recording_evidence": reason})


class NotALikenessCase(NoticeIncomplete):
    """The case was not opened for an artist's likeness: no likeness complaint is made for it."""

    def __init__(self, reason: str):
        super().__init__(["likeness_case"], {"likeness_case": reason})


class NoRoute(NoticeIncomplete):
    """The platform has no usable route for likeness complaints (``platforms.<id>.likeness``)."""

    def __init__(self, reason: str):
        super().__init__(["route"], {"route": reason})


def case_kind(case: Mapping[str, Any]) -> str:
    """The case's kind; a case stored before kinds existed (none, or null) is "copy"."""
    kind = case.get("kind")
    return "copy" if kind is None else str(kind)


_SEAL = object()


@dataclass(frozen=True)
class RecordingEvidence:
    """What a copyright notice rests on: the case may hold our recording, and its evidence
    names the catalogue track that matched and how strongly. Made only by :meth:`of`, from a
    case; the copyright notice's builders take one, so none can be made without it."""

    kind: str
    track_id: str
    false_match_rate: float
    evidence: MatchEvidence
    _seal: object = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self._seal is not _SEAL:
            raise TypeError("RecordingEvidence is made from a case: RecordingEvidence.of(case)")

    @classmethod
    def of(cls, case: Mapping[str, Any]) -> "RecordingEvidence":
        """The recording evidence of ``case`` (``Case.to_dict()``), or NotACopyrightCase."""
        kind = case_kind(case)
        if kind not in COPYRIGHT_KINDS:
            raise NotACopyrightCase(
                f"a {kind} case holds none of our recordings; only a likeness complaint can be made for it"
                if kind in LIKENESS_KINDS else f"case kind {kind!r} is not one that holds our recording")
        document = case.get("evidence")
        if not isinstance(document, Mapping) or not document:
            raise NotACopyrightCase("the case has no match evidence: nothing shows our recording is in the upload")
        ev = MatchEvidence.from_document(document)
        track_id = (ev.track_id or "").strip()
        if not track_id:
            raise NotACopyrightCase("the case's evidence names no catalogue track")
        if ev.false_match_rate is None or ev.false_match_rate < 0:
            raise NotACopyrightCase("the case's evidence has no match strength (false_match_rate)")
        return cls(kind, track_id, ev.false_match_rate, ev, _SEAL)


@dataclass
class Notice:
    law: str                     # "DMCA" | "DSA" | "LIKENESS-US-ROP" | "LIKENESS-DSA"
    subject: str
    text: str
    to: str                      # the platform channel's address (email or web form)
    fields: dict[str, str]       # legal element -> the text that satisfies it
    html: str | None = None
    case_id: str = ""
    channel: str = ""
    created_at: str = ""
    reasons: dict[str, str] = field(default_factory=dict)  # why an element is empty, if one is

    def missing(self) -> list[str]:
        """Elements the law requires that are empty (and "recipient" if there is no address)."""
        out = [name for name in LAWS[self.law] if not (self.fields.get(name) or "").strip()]
        if not (self.to or "").strip():
            out.append(RECIPIENT)
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- building blocks


def _words(law: str) -> Any:
    """The macros of the law's notice template (or of the shared wording, for "common")."""
    return macros(f"notices/{law}.txt.j2")


def _s(mapping: Mapping[str, Any] | None, key: str, limit: int = 300) -> str:
    return one_line((mapping or {}).get(key), limit)


def _date(now: str) -> str:
    text = one_line(now, 40)
    return text[:10] if re.match(r"^\d{4}-\d{2}-\d{2}", text) else text


def _work_identification(work: Mapping[str, Any], track_id: str, owner: str) -> str:
    title = _s(work, "title")
    if not title:
        return ""
    return _words("common").work_identification(title, _s(work, "artist"), _s(work, "isrc", 40), owner, track_id)


def _evidence_text(recording: RecordingEvidence, case: Mapping[str, Any]) -> str:
    ev = recording.evidence
    return _words("common").evidence(evidence_summary(ev), matched_landmarks(ev), _approval_text(case.get("decision")),
                                     _is_partial(recording))


def _is_partial(recording: RecordingEvidence) -> bool:
    """Our recording is only part of the upload (a partial match, or an AI cover over it)."""
    return recording.kind in ("partial", "suspected_ai_cover")


def _approval_text(decision: Any) -> str:
    """How this notice was approved, in words that are true of it (it is signed under penalty
    of perjury): a person's review, or the stay-down policy and the reviewed case it rests on."""
    approval = _words("common").approval
    if not isinstance(decision, Mapping) or decision.get("decision") != "approve":
        return ""
    if not str(decision.get("by", "")).startswith("policy:"):
        return approval("person")
    basis = decision.get("basis") if isinstance(decision.get("basis"), Mapping) else {}
    reviewed = basis.get("reviewed") if isinstance(basis.get("reviewed"), Mapping) else {}
    if not basis or not reviewed:
        return approval("policy")
    return approval(
        "policy_copy",
        reviewed_on=_date(_s(reviewed, "at", 40)),
        reviewed_ref=_s(reviewed, "case_id", 120),
        notice_ref=_s(basis, "case_id", 120),
        sent_on=_date(_s(basis, "notice_sent_at", 40)),
        location=safe_http_url(_s(basis, "location", 2048)) or "",
    )


def _location(case: Mapping[str, Any], src: Mapping[str, Any], platform: Mapping[str, Any]) -> tuple[str, str]:
    """(text, reason-if-empty) identifying the upload by its exact URL plus what else we know.

    The URL is the case's canonical location (the item's own URL on its platform, the same for
    every spelling of it: ``locations.Locations``) when it is an http(s) URL, else the URL
    as reported; a reported URL that differs is given too. Empty, with the reason, when the
    URL is not on the platform's hosts (``locations.location_problem``: the platform the
    notice goes to could not find the material from it), as the case records it
    (``location_problem``, from ingest) or as ``platform``'s ``location.hosts`` say."""
    reported = safe_http_url(_s(src, "url", 2048))
    url = safe_http_url(_s(case, "location", 2048)) or reported
    if not url:
        given = _s(src, "url", 200)
        why = f"the URL {given!r} is not an http(s) address" if given else "no URL locates the material"
        return "", why
    # as ingest recorded it on the case (the notice function's registry leaves out the location
    # rules), else as the registry given here says
    problem = _s(case, "location_problem", 2400) or location_problem(url, _s(src, "platform", 80), platform,
                                                                      platform_name(_s(src, "platform", 80)))
    if problem:
        return "", problem
    text = _words("common").location(url, reported or "", _s(src, "title"), _s(src, "uploader"),
                                     _s(src, "partner_ref", 120), _s(src, "territory", 40))
    return text, ""


def _signature(c: Mapping[str, Any], owner: str, date: str) -> tuple[str, str]:
    sig = _s(c, "signature", 200)
    name = _s(c, "name", 200)
    if not sig:
        return "", "no signature is configured for the complainant"
    if not name:
        return "", "no name is configured for the complainant"
    if not owner:
        return "", "no rights owner is known to act for"
    return _words("DMCA").signature(sig, name, _s(c, "organisation", 200), owner, date), ""


# --------------------------------------------------------------------------- render


def _dmca(recording: RecordingEvidence, case, src, work, c, owner, date, p) -> tuple[dict[str, str], dict[str, str]]:
    words = _words("DMCA")
    fields, why = {}, {}
    fields["signature"], why["signature"] = _signature(c, owner, date)
    ident = _work_identification(work, _s(case, "track_id", 120), owner)
    fields["copyrighted_work"] = words.copyrighted_work(ident) if ident else ""
    why["copyrighted_work"] = "" if fields["copyrighted_work"] else "the work has no title"
    loc, why["infringing_material"] = _location(case, src, p)
    fields["infringing_material"] = words.infringing_material(loc, _evidence_text(recording, case),
                                                              _is_partial(recording)) if loc else ""
    contact = {k: _s(c, k, 300) for k in ("name", "organisation", "address", "phone", "email")}
    lacking = [k for k in ("address", "phone", "email") if not contact[k]]
    if not (contact["name"] or contact["organisation"]):
        lacking.insert(0, "name")
    if contact["email"] and not _EMAIL.match(contact["email"]):
        lacking.append("valid email")
    if lacking:
        fields["contact_information"], why["contact_information"] = "", f"complainant has no {', '.join(lacking)}"
    else:
        fields["contact_information"] = words.contact_information(**contact)
    fields["good_faith_statement"] = words.good_faith_statement()
    fields["accuracy_and_authority_statement"] = words.accuracy_and_authority_statement(owner) if owner else ""
    why["accuracy_and_authority_statement"] = "" if owner else "no rights owner is known to act for"
    return fields, why


def _dsa(recording: RecordingEvidence, case, src, work, c, owner, date, p) -> tuple[dict[str, str], dict[str, str]]:
    words = _words("DSA")
    fields, why = {}, {}
    ident = _work_identification(work, _s(case, "track_id", 120), owner)
    evidence = _evidence_text(recording, case)
    if not ident or not owner:
        fields["explanation"] = ""
        why["explanation"] = "the work has no title" if not ident else "no rights owner is known"
    elif not evidence:
        fields["explanation"], why["explanation"] = "", "there is no match evidence to substantiate the notice"
    else:
        fields["explanation"] = words.explanation(ident, owner, evidence, _is_partial(recording))
    loc, why["exact_location"] = _location(case, src, p)
    fields["exact_location"] = words.exact_location(loc, platform_name(_s(src, "platform", 80))) if loc else ""
    name = _s(c, "name", 200) or _s(c, "organisation", 200)
    email = _s(c, "email", 300)
    if not name or not email or not _EMAIL.match(email):
        fields["submitter"] = ""
        why["submitter"] = "complainant has no " + " and ".join(
            x for x, ok in (("name", name), ("valid email", email and _EMAIL.match(email))) if not ok
        )
    else:
        fields["submitter"] = words.submitter(_s(c, "name", 200), _s(c, "organisation", 200), owner, email,
                                              _s(c, "address"), _s(c, "phone"))
    fields["bona_fide_statement"] = words.bona_fide_statement()
    return fields, why


def render_notice(
    case: Mapping[str, Any],
    *,
    law: str,
    complainant: Mapping[str, Any],
    platform: Mapping[str, Any],
    now: str,
) -> Notice:
    """The copyright notice for ``case`` under ``law`` ("DMCA" or "DSA"), addressed to
    ``platform["address"]``.

    ``case`` is ``Case.to_dict()``; ``complainant`` = {name, organisation, address, phone, email,
    signature}; ``platform`` = {name, law, channel, address}; ``now`` is an ISO-8601 time.
    Raises ``NotACopyrightCase`` (before any text is made) unless the case's evidence holds
    our recording (:class:`RecordingEvidence`); ``NoticeIncomplete`` if any element the law
    requires is empty (or there is no recipient); ValueError for an unknown law.
    """
    if law not in COPYRIGHT_LAWS:
        raise ValueError(f"law must be one of {sorted(COPYRIGHT_LAWS)}, not {law!r}")
    recording = RecordingEvidence.of(case)
    src = dict(case.get("source") or {})
    work = dict(case.get("work") or {})
    c = dict(complainant or {})
    p = dict(platform or {})
    owner = _s(work, "owner", 200) or _s(c, "organisation", 200)
    date = _date(now)
    build = _dmca if law == "DMCA" else _dsa
    fields, why = build(recording, case, src, work, c, owner, date, p)
    fields = {name: fields.get(name, "") for name in LAWS[law]}

    case_id = _s(case, "case_id", 120)
    words = _words(law)
    pname = one_line(p.get("name"), 120) or platform_name(_s(src, "platform", 80))
    return _assemble(
        law, fields, why, case_id=case_id, date=date, now=now,
        subject=one_line(words.subject(_s(work, "title", 120), case_id), 200),
        addressee=words.addressee(pname), intro=words.intro(owner),
        closing=words.closing(_s(c, "signature", 200)),
        to=p.get("address"), channel=p.get("channel"),
    )


def _assemble(law: str, fields: dict[str, str], why: dict[str, str], *, case_id: str, date: str, now: str,
              subject: str, addressee: str, intro: str, closing: str, to: Any, channel: Any) -> Notice:
    """The notice's text and HTML from its elements' texts, or NoticeIncomplete naming the empty ones."""
    sections = [
        {"heading": ELEMENTS[law][name][0], "cite": ELEMENTS[law][name][1], "text": fields[name]}
        for name in _order(law)
    ]
    values = {
        "subject": subject,
        "addressee": addressee,
        "date": date,
        "case_id": case_id,
        "intro": intro,
        "closing": closing,
    }
    # the text ends in one line break, whatever its last line held (a signature's "Date: " with no date)
    text = render("notices/notice.txt.j2", **values,
                  sections=[{**sec, "lines": sec["text"].splitlines()} for sec in sections]).rstrip() + "\n"
    html_doc = render("notices/notice.html.j2", **values,
                      sections=[{**sec, "body": clean(sec["text"])} for sec in sections])
    notice = Notice(
        law=law,
        subject=subject,
        text=text,
        html=html_doc,
        to=one_line(to, 300),
        fields=fields,
        case_id=case_id,
        channel=one_line(channel, 60),
        created_at=one_line(now, 40),
        reasons={k: v for k, v in why.items() if v and not fields.get(k)},
    )
    missing = notice.missing()
    if missing:
        reasons = dict(notice.reasons)
        if RECIPIENT in missing:
            reasons[RECIPIENT] = "the platform has no address for notices"
        raise NoticeIncomplete(missing, reasons, notice)
    return notice


# --------------------------------------------------------------------------- likeness complaints


def likeness_route_problems(route: Any) -> list[str]:
    """What is wrong with a platform's likeness route (``platforms.<id>.likeness``), [] if
    nothing: {"channel": "email", "address": an email address, "law": "US-ROP" | "DSA",
    "basis": the law it rests on (completes "unlawful under ..."), "policy": optional, the
    platform's policy (completes "contrary to ...")}. config.py refuses a route with problems
    at synthesis; a likeness complaint on one raises NoRoute."""
    if not isinstance(route, Mapping):
        return ["must be an object with channel, address, law, basis and optionally policy"]
    problems = []
    unknown = sorted(set(route) - LIKENESS_ROUTE_KEYS)
    if unknown:
        problems.append(f"unknown key(s) {unknown}; allowed: {sorted(LIKENESS_ROUTE_KEYS)}")
    if route.get("channel") != "email":
        problems.append("channel must be 'email'")
    if not isinstance(route.get("address"), str) or not _EMAIL.match(route["address"]):
        problems.append("address must be an email address")
    if not isinstance(route.get("law"), str) or route["law"] not in LIKENESS_ROUTES:
        problems.append(f"law must be one of {sorted(LIKENESS_ROUTES)} (right of publicity, or a DSA Art. 16 notice)")
    for key, required in (("basis", True), ("policy", False)):
        value = route.get(key)
        if (value is None and not required) or (isinstance(value, str) and value.strip() and len(value) <= 500):
            continue
        problems.append(f"{key} must be a non-empty text of at most 500 characters" + ("" if required else " if given"))
    return problems


def likeness_route(platform: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """``platform``'s route for likeness complaints (``platforms.<id>.likeness``), checked.
    Raises NoRoute when there is none or it is not usable."""
    p = platform or {}
    name = one_line(p.get("name"), 80) or "the platform"
    route = p.get("likeness")
    if not route:
        raise NoRoute(f"{name} has no route for likeness complaints (platforms.<id>.likeness in cdk.json)")
    problems = likeness_route_problems(route)
    if problems:
        raise NoRoute(f"{name}'s route for likeness complaints is not usable: " + "; ".join(problems))
    return route


def _signal(case: Mapping[str, Any]) -> tuple[LikenessSignal | None, str]:
    try:
        return LikenessSignal.from_dict(case.get("likeness")), ""
    except ValueError as e:
        return None, f"the case holds no usable likeness signal ({e})"


def _approval_how(decision: Any) -> tuple[str, str]:
    """("person" | "", why-not): a likeness complaint is approved by a person, never by policy."""
    if not isinstance(decision, Mapping) or decision.get("decision") != "approve":
        return "", ""
    if str(decision.get("by", "")).startswith("policy:"):
        return "", "a likeness complaint is sent only after a person's review, never approved by policy"
    return "person", ""


def render_likeness_complaint(
    case: Mapping[str, Any],
    *,
    complainant: Mapping[str, Any],
    platform: Mapping[str, Any],
    now: str,
) -> Notice:
    """The likeness / impersonation complaint for ``case`` on ``platform``'s likeness route.

    ``case`` is ``Case.to_dict()`` with ``kind`` "suspected_deepfake" or "suspected_ai_cover"
    and ``likeness`` (``LikenessSignal.to_dict()``); ``complainant`` as for render_notice;
    ``platform`` is the platform's configuration, with ``name`` and ``likeness`` (the route:
    see ``likeness_route_problems``); ``now`` is an ISO-8601 time. ``Notice.law`` is
    "LIKENESS-US-ROP" or "LIKENESS-DSA"; ``to`` and ``channel`` are the route's.

    Raises NotALikenessCase for any other kind and NoRoute for a platform without a usable
    route (both before any text is made); NoticeIncomplete if an element is empty: no
    likeness signal on the case, no organisation acting for the artist, no signature, no
    name or valid email, no http(s) URL, or an approval by policy.
    """
    kind = case_kind(case)
    if kind not in LIKENESS_KINDS:
        raise NotALikenessCase(f"a {kind} case was not opened for an artist's likeness; its notice is a copyright notice")
    route = likeness_route(platform)
    law = LIKENESS_ROUTES[route["law"]]
    words, shared = _words(law), _words("likeness")
    src = dict(case.get("source") or {})
    c = dict(complainant or {})
    p = dict(platform or {})
    date = _date(now)
    organisation = _s(c, "organisation", 200)
    name = _s(c, "name", 200)
    email = _s(c, "email", 300)
    signal, no_signal = _signal(case)
    artist = one_line(signal.artist_name, 200) if signal else ""
    basis = one_line(route.get("basis"), 500)
    policy = one_line(route.get("policy"), 500)
    fields: dict[str, str] = {}
    why: dict[str, str] = {}
    no_org = "no organisation is configured to act for the artist"

    if not signal:
        fields["person_impersonated"], why["person_impersonated"] = "", no_signal
    elif not organisation:
        fields["person_impersonated"], why["person_impersonated"] = "", no_org
    else:
        fields["person_impersonated"] = shared.person_impersonated(artist, one_line(signal.artist_id, 80), organisation)

    loc, why["content_location"] = _location(case, src, p)
    pname = one_line(p.get("name"), 120) or platform_name(_s(src, "platform", 80))
    fields["content_location"] = shared.content_location(loc, pname) if loc else ""

    how, why_not = _approval_how(case.get("decision"))
    if not signal:
        fields["impersonation_evidence"], why["impersonation_evidence"] = "", no_signal
    elif why_not:
        fields["impersonation_evidence"], why["impersonation_evidence"] = "", why_not
    else:
        fields["impersonation_evidence"] = shared.impersonation_evidence(artist, _evidence_fields(signal),
                                                                        shared.approval(how))
    fields["synthetic_voice_statement"] = (
        shared.synthetic_voice_statement(artist, kind == "suspected_deepfake") if signal else "")
    why["synthetic_voice_statement"] = no_signal
    fields["legal_basis"] = words.legal_basis(artist, policy, basis) if signal else ""
    why["legal_basis"] = no_signal

    if not signal or not organisation or not email or not _EMAIL.match(email):
        fields["complainant"] = ""
        why["complainant"] = no_signal or no_org if (not signal or not organisation) else "complainant has no valid email"
    else:
        fields["complainant"] = shared.complainant(name, organisation, artist, email, _s(c, "address"), _s(c, "phone"))
    fields["good_faith_statement"] = shared.good_faith_statement(artist) if signal else ""
    why["good_faith_statement"] = no_signal
    fields["accuracy_statement"] = shared.accuracy_statement(artist, organisation) if signal and organisation else ""
    why["accuracy_statement"] = no_signal or no_org
    sig = _s(c, "signature", 200)
    if not signal or not sig or not (name or organisation):
        fields["signature"] = ""
        why["signature"] = no_signal or ("no signature is configured for the complainant" if not sig
                                         else "no name is configured for the complainant")
    else:
        fields["signature"] = shared.signature(sig, name or organisation, organisation, artist, date)
    fields = {element: fields.get(element, "") for element in LAWS[law]}

    case_id = _s(case, "case_id", 120)
    return _assemble(
        law, fields, why, case_id=case_id, date=date, now=now,
        subject=one_line(words.subject(artist or "an artist", case_id), 200),
        addressee=words.addressee(pname),
        intro=words.intro(artist or "the artist", organisation or "the rights owner", policy, basis),
        closing=words.closing(sig),
        to=route.get("address"), channel=route.get("channel"),
    )


def _evidence_fields(signal: LikenessSignal) -> list[dict[str, Any]]:
    """Per field of the upload that showed the signal: the upload's words for the artist
    (other than the artist's name as configured) and for AI, each once, as the template wants them."""
    def key(text: str) -> str:
        return " ".join(one_line(text).casefold().split())

    out = []
    for where in LIKENESS_FIELDS:
        names = [h for h in signal.names if h.field == where]
        terms = [h for h in signal.terms if h.field == where]
        if not names and not terms:
            continue
        aliases = list(dict.fromkeys(one_line(h.found, 120) for h in names
                                     if key(h.found) != key(signal.artist_name)))
        out.append({
            "field": where,
            "named": bool(names),
            "aliases": aliases,
            "terms": list(dict.fromkeys(one_line(h.found, 120) for h in terms)),
        })
    return out


def _order(law: str) -> list[str]:
    """Reading order in the notice (the signature closes a DMCA notice and a likeness complaint)."""
    if law == "DMCA":
        return [
            "copyrighted_work",
            "infringing_material",
            "contact_information",
            "good_faith_statement",
            "accuracy_and_authority_statement",
            "signature",
        ]
    return list(LAWS[law])
