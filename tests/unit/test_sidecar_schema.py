"""The sidecar's JSON Schema (docs/sidecar.schema.json): generated from the pydantic model, kept
in step with it, and agreeing with parse_sidecar on real sidecars (the demo's, the examples in
the docs, the bad-input corpus) as validated by the `jsonschema` package."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest

from takedown_core.sidecar import MAX_SIDECAR_BYTES, SidecarError, json_schema, parse_sidecar
from takedown_local.corpus import DEMO_BAD_SIDECAR, demo_sidecars
from takedown_local.partners_cli import schema_text

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "docs" / "sidecar.schema.json"
PARTNERS_PAGE = ROOT / "docs" / "partners.md"
VALIDATOR = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))


def schema_accepts(raw: bytes) -> bool:
    """What a partner's own validator says: UTF-8 JSON that the schema accepts."""
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False
    return VALIDATOR.is_valid(doc)


def parser_accepts(raw: bytes) -> bool:
    try:
        parse_sidecar(raw)
    except SidecarError:
        return False
    return True


def _examples_in_page() -> list[bytes]:
    """Every ```json block of the partner page."""
    return [m.encode() for m in re.findall(r"```json\n(.*?)```", PARTNERS_PAGE.read_text(), re.S)]


GOOD = [
    *(json.dumps(s, ensure_ascii=False).encode() for artist in ("Warzone 2100 Project", "Demo Artist")
      for s in demo_sidecars(artist).values()),
    b"{}",
    b'{"source_url": null, "platform": null, "tags": null}',
    b'{"title": "", "uploader": "   ", "source_url": ""}',               # blank is absent
    b'{"source_url": "HTTPS://WWW.YOUTUBE.COM/watch?v=abc"}',
    b'{"description": "two\\nlines\\tand a tab"}',
    b'{"tags": ["", "x", "x"]}',
    json.dumps({"tags": ["t" * 100] * 50, "title": "x" * 2048, "description": "d" * 5000}).encode(),
    json.dumps({"title": "sped up 🔥 – Лантернс"}, ensure_ascii=False).encode(),
]
BAD = [
    DEMO_BAD_SIDECAR.encode(),                                         # cut short: not JSON
    b"{not json",
    b"[" * 20000 + b"]" * 20000,                                       # nested 20,000 deep
    b"[]",
    b'"a string"',
    b"null",
    json.dumps({"title": "x" * 70_000}).encode(),                      # also over the byte limit
    json.dumps({"title": "x" * 2049}).encode(),
    b'{"uploader": 7}',
    b'{"platform": true}',
    b'{"tags": 5}',
    b'{"tags": ["ok", 5]}',
    b'{"tags": "one string"}',
    json.dumps({"tags": ["t"] * 51}).encode(),
    json.dumps({"tags": ["t" * 101]}).encode(),
    b'{"tags": ["two\\nlines"]}',
    b'{"description": "nul \\u0000 inside"}',
    json.dumps({"description": "d" * 5001}).encode(),
    b'{"source_url": "not a url"}',
    b'{"source_url": "ftp://example.com/x"}',
    b'{"source_url": "https://example.com/a b"}',
    b'{"source_url": "javascript:alert(1)"}',
    b'{"url": "https://www.youtube.com/watch?v=abc"}',                 # unknown field
    b'{"title": "x", "Title": "y"}',
    b"\xff\xfe{}",                                                     # not UTF-8
]
# What a JSON Schema cannot say, so only the ingest catches it (the schema's description and
# the partner page say so): a host or port that does not parse, the size in bytes.
PARSER_ONLY = [
    b'{"source_url": "http://[oops/x"}',
    b'{"source_url": "https://example.com:99999/x"}',
    json.dumps({f: "𝄞" * 2048 for f in ("title", "uploader", "partner_ref", "territory", "platform")}
               | {"tags": ["𝄞" * 100] * 50, "description": "𝄞" * 5000}, ensure_ascii=False).encode(),  # 81 KB
]


def test_given_the_model_when_the_schema_is_generated_then_the_committed_file_is_the_same():
    assert SCHEMA_FILE.read_text() == schema_text(), (
        "docs/sidecar.schema.json is out of date with takedown_core.sidecar.Sidecar: regenerate it with "
        "`.venv/bin/takedown partners schema --out docs/sidecar.schema.json` and read the diff")


def test_given_the_schema_file_when_checked_then_it_is_a_valid_draft_2020_12_schema():
    doc = json.loads(SCHEMA_FILE.read_text())
    jsonschema.Draft202012Validator.check_schema(doc)
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert doc["additionalProperties"] is False
    assert f"{MAX_SIDECAR_BYTES:,} bytes" in doc["description"]


def test_given_a_field_added_to_the_model_then_the_schema_drifts_and_is_caught(monkeypatch):
    from pydantic import create_model

    from takedown_core import sidecar

    wider = create_model("Wider", __base__=sidecar.Sidecar, genre=(str | None, None))
    monkeypatch.setattr(sidecar, "Sidecar", wider)
    assert "genre" in json_schema()["properties"]
    assert schema_text() != SCHEMA_FILE.read_text()


@pytest.mark.parametrize("raw", GOOD, ids=range(len(GOOD)))
def test_given_a_good_sidecar_then_the_schema_and_the_parser_both_accept_it(raw):
    assert schema_accepts(raw)
    assert parser_accepts(raw)


@pytest.mark.parametrize("raw", BAD, ids=range(len(BAD)))
def test_given_a_bad_sidecar_then_the_schema_and_the_parser_both_refuse_it(raw):
    assert not schema_accepts(raw)
    assert not parser_accepts(raw)


@pytest.mark.parametrize("raw", PARSER_ONLY, ids=range(len(PARSER_ONLY)))
def test_given_what_a_schema_cannot_express_then_only_the_parser_refuses_it(raw):
    assert schema_accepts(raw)
    assert not parser_accepts(raw)


def test_given_the_partner_page_examples_then_each_is_a_sidecar_both_accept():
    examples = _examples_in_page()
    assert examples, "docs/partners.md shows no ```json sidecar example"
    for raw in examples:
        assert schema_accepts(raw) and parser_accepts(raw), raw


def test_given_the_schema_then_it_names_every_field_the_parser_knows():
    from takedown_core.sidecar import FIELDS

    props = json.loads(SCHEMA_FILE.read_text())["properties"]
    assert set(props) == set(FIELDS)
    for name, doc in props.items():
        assert doc["description"] == FIELDS[name]
