"""Fixtures for the moto tier: one moto DynamoDB per module, and the cases table as synthesized.

The cases table is made from the synthesized CDK template's AWS::DynamoDB::Table properties,
with the local runtime's own `create_table` (takedown_local.resources): a test table cannot
drift from the table the stack deploys. The template is synthesized once per session (and
shared with any LocalStack("dev") of the same process: synth_template caches it).
"""

from __future__ import annotations

from typing import Any, Callable

import boto3
import pytest
from moto import mock_aws

REGION = "eu-west-1"


@pytest.fixture(scope="session")
def cases_table_properties() -> dict[str, Any]:
    """The cases table's properties in dev's synthesized template (the table LocalStack.table_name names)."""
    from takedown_infra.synth import synth_template
    from takedown_local.resources import Resolver, one_of, template_resources

    template = synth_template("dev", overrides={})  # the key LocalStack("dev") synthesizes with
    table = one_of(template_resources(template), "AWS::DynamoDB::Table", "CasesTable")
    return Resolver(REGION, {})(table.props)  # no intrinsics expected: a Ref would raise TemplateError


@pytest.fixture(scope="session")
def create_cases_table(cases_table_properties) -> Callable[[Any, str], None]:
    """create_cases_table(client, name): the template's cases table, made in moto under `name`."""
    from takedown_local.resources import create_table

    def create(client: Any, table: str) -> None:
        create_table(client, table, cases_table_properties)

    return create


@pytest.fixture(scope="module")
def dynamodb():
    """One moto DynamoDB for the module (starting moto is the slow part); a table per test."""
    with pytest.MonkeyPatch.context() as mp:
        for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                            "AWS_SESSION_TOKEN": "testing", "AWS_SECURITY_TOKEN": "testing",
                            "AWS_DEFAULT_REGION": REGION}.items():
            mp.setenv(name, value)
        mp.delenv("AWS_PROFILE", raising=False)
        with mock_aws():
            yield boto3.client("dynamodb", region_name=REGION)
