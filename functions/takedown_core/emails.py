"""Emails to reviewers: one per review request (or reminder / escalation) and an hourly digest.

Pure standard library. Each function returns (subject, text, html). Text that came from a
partner or an uploader is squeezed onto one line and shortened in the subject and the text
part, and escaped in the HTML part. The link goes to the review page: opening it (as mail
scanners do) shows the evidence and decides nothing; the decision is a button on the page.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from .pages import esc, evidence_summary, fmt_epoch, num, one_line, platform_name

KINDS = ("request", "reminder", "escalation")

_FONT = "font-family:system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif"


def _subject(text: str) -> str:
    """A header-safe subject: one line, no control characters, at most 150 characters."""
    return one_line(text, 150)


def _facts(case: Mapping[str, Any]) -> dict[str, str]:
    src = dict(case.get("source") or {})
    work = dict(case.get("work") or {})
    ev = evidence_summary(case.get("evidence"))
    return {
        "work": one_line(work.get("title"), 120) or one_line(case.get("track_id"), 120) or "one of our recordings",
        "artist": one_line(work.get("artist"), 120),
        "isrc": one_line(work.get("isrc"), 40),
        "platform": platform_name(one_line(src.get("platform"), 60)) or "an unknown platform",
        "url": one_line(src.get("url"), 500),
        "uploader": one_line(src.get("uploader"), 120),
        "title": one_line(src.get("title"), 200),
        "case_id": one_line(case.get("case_id"), 100),
        "strength": ev["strength"],
        "chance": ev["chance"],
        "upload_segment": ev["upload_segment"],
        "reference_segment": ev["reference_segment"],
        "change": ev["change"],
    }


def _work_line(f: Mapping[str, str]) -> str:
    return f"“{f['work']}”" + (f" by {f['artist']}" if f["artist"] else "")


def _html_doc(title: str, inner: str) -> str:
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title></head>"
        f'<body style="margin:0;padding:0;background:#f1f5f9;{_FONT};color:#0f172a">'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f1f5f9">'
        '<tr><td align="center" style="padding:16px 8px">'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" '
        'style="max-width:600px;background:#ffffff;border:1px solid #e2e8f0;border-radius:10px">'
        f'<tr><td style="padding:20px;font-size:15px;line-height:1.5">{inner}</td></tr>'
        "</table></td></tr></table></body></html>"
    )


def _button(url: str, label: str) -> str:
    return (
        '<table role="presentation" cellpadding="0" cellspacing="0" style="margin:16px 0"><tr>'
        f'<td style="background:#1d4ed8;border-radius:8px"><a href="{esc(url)}" '
        'style="display:inline-block;padding:12px 20px;color:#ffffff;font-weight:600;text-decoration:none">'
        f"{esc(label)}</a></td></tr></table>"
    )


def _rows(rows: Sequence[tuple[str, str]]) -> str:
    cells = "".join(
        f'<tr><td style="padding:3px 12px 3px 0;color:#64748b;vertical-align:top;white-space:nowrap">{esc(k)}</td>'
        f'<td style="padding:3px 0;word-break:break-word">{esc(v)}</td></tr>'
        for k, v in rows
        if v
    )
    return f'<table role="presentation" cellpadding="0" cellspacing="0" style="font-size:14px">{cells}</table>'


def review_request_email(
    case: Mapping[str, Any],
    *,
    url: str,
    reviewer: str,
    expires_at: int,
    round: int,
    kind: str = "request",
) -> tuple[str, str, str]:
    """(subject, text, html) asking ``reviewer`` to decide one case through ``url``.

    kind: "request" (first ask), "reminder" (no answer yet), "escalation" (the previous
    reviewer did not answer; this reviewer is next).
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    f = _facts(case)
    work = _work_line(f)
    expiry = fmt_epoch(expires_at)
    who = one_line(reviewer, 200)
    prefix = {"request": "Review needed", "reminder": "Reminder, review needed", "escalation": "Escalated to you, review needed"}[kind]
    subject = _subject(f"{prefix}: {f['work']} on {f['platform']}")

    intro = {
        "request": f"An upload on {f['platform']} matched our recording {work}. Please decide whether to send a takedown notice.",
        "reminder": f"This case is still waiting for your decision (follow-up {int(num(round) or 0)}). An upload on {f['platform']} matched our recording {work}.",
        "escalation": f"The reviewer asked before did not decide in time, so this case now comes to you. An upload on {f['platform']} matched our recording {work}.",
    }[kind]
    what_to_do = (
        "What to do: open the link below, check the evidence on the page, then press Approve "
        "(a takedown notice is sent) or Reject (choose a reason). Opening the link does not decide anything."
    )
    validity = (
        f"The link is for {who} only, expires at {expiry}, and works once: after the first decision it cannot be used again."
    )
    facts = [
        ("Platform", f["platform"]),
        ("Upload", f["url"] or "(no public URL given)"),
        ("Uploader", f["uploader"]),
        ("Upload title", f["title"]),
        ("Our recording", work),
        ("ISRC", f["isrc"]),
        ("Match", f"{f['strength']}: {f['chance']}"),
        ("Matched", f"upload {f['upload_segment']} = our recording {f['reference_segment']}"),
        ("Changes", f["change"]),
        ("Case", f["case_id"]),
    ]
    text = "\n".join(
        [
            f"Hello {who},",
            "",
            intro,
            "",
            what_to_do,
            "",
            f"Review page: {url}",
            "",
            validity,
            "",
            *(f"{k}: {v}" for k, v in facts if v),
            "",
            "Do not forward this email: the link is personal.",
        ]
    ) + "\n"
    inner = (
        f'<p style="margin:0 0 4px;color:#64748b;font-size:13px">{esc(prefix)}</p>'
        f'<h1 style="margin:0 0 12px;font-size:20px;line-height:1.3">Is this upload a copy of {esc(work)}?</h1>'
        f"<p style=\"margin:0 0 10px\">Hello {esc(who)},</p>"
        f'<p style="margin:0 0 10px">{esc(intro)}</p>'
        f'<p style="margin:0 0 10px">{esc(what_to_do)}</p>'
        f"{_button(url, 'Open the review page')}"
        f'<p style="margin:0 0 14px;font-size:13px;color:#475569">{esc(validity)}<br>'
        f'If the button does not work, copy this address into your browser: <span style="word-break:break-all">{esc(url)}</span></p>'
        f"{_rows(facts)}"
        '<p style="margin:14px 0 0;font-size:12px;color:#64748b">Do not forward this email: the link is personal.</p>'
    )
    return subject, text, _html_doc(subject, inner)


def digest_email(cases: Sequence[tuple[Mapping[str, Any], str]], *, reviewer: str) -> tuple[str, str, str]:
    """(subject, text, html): one email listing every case waiting for ``reviewer`` with its link.

    Each item is (case dict, review URL) or (case dict, review URL, expires_at).
    """
    if not cases:
        raise ValueError("a digest needs at least one case")
    who = one_line(reviewer, 200)
    n = len(cases)
    subject = _subject(f"{n} takedown review{'s' * (n != 1)} waiting for you")
    text_items, html_items = [], []
    for i, item in enumerate(cases, 1):
        case, url = item[0], item[1]
        expires = fmt_epoch(item[2]) if len(item) > 2 and item[2] is not None else ""
        f = _facts(case)
        line = f"{_work_line(f)} on {f['platform']}" + (f" ({f['uploader']})" if f["uploader"] else "")
        text_items.append(
            f"{i}. {line}\n   {f['strength']}: {f['chance']}.\n"
            + (f"   Link expires {expires}.\n" if expires else "")
            + f"   {url}"
        )
        html_items.append(
            '<tr><td style="padding:10px 0;border-top:1px solid #e2e8f0">'
            f'<div style="font-weight:600">{esc(line)}</div>'
            f'<div style="font-size:13px;color:#475569">{esc(f["strength"])}: {esc(f["chance"])}.'
            + (f" Link expires {esc(expires)}." if expires else "")
            + "</div>"
            f'<div style="margin-top:4px"><a href="{esc(url)}" style="color:#1d4ed8;font-weight:600">Review this case</a></div>'
            "</td></tr>"
        )
    how = (
        "Open each link, check the evidence, then press Approve or Reject on the page. Opening a link "
        "does not decide anything; each link works for one decision and only for you."
    )
    text = "\n".join([f"Hello {who},", "", f"{n} case{'s' * (n != 1)} {'are' if n != 1 else 'is'} waiting for your review.", how, "", *text_items, ""]) + "\n"
    inner = (
        f'<h1 style="margin:0 0 12px;font-size:20px">{esc(subject)}</h1>'
        f'<p style="margin:0 0 10px">Hello {esc(who)},</p><p style="margin:0 0 10px">{esc(how)}</p>'
        f'<table role="presentation" width="100%" cellpadding="0" cellspacing="0">{"".join(html_items)}</table>'
    )
    return subject, text, _html_doc(subject, inner)
