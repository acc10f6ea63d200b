"""Evidence fits a DynamoDB item by design (issue 13): proven on moto, which enforces the 400 KB limit."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from takedown_adapters.dynamo import DynamoCaseRepository
from takedown_core.cases import AuditEvent, Case, Source
from takedown_core.evidence import MAX_EVIDENCE_BYTES, bound_evidence

LANDMARKS = [[round(i * 4.5, 3), round(i * 4.5 + 12.0, 3)] for i in range(200)]
BEST = {"track_id": "trk-1", "score": 40.0, "false_match_rate": 1e-40, "offset_s": 0.0, "landmarks": LANDMARKS,
        "metadata": {"title": "Midnight Harbour", "artist": "The Lanterns", "owner": "Example Records Ltd"}}


def compilation_evidence(others: int = 239) -> dict:
    """What a 15-minute compilation against a catalogue of many versions produced: ~1 MB."""
    return {**BEST, "others": [{**BEST, "track_id": f"trk-v{i}", "score": 39.0 - i / 10} for i in range(others)],
            "query": {"query_duration_s": 900.0, "declined": [{"track_id": f"p{i}"} for i in range(40)]}}


def open_case(evidence: dict) -> tuple[Case, AuditEvent]:
    case = Case.open(track_id="trk-1", work=BEST["metadata"], evidence=evidence, policy={}, submission="ab" * 32,
                     source=Source(partner="p", platform="youtube", url="https://youtu.be/x", bucket="b", key="k"))
    return case, AuditEvent(case.case_id, "2026-11-30T00:00:00.000Z", "system:test", "opened", None, "DETECTED")


@pytest.fixture
def repo(dynamodb, create_cases_table, no_network):
    create_cases_table(dynamodb, "evidence-cases")
    yield DynamoCaseRepository("evidence-cases", dynamodb)
    dynamodb.delete_table(TableName="evidence-cases")


def test_given_a_compilations_raw_evidence_then_dynamodb_refuses_the_item(repo):
    """The failure the trial found: the raw evidence does not fit an item."""
    raw = compilation_evidence()
    assert len(json.dumps(raw)) > 400 * 1024
    with pytest.raises(ClientError, match="size"):
        repo.create_case(*open_case(raw))


def test_given_a_compilations_evidence_bounded_then_the_case_is_written_and_reads_back(repo):
    bounded = bound_evidence(compilation_evidence(), ref="s3://evidence/cases/c/ab.json")
    case, opened = open_case(bounded)
    repo.create_case(case, opened)
    back = repo.get_case(case.case_id)
    assert back.evidence["others_total"] == 239 and back.evidence["full_evidence"].startswith("s3://")
    assert len(back.evidence["landmarks"]) == 200 and len(back.evidence["query"]["declined"]) == 5


@pytest.mark.parametrize("n_meta", [1, 50, 5000])
def test_given_any_catalogue_metadata_then_bounded_evidence_stays_under_its_budget(n_meta):
    huge_meta = {f"k{i}": "x" * 10_000 for i in range(n_meta)}
    raw = compilation_evidence(2000)
    raw["metadata"] = huge_meta
    for o in raw["others"]:
        o["metadata"] = huge_meta
    out = bound_evidence(raw)
    assert len(json.dumps(out)) <= MAX_EVIDENCE_BYTES
    assert out["score"] == 40.0 and out["others_total"] == 2000
