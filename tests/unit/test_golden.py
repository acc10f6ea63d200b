"""Behaviour-preserving refactors keep every artefact byte-identical (tests/golden/render.py).

A deliberate change of wording, layout or evidence re-records the hashes with
``.venv/bin/python -m tests.golden.render --write`` in the same commit, so the diff shows it.
"""

from __future__ import annotations

import json

from tests.golden.render import HASHES, hashes


def test_every_evidence_page_mail_and_notice_is_byte_identical_to_the_recorded_set():
    want = json.loads(HASHES.read_text())
    got = hashes()
    assert sorted(got) == sorted(want), "the fixed set changed: re-record with --write"
    changed = [name for name in want if got[name] != want[name]]
    assert not changed, f"{len(changed)} artefacts changed (diff with --dump): {changed[:20]}"
