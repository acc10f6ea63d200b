"""Partners' write access: each landing bucket's policy lets its own partner's principal write
objects into that bucket, and nobody else anything (takedown_infra.partner_access)."""

from __future__ import annotations

import json

import pytest

from takedown_infra.config import ConfigError, load
from takedown_infra.partner_access import PARTNER_ACTIONS, principal_problem


def _partner_statements(synth, bucket_lid: str) -> list[dict]:
    """Allow statements in the policy of bucket ``bucket_lid`` for an AWS principal outside this
    stack (a role of the stack, e.g. CDK's auto-delete provider in dev, is not a partner)."""
    return [
        st
        for pol in synth.of_type("AWS::S3::BucketPolicy").values()
        if pol["Properties"]["Bucket"] == {"Ref": bucket_lid}
        for st in pol["Properties"]["PolicyDocument"]["Statement"]
        if st["Effect"] == "Allow" and "AWS" in (st.get("Principal") or {})
        and not (isinstance(st["Principal"]["AWS"], dict) and "Fn::GetAtt" in st["Principal"]["AWS"]
                 and st["Principal"]["AWS"]["Fn::GetAtt"][0] in synth.resources)
    ]


def _principal_text(st: dict) -> str:
    """The statement's AWS principal as text (an account principal is an Fn::Join with the partition)."""
    aws = st["Principal"]["AWS"]
    if isinstance(aws, dict) and "Fn::Join" in aws:
        sep, parts = aws["Fn::Join"]
        return sep.join(p if isinstance(p, str) else "aws" for p in parts)
    return aws


def _expected_arn(principal: str) -> str:
    return f"arn:aws:iam::{principal}:root" if principal.isdigit() else principal


def test_given_partners_with_a_principal_when_synthesized_then_each_bucket_grants_only_its_own_principal_write(
        each_env, cdk_environments):
    partners = {p["id"]: p for p in cdk_environments[each_env.env]["partners"]}
    buckets = each_env.landing_buckets()

    for pid, lid in buckets.items():
        statements = _partner_statements(each_env, lid)
        principal = partners[pid].get("principal")
        if principal is None:
            assert statements == [], f"{pid} has no principal, yet its bucket grants {statements}"
            continue
        assert len(statements) == 1, f"{pid}: {statements}"
        st = statements[0]
        assert _principal_text(st) == _expected_arn(principal), pid
        assert sorted(st["Action"]) == sorted(PARTNER_ACTIONS), pid  # no read, list, delete or ACL
        resources = st["Resource"] if isinstance(st["Resource"], list) else [st["Resource"]]
        assert resources == [{"Fn::Join": ["", [{"Fn::GetAtt": [lid, "Arn"]}, "/*"]]}], pid
        assert "Condition" not in st and "NotAction" not in st and "NotResource" not in st


def test_given_a_partner_principal_when_synthesized_then_no_other_bucket_names_it(each_env, cdk_environments):
    principals = {_expected_arn(p["principal"]): p["id"] for p in cdk_environments[each_env.env]["partners"]
                  if p.get("principal")}
    buckets = each_env.landing_buckets()
    own = {lid: pid for pid, lid in buckets.items()}

    for lid in each_env.of_type("AWS::S3::Bucket"):
        for st in _partner_statements(each_env, lid):
            who = _principal_text(st)
            assert who in principals, f"{lid} grants an unknown principal {who}"
            assert own.get(lid) == principals[who], f"{who} ({principals[who]}) is granted on {lid}"
    # and no identity policy or queue names a partner's account
    text = json.dumps({k: r for k, r in each_env.resources.items() if r["Type"] != "AWS::S3::BucketPolicy"})
    for who in principals:
        account = who.split(":")[4]
        assert account not in text, f"{account} appears outside the landing buckets' policies"


def test_given_staging_without_principals_when_synthesized_then_no_bucket_grants_any_partner(staging, cdk_environments):
    assert not any(p.get("principal") for p in cdk_environments["staging"]["partners"])  # what this test relies on

    for lid in staging.landing_buckets().values():
        assert _partner_statements(staging, lid) == []


def test_given_landing_buckets_when_synthesized_then_the_bucket_owner_owns_every_object(each_env):
    for pid, lid in each_env.landing_buckets().items():
        rules = each_env.resources[lid]["Properties"]["OwnershipControls"]["Rules"]
        assert rules == [{"ObjectOwnership": "BucketOwnerEnforced"}], pid


@pytest.mark.parametrize("value", [
    "111122223333",
    "arn:aws:iam::111122223333:role/takedown-uploader",
    "arn:aws:iam::111122223333:role/service/partner-a/uploader",
    "arn:aws:iam::111122223333:user/feed-bot",
    "arn:aws-us-gov:iam::111122223333:role/x",
])
def test_given_a_well_formed_principal_when_checked_then_it_passes(value):
    assert principal_problem(value) is None
    assert load("dev", overrides={"partners": [{"id": "p", "name": "P", "default_platform": "youtube", "principal": value}]})


@pytest.mark.parametrize("value", [
    "11112222333",                                  # 11 digits
    "1111-2222-3333",
    "*",
    "arn:aws:iam::111122223333:root",               # the account: give the 12 digits
    "arn:aws:iam::*:role/x",
    "arn:aws:iam::111122223333:role/*",
    "arn:aws:iam::111122223333:group/uploaders",    # a group is no principal
    "arn:aws:sts::111122223333:assumed-role/x/s",
    "arn:aws:s3:::some-bucket",
    "",
])
def test_given_a_malformed_principal_when_loaded_then_synthesis_fails_naming_the_key(value):
    partners = [{"id": "a", "name": "A", "default_platform": "youtube"},
                {"id": "b", "name": "B", "default_platform": "youtube", "principal": value}]

    with pytest.raises(ConfigError) as e:
        load("dev", overrides={"partners": partners})

    assert "partners[1].principal: must be a 12-digit AWS account id" in str(e.value)
    assert "partners[0]" not in str(e.value)


def test_given_a_principal_that_is_not_a_string_when_loaded_then_the_shape_check_names_the_key():
    partners = [{"id": "a", "name": "A", "default_platform": "youtube", "principal": 111122223333}]

    with pytest.raises(ConfigError) as e:
        load("dev", overrides={"partners": partners})

    assert "partners[0].principal: Input should be a valid string" in str(e.value)
