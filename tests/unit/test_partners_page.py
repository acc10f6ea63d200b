"""docs/partners.md, the partner's page: every reason the code can record is explained there,
the limits it states are the configured ones, and the README links it."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

from takedown_core.ingest import Reason
from takedown_core.matching import MIN_QUERY_SECONDS
from takedown_core.sidecar import FIELDS, MAX_SIDECAR_BYTES

ROOT = Path(__file__).resolve().parents[2]
PAGE = (ROOT / "docs" / "partners.md").read_text()
CORE = ROOT / "functions" / "takedown_core"


def _section(title: str) -> str:
    """The page's text under the heading ``title``, up to the next heading of its level or higher."""
    lines = PAGE.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"(#+) (.*)", line)
        if m and m.group(2) == title:
            level, body = len(m.group(1)), []
            for rest in lines[i + 1:]:
                h = re.match(r"(#+) ", rest)
                if h and len(h.group(1)) <= level:
                    break
                body.append(rest)
            return "\n".join(body)
    raise AssertionError(f"no section {title!r} in docs/partners.md")


def _table_codes(text: str) -> set[str]:
    """The codes in the first column of the markdown tables in ``text``."""
    return set(re.findall(r"^\| `([a-z_]+)` \|", text, re.M))


def quarantine_reasons_in_code() -> set[str]:
    """Every reason ingest can quarantine with: the Reason codes passed to _quarantine in
    ingest.py, and every DecodeError reason in audio.py (a decode's reason is the quarantine's)."""
    tree = ast.parse((CORE / "ingest.py").read_text())
    codes = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "_quarantine":
            for arg in node.args:
                if isinstance(arg, ast.Attribute) and isinstance(arg.value, ast.Name) and arg.value.id == "Reason":
                    codes.add(getattr(Reason, arg.attr))
                if isinstance(arg, ast.BoolOp):  # submission.reason or Reason.CORRUPT
                    codes.update(getattr(Reason, v.attr) for v in arg.values
                                 if isinstance(v, ast.Attribute) and isinstance(v.value, ast.Name) and v.value.id == "Reason")
    codes.update(re.findall(r'DecodeError\(\s*"([a-z_]+)"', (CORE / "audio.py").read_text()))
    return codes


def other_reasons_in_code() -> set[str]:
    """Reasons recorded on outcomes that are not quarantines (no_match, licensed)."""
    return {Reason.PARTIAL_DECODE, Reason.SILENT, Reason.LICENSED}


def test_given_the_code_when_its_quarantine_reasons_are_collected_then_the_known_ones_are_found():
    found = quarantine_reasons_in_code()
    # the collector itself works: the reasons it must see from each source
    assert {"bad_sidecar", "unknown_platform", "oversize", "unknown_partner_bucket"} <= found  # ingest.py
    assert {"not_audio", "corrupt", "too_short", "empty"} <= found  # audio.py's DecodeError


def test_given_every_quarantine_reason_the_code_can_record_then_the_page_explains_it():
    documented = _table_codes(_section("Quarantine reasons").split("### ")[0])

    missing = quarantine_reasons_in_code() - documented
    assert not missing, f"docs/partners.md does not explain quarantine reason(s) {sorted(missing)}"
    stale = documented - quarantine_reasons_in_code()
    assert not stale, f"docs/partners.md explains reason(s) the code never records: {sorted(stale)}"


def test_given_reasons_on_outcomes_that_are_not_quarantines_then_the_page_explains_them_apart():
    documented = _table_codes(_section("Outcomes that are not quarantines"))

    assert documented == other_reasons_in_code()
    every = {v for k, v in vars(Reason).items() if k.isupper()}
    assert every <= quarantine_reasons_in_code() | documented  # no Reason code is left unexplained


def test_given_each_environment_limits_then_the_page_states_them():
    envs = json.loads((ROOT / "cdk.json").read_text())["context"]["environments"]
    limits = _section("Limits")

    for name, env in envs.items():
        assert f"**{env['limits']['max_upload_mb']} MB**" in limits, name
        assert f"**{env['limits']['max_audio_seconds']} seconds**" in limits, name
    assert f"**{MAX_SIDECAR_BYTES:,} bytes**" in limits
    assert f"at least {MIN_QUERY_SECONDS:g} second " in limits


def test_given_the_sidecar_model_then_the_page_lists_every_field_and_no_other():
    fields = set(re.findall(r"^\| `([a-z_]+)` \|", _section("The sidecar"), re.M))

    assert fields == set(FIELDS)


def test_given_the_readme_then_it_links_the_partner_page_and_the_schema():
    readme = (ROOT / "README.md").read_text()

    assert "(docs/partners.md)" in readme
    assert "(docs/sidecar.schema.json)" in readme
    assert "(sidecar.schema.json)" in PAGE  # the page links the schema beside it
