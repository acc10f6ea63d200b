"""Takedown notices that meet the law they are sent under. Pure standard library.

Two laws are supported:

- "DMCA": 17 U.S.C. § 512(c)(3)(A)(i)-(vi), the notification to a US service provider's
  designated agent.
- "DSA": Regulation (EU) 2022/2065 (Digital Services Act), Article 16(2)(a)-(d), a notice to a
  hosting service's notice-and-action mechanism.

``render_notice`` builds every element the law asks for from the case (work, location, match
evidence) and from the label's configuration (the complainant) and refuses, with
``NoticeIncomplete``, to produce a notice in which any element is empty: a notice that does not
meet the law must never be sent. ``Notice.fields`` maps each element to the text that
satisfies it, so tests and audits can check them one by one.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping

from .pages import esc, evidence_summary, fmt_number, one_line, platform_name, safe_http_url

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


@dataclass
class Notice:
    law: str                     # "DMCA" | "DSA"
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


def _s(mapping: Mapping[str, Any] | None, key: str, limit: int = 300) -> str:
    return one_line((mapping or {}).get(key), limit)


def _date(now: str) -> str:
    text = one_line(now, 40)
    return text[:10] if re.match(r"^\d{4}-\d{2}-\d{2}", text) else text


def _work_identification(work: Mapping[str, Any], track_id: str, owner: str) -> str:
    title = _s(work, "title")
    if not title:
        return ""
    parts = [f"the sound recording “{title}”"]
    if _s(work, "artist"):
        parts.append(f"by {_s(work, 'artist')}")
    text = " ".join(parts)
    extra = []
    if _s(work, "isrc", 40):
        extra.append(f"ISRC {_s(work, 'isrc', 40)}")
    if owner:
        extra.append(f"rights owner {owner}")
    if track_id:
        extra.append(f"our catalogue reference {track_id}")
    return text + (f" ({'; '.join(extra)})" if extra else "") + "."


def _evidence_text(case: Mapping[str, Any]) -> str:
    ev = dict(case.get("evidence") or {})
    if not ev:
        return ""
    s = evidence_summary(ev)
    parts = [
        "An audio fingerprint comparison matched the upload to our recording: "
        f"the upload at {s['upload_segment']} corresponds to {s['reference_segment']} of our recording"
    ]
    if ev.get("aligned_hashes") is not None:
        parts[0] += f", with {fmt_number(ev.get('aligned_hashes'))} matching landmarks aligned in time"
    parts[0] += f" (match score {s['score']})."
    parts.append(f"{s['change']}.")
    parts.append(f"Statistically there is {s['chance']}.")
    parts.extend(_approval_text(case.get("decision")))
    return " ".join(parts)


def _approval_text(decision: Any) -> list[str]:
    """How this notice was approved, in words that are true of it (it is signed under penalty
    of perjury): a person's review, or the stay-down policy and the reviewed case it rests on."""
    if not isinstance(decision, Mapping) or decision.get("decision") != "approve":
        return []
    if not str(decision.get("by", "")).startswith("policy:"):
        return ["A member of our rights team reviewed this evidence before this notice was sent."]
    basis = decision.get("basis") if isinstance(decision.get("basis"), Mapping) else {}
    reviewed = basis.get("reviewed") if isinstance(basis.get("reviewed"), Mapping) else {}
    if not basis or not reviewed:
        return ["This notice was approved under our stay-down policy, without a new review of this upload."]
    when = _date(_s(reviewed, "at", 40))
    sent = _date(_s(basis, "notice_sent_at", 40))
    where = safe_http_url(_s(basis, "location", 2048))
    rid, bid = _s(reviewed, "case_id", 120), _s(basis, "case_id", 120)
    notice_part = (f"a notice was sent{f' on {sent}' if sent else ''}{f' concerning {where}' if where else ''}"
                   f" (our reference {bid})")
    text = f"This upload is a byte-for-byte copy of a file that a member of our rights team reviewed{f' on {when}' if when else ''}"
    text += f", after which {notice_part}." if rid == bid else f" (our reference {rid}); for that file {notice_part}."
    text += " Under our stay-down policy this notice was approved on that basis, without a new review of this upload."
    return [text]


def _location(case: Mapping[str, Any], src: Mapping[str, Any]) -> tuple[str, str]:
    """(text, reason-if-empty) identifying the upload by its exact URL plus what else we know.

    The URL is the case's canonical location (the item's own URL on its platform, the same for
    every spelling of it: ``locations.Locations``) when it is an http(s) URL, else the URL
    as reported; a reported URL that differs is given too."""
    reported = safe_http_url(_s(src, "url", 2048))
    url = safe_http_url(_s(case, "location", 2048)) or reported
    if not url:
        given = _s(src, "url", 200)
        why = f"the URL {given!r} is not an http(s) address" if given else "no URL locates the material"
        return "", why
    lines = [f"URL: {url}"]
    if reported and reported != url:
        lines.append(f"As reported to us: {reported}")
    if _s(src, "title"):
        lines.append(f"Title on the platform: “{_s(src, 'title')}”")
    if _s(src, "uploader"):
        lines.append(f"Uploaded by: {_s(src, 'uploader')}")
    if _s(src, "partner_ref", 120):
        lines.append(f"Our reference for this item: {_s(src, 'partner_ref', 120)}")
    if _s(src, "territory", 40):
        lines.append(f"Observed in: {_s(src, 'territory', 40)}")
    return "\n".join(lines), ""


def _signature(c: Mapping[str, Any], owner: str, date: str) -> tuple[str, str]:
    sig = _s(c, "signature", 200)
    name = _s(c, "name", 200)
    if not sig:
        return "", "no signature is configured for the complainant"
    if not name:
        return "", "no name is configured for the complainant"
    if not owner:
        return "", "no rights owner is known to act for"
    sig_line = sig if sig.startswith("/s/") else f"/s/ {sig}"
    org = _s(c, "organisation", 200)
    if org and org != owner:
        who = f"{name}, {org}, authorised to act on behalf of {owner}"
    else:
        who = f"{name}, authorised to act on behalf of {owner}"
    return f"{sig_line}\n{who}\nDate: {date}", ""


# --------------------------------------------------------------------------- render


def _dmca(case, src, work, c, owner, date) -> tuple[dict[str, str], dict[str, str]]:
    fields, why = {}, {}
    fields["signature"], why["signature"] = _signature(c, owner, date)
    ident = _work_identification(work, _s(case, "track_id", 120), owner)
    fields["copyrighted_work"] = ident[:1].upper() + ident[1:]
    why["copyrighted_work"] = "" if fields["copyrighted_work"] else "the work has no title"
    loc, why["infringing_material"] = _location(case, src)
    evidence = _evidence_text(case)
    fields["infringing_material"] = (
        f"The audio of the following upload reproduces the copyrighted work without authorisation. "
        f"Please remove it or disable access to it.\n{loc}" + (f"\n{evidence}" if evidence else "")
        if loc
        else ""
    )
    contact = {k: _s(c, k, 300) for k in ("name", "organisation", "address", "phone", "email")}
    lacking = [k for k in ("address", "phone", "email") if not contact[k]]
    if not (contact["name"] or contact["organisation"]):
        lacking.insert(0, "name")
    if contact["email"] and not _EMAIL.match(contact["email"]):
        lacking.append("valid email")
    if lacking:
        fields["contact_information"], why["contact_information"] = "", f"complainant has no {', '.join(lacking)}"
    else:
        fields["contact_information"] = "\n".join(
            v
            for v in (
                contact["name"],
                contact["organisation"],
                f"Address: {contact['address']}",
                f"Telephone: {contact['phone']}",
                f"Email: {contact['email']}",
            )
            if v
        )
    fields["good_faith_statement"] = (
        "I have a good faith belief that use of the material in the manner complained of is not "
        "authorized by the copyright owner, its agent, or the law."
    )
    fields["accuracy_and_authority_statement"] = (
        "The information in this notification is accurate, and under penalty of perjury, I am "
        f"authorized to act on behalf of {owner}, the owner of an exclusive right that is allegedly infringed."
        if owner
        else ""
    )
    why["accuracy_and_authority_statement"] = "" if owner else "no rights owner is known to act for"
    return fields, why


def _dsa(case, src, work, c, owner, date) -> tuple[dict[str, str], dict[str, str]]:
    fields, why = {}, {}
    ident = _work_identification(work, _s(case, "track_id", 120), owner)
    evidence = _evidence_text(case)
    if not ident or not owner:
        fields["explanation"] = ""
        why["explanation"] = "the work has no title" if not ident else "no rights owner is known"
    elif not evidence:
        fields["explanation"], why["explanation"] = "", "there is no match evidence to substantiate the notice"
    else:
        fields["explanation"] = (
            f"The content is illegal because it reproduces and makes available to the public, without "
            f"authorisation, {ident} {owner} holds the exclusive rights of "
            "reproduction and of making available to the public in this recording (Directive 2001/29/EC, "
            "Articles 2(c) and 3(2)(b), as implemented in the law of the Member States), and has not "
            "licensed this use.\n"
            f"Substantiation: {evidence}"
        )
    fields["exact_location"], why["exact_location"] = _location(case, src)
    if fields["exact_location"]:
        fields["exact_location"] += f"\nType of content: audio (or the audio track of a video) hosted on {platform_name(_s(src, 'platform', 80)) or 'your service'}."
    name = _s(c, "name", 200) or _s(c, "organisation", 200)
    email = _s(c, "email", 300)
    if not name or not email or not _EMAIL.match(email):
        fields["submitter"] = ""
        why["submitter"] = "complainant has no " + " and ".join(
            x for x, ok in (("name", name), ("valid email", email and _EMAIL.match(email))) if not ok
        )
    else:
        org = _s(c, "organisation", 200)
        lines = [f"Name: {_s(c, 'name', 200) or org}"]
        if org and _s(c, "name", 200):
            if owner and owner != org:
                lines.append(f"On behalf of: {org}, for the rights owner {owner}")
            else:
                lines.append(f"On behalf of: {org}" + (" (the rights owner)" if owner else ""))
        lines.append(f"Email: {email}")
        for label, key in (("Address", "address"), ("Telephone", "phone")):
            if _s(c, key):
                lines.append(f"{label}: {_s(c, key)}")
        fields["submitter"] = "\n".join(lines)
    fields["bona_fide_statement"] = (
        "I confirm my bona fide belief that the information and allegations contained in this notice "
        "are accurate and complete."
    )
    return fields, why


_INTRO = {
    "DMCA": (
        "This is a notification of claimed infringement under the Digital Millennium Copyright Act, "
        "17 U.S.C. § 512(c)(3). I write on behalf of {owner}, the owner of exclusive rights in the "
        "sound recording identified below, and ask that you expeditiously remove or disable access to "
        "the infringing material."
    ),
    "DSA": (
        "This is a notice of illegal content under Article 16 of Regulation (EU) 2022/2065 (Digital "
        "Services Act), submitted on behalf of {owner}. It concerns content on your service that infringes "
        "copyright and related rights in a sound recording; please act on it expeditiously."
    ),
}


def render_notice(
    case: Mapping[str, Any],
    *,
    law: str,
    complainant: Mapping[str, Any],
    platform: Mapping[str, Any],
    now: str,
) -> Notice:
    """The notice for ``case`` under ``law`` ("DMCA" or "DSA"), addressed to ``platform["address"]``.

    ``case`` is ``Case.to_dict()``; ``complainant`` = {name, organisation, address, phone, email,
    signature}; ``platform`` = {name, law, channel, address}; ``now`` is an ISO-8601 time.
    Raises ``NoticeIncomplete`` if any element the law requires is empty (or there is no
    recipient); raises ValueError for an unknown law.
    """
    if law not in LAWS:
        raise ValueError(f"law must be one of {sorted(LAWS)}, not {law!r}")
    src = dict(case.get("source") or {})
    work = dict(case.get("work") or {})
    c = dict(complainant or {})
    p = dict(platform or {})
    owner = _s(work, "owner", 200) or _s(c, "organisation", 200)
    date = _date(now)
    build = _dmca if law == "DMCA" else _dsa
    fields, why = build(case, src, work, c, owner, date)
    fields = {name: fields.get(name, "") for name in LAWS[law]}

    case_id = _s(case, "case_id", 120)
    pname = one_line(p.get("name"), 120) or platform_name(_s(src, "platform", 80)) or "the service provider"
    title = _s(work, "title", 120) or "sound recording"
    if law == "DMCA":
        subject = f"DMCA notice of copyright infringement: “{title}” (ref. {case_id})"
        addressee = f"To: {pname}, designated agent for notices of claimed infringement"
    else:
        subject = f"Notice of illegal content (DSA Art. 16): copyright in “{title}” (ref. {case_id})"
        addressee = f"To: {pname}, notice and action mechanism"
    subject = one_line(subject, 200)
    intro = _INTRO[law].format(owner=owner or "the rights owner")

    sections = [(ELEMENTS[law][name][0], ELEMENTS[law][name][1], fields[name]) for name in _order(law)]
    text_lines = [addressee, f"Date: {date}", f"Reference: {case_id}", "", intro, ""]
    for i, (heading, cite, body) in enumerate(sections, 1):
        text_lines += [f"{i}. {heading} ({cite})", *(f"   {ln}" for ln in body.splitlines()), ""]
    if law == "DSA" and _s(c, "signature", 200):
        text_lines += [f"Signed: {_s(c, 'signature', 200)}", ""]
    text = "\n".join(text_lines).rstrip() + "\n"

    html_sections = "".join(
        f'<h2 style="font-size:16px;margin:18px 0 6px">{i}. {esc(h)} '
        f'<span style="font-weight:400;color:#64748b;font-size:13px">({esc(cite)})</span></h2>'
        f'<p style="margin:0;white-space:pre-line">{esc(body)}</p>'
        for i, (h, cite, body) in enumerate(sections, 1)
    )
    html_doc = (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{esc(subject)}</title></head>"
        '<body style="font-family:system-ui,-apple-system,Segoe UI,Roboto,Helvetica,Arial,sans-serif;'
        'color:#0f172a;font-size:15px;line-height:1.5;max-width:720px;margin:0 auto;padding:16px;overflow-wrap:anywhere">'
        f'<h1 style="font-size:20px;margin:0 0 8px">{esc(subject)}</h1>'
        f'<p style="margin:0;color:#475569">{esc(addressee)}<br>Date: {esc(date)}<br>Reference: {esc(case_id)}</p>'
        f'<p style="margin:14px 0 0">{esc(intro)}</p>{html_sections}</body></html>'
    )
    notice = Notice(
        law=law,
        subject=subject,
        text=text,
        html=html_doc,
        to=one_line(p.get("address"), 300),
        fields=fields,
        case_id=case_id,
        channel=one_line(p.get("channel"), 60),
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


def _order(law: str) -> list[str]:
    """Reading order in the notice (the signature closes a DMCA notice)."""
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
