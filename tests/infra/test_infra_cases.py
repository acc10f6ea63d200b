"""Cases: the single table (cases, audit, reviews, notices, submissions) and its data safety."""

from __future__ import annotations

import pytest


def _cases_table(synth):
    """The table the handlers know as TABLE_NAME (not the idempotency table)."""
    fn_lid, _ = synth.function_for("ingest")
    ref = synth.env_vars(fn_lid)["TABLE_NAME"]
    return ref["Ref"], synth.resources[ref["Ref"]]


def test_given_the_cases_table_when_synthesized_then_pk_sk_on_demand_ttl_and_by_status_and_by_reviewer_indexes(
        each_env):
    _, table = _cases_table(each_env)
    props = table["Properties"]

    assert table["Type"] == "AWS::DynamoDB::Table"
    assert props["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert [g["IndexName"] for g in props["GlobalSecondaryIndexes"]] == ["by-status", "by-reviewer"]
    # a reviewer's queue: one partition per reviewer, oldest case first (dynamo.py writes the keys)
    by_reviewer = props["GlobalSecondaryIndexes"][1]
    assert by_reviewer["KeySchema"] == [{"AttributeName": "gsi2pk", "KeyType": "HASH"},
                                        {"AttributeName": "gsi2sk", "KeyType": "RANGE"}]
    assert by_reviewer["Projection"] == {"ProjectionType": "ALL"}


def test_given_every_function_when_synthesized_then_all_share_the_one_cases_table(each_env):
    table_lid, _ = _cases_table(each_env)
    # these read and write the index only, never a case
    index_only = {each_env.function_for(m)[0] for m in ("shard_match", "catalog_fingerprint", "catalog_reduce")}
    for lid in each_env.project_functions():
        if lid not in index_only:
            assert each_env.env_vars(lid)["TABLE_NAME"] == {"Ref": table_lid}, lid
    for lid in index_only:
        assert "TABLE_NAME" not in each_env.env_vars(lid)


def test_given_prod_when_synthesized_then_the_table_is_retained_with_point_in_time_recovery(prod):
    lid, table = _cases_table(prod)

    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_given_prod_when_synthesized_then_every_bucket_is_retained(prod):
    buckets = prod.of_type("AWS::S3::Bucket")
    assert len(buckets) >= 2 + len(prod.config.partners)  # catalogue, quarantine, landing
    for lid, b in buckets.items():
        assert (b.get("DeletionPolicy"), b.get("UpdateReplacePolicy")) == ("Retain", "Retain"), lid


@pytest.mark.parametrize("env", ["dev", "staging"])
def test_given_a_destroy_environment_when_synthesized_then_table_and_buckets_are_deleted(synths, env):
    synth = synths[env]
    _, table = _cases_table(synth)

    assert table["DeletionPolicy"] == "Delete"
    for lid, b in synth.of_type("AWS::S3::Bucket").items():
        assert b["DeletionPolicy"] == "Delete", lid
    assert table["Properties"]["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": False}


def test_given_the_idempotency_table_when_synthesized_then_it_matches_powertools_defaults(each_env):
    fn_lid, _ = each_env.function_for("ingest")
    lid = each_env.env_vars(fn_lid)["IDEMPOTENCY_TABLE"]["Ref"]
    props = each_env.resources[lid]["Properties"]

    assert props["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert props["BillingMode"] == "PAY_PER_REQUEST"
