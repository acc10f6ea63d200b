"""The moto tier's cases table is the synthesized template's (tests/moto/conftest.py), not a copy."""

from __future__ import annotations


def test_given_the_moto_cases_table_then_its_keys_indexes_and_ttl_are_the_templates(
        dynamodb, create_cases_table, cases_table_properties, no_network):
    create_cases_table(dynamodb, "shape")
    try:
        desc = dynamodb.describe_table(TableName="shape")["Table"]
        assert desc["KeySchema"] == cases_table_properties["KeySchema"]
        assert ({a["AttributeName"]: a["AttributeType"] for a in desc["AttributeDefinitions"]}
                == {a["AttributeName"]: a["AttributeType"] for a in cases_table_properties["AttributeDefinitions"]})
        assert ({g["IndexName"]: (g["KeySchema"], g["Projection"]) for g in desc["GlobalSecondaryIndexes"]}
                == {g["IndexName"]: (g["KeySchema"], g["Projection"])
                    for g in cases_table_properties["GlobalSecondaryIndexes"]})
        ttl = dynamodb.describe_time_to_live(TableName="shape")["TimeToLiveDescription"]
        assert (ttl["TimeToLiveStatus"], ttl["AttributeName"]) == (
            "ENABLED", cases_table_properties["TimeToLiveSpecification"]["AttributeName"])
    finally:
        dynamodb.delete_table(TableName="shape")
