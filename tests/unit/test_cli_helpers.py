"""Small command-line helpers: the demo sorts SES mail by the subject lines the templates
write; `cases show` shortens landmark lists."""

from __future__ import annotations

import pytest

from takedown_core.render import macros
from takedown_local.cli import _mail_kind

pytestmark = pytest.mark.usefixtures("no_network")


def test_every_reviewer_mail_copy_and_notice_subject_is_sorted_by_who_receives_it():
    words = macros("emails/words.txt.j2")
    f = {"work": "“Track20”", "platform": "YouTube"}
    for kind in ("request", "reminder", "escalation"):
        assert _mail_kind(str(words.request_subject(kind, f))) == "review"
    for n in (1, 3):
        assert _mail_kind(str(words.digest_subject(n))) == "review"
    dmca = str(macros("notices/DMCA.txt.j2").subject("Track20", "case-1"))
    dsa = str(macros("notices/DSA.txt.j2").subject("Track20", "case-1"))
    for subject in (dmca, dsa):
        assert _mail_kind(subject) == "notice" and _mail_kind(f"[copy] {subject}") == "copy"


def test_cases_show_says_long_landmark_lists_in_one_line_and_keeps_everything_else():
    from takedown_local.cases_cli import _without_landmarks

    pairs = [[i * 0.1, 60 + i * 0.1] for i in range(200)]
    doc = {"case": {"evidence": {"score": 9.1, "landmarks": pairs, "full_evidence": {"landmarks": pairs[:3]}}},
           "audit": [{"action": "opened", "detail": {"landmarks": pairs}}]}
    out = _without_landmarks(doc)
    assert out["case"]["evidence"] == {"score": 9.1, "landmarks": "[200 landmark pairs: --full prints them]",
                                       "full_evidence": {"landmarks": pairs[:3]}}
    assert out["audit"][0]["detail"]["landmarks"].startswith("[200 landmark pairs")
    assert doc["case"]["evidence"]["landmarks"] is pairs  # the case itself is untouched
