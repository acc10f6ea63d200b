"""cdk-nag's AwsSolutions pack and cfn-lint on every environment's template.

Every finding is either fixed in components.py or acknowledged in takedown_infra/nag.py with
its reason; a new finding fails here (and fails `./go cdk synth|deploy`, which registers the
same pack in infra/app.py).
"""

from __future__ import annotations

import json
import tempfile

import aws_cdk as cdk
import pytest
from aws_cdk import aws_s3 as s3

from takedown_infra import nag
from takedown_infra.config import ENVIRONMENTS, load
from takedown_infra.stack import TakedownStack
from takedown_infra.synth import ensure_node, synth_template

# cfn-lint rules left out, each with its reason
CFN_LINT_IGNORED = {
    "W3005": "CDK writes an explicit DependsOn beside a GetAtt of the same resource (a function on its role); "
             "redundant, not wrong, and not ours to change.",
}


def _synth_with_nag(env: str, extra=None) -> None:
    ensure_node()
    with tempfile.TemporaryDirectory() as out:
        app = cdk.App(context={"env": env, "aws:cdk:bundling-stacks": []}, outdir=out)
        stack = TakedownStack(app, f"Takedown-{env}", config=load(env))
        if extra:
            extra(stack)
        nag.add_checks(app)
        app.synth()


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_given_each_environment_then_cdk_nag_aws_solutions_finds_nothing_unacknowledged(env):
    _synth_with_nag(env)  # raises ValidationFailed with the report on any finding


def test_given_a_new_finding_then_synthesis_fails():
    def open_bucket(stack):  # no TLS-only policy, no access logs: AwsSolutions-S1 and -S10
        s3.Bucket(stack, "Careless")

    with pytest.raises(Exception, match=r"(?s)AwsSolutions-S1\b.*AwsSolutions-S10"):
        _synth_with_nag("dev", open_bucket)


def test_every_acknowledgment_says_why():
    reasons = [*nag.STACK_ACKNOWLEDGMENTS.values(), nag.IAM5_REASON,
               *(r for rules in nag.CONSTRUCT_ACKNOWLEDGMENTS.values() for r in rules.values())]
    assert all(len(r) > 60 for r in reasons)
    assert "AwsSolutions-IAM5" not in nag.STACK_ACKNOWLEDGMENTS  # wildcards: one by one, each checked by test_iam_policies


def test_iam5_findings_are_named_as_cdk_nag_names_them():
    doc = {"Statement": [
        {"Effect": "Allow", "Action": "s3:GetObject",
         "Resource": {"Fn::Join": ["", [{"Fn::GetAtt": ["Bucket1", "Arn"]}, "/*"]]}},
        {"Effect": "Allow", "Action": ["xray:Put*"], "Resource": "*"},
        {"Effect": "Deny", "Action": "*", "Resource": "*"},
    ]}
    assert nag.wildcard_findings(doc) == ["AwsSolutions-IAM5[Resource::<Bucket1.Arn>/*]",
                                          "AwsSolutions-IAM5[Action::xray:Put*]", "AwsSolutions-IAM5[Resource::*]"]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_given_each_environment_then_cfn_lint_is_clean(env):
    from cfnlint.api import ManualArgs, lint

    template = synth_template(env)
    matches = lint(json.dumps(template), config=ManualArgs(regions=[load(env).region]))
    found = [f"{m.rule.id} {m.message} at {'/'.join(map(str, m.path))}" for m in matches
             if m.rule.id not in CFN_LINT_IGNORED]
    assert not found, "\n".join(found)


def test_prod_differs_from_dev_where_data_must_survive():
    dev, prod = synth_template("dev"), synth_template("prod")

    def table(t):
        return next(r for r in t["Resources"].values() if r["Type"] == "AWS::DynamoDB::Table"
                    and any(k["AttributeName"] == "pk" for k in r["Properties"]["KeySchema"]))

    assert table(prod)["Properties"]["DeletionProtectionEnabled"] is True
    assert table(prod)["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table(prod)["DeletionPolicy"] == "Retain" and table(dev)["DeletionPolicy"] == "Delete"
    assert not table(dev)["Properties"].get("DeletionProtectionEnabled")

    def retention(t):
        return {r["Properties"].get("RetentionInDays") for r in t["Resources"].values() if r["Type"] == "AWS::Logs::LogGroup"}

    assert retention(dev) == {14} and retention(prod) == {365}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_bucket_but_the_log_bucket_sends_access_logs_to_it(env):
    t = synth_template(env)
    buckets = {lid: r for lid, r in t["Resources"].items() if r["Type"] == "AWS::S3::Bucket"}
    logs = [lid for lid in buckets if lid.startswith("AccessLogs")]
    assert len(logs) == 1
    for lid, r in buckets.items():
        if lid != logs[0]:
            assert r["Properties"]["LoggingConfiguration"]["DestinationBucketName"] == {"Ref": logs[0]}, lid


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_state_machines_and_the_api_log_without_payloads(env):
    t = synth_template(env)
    for r in t["Resources"].values():
        if r["Type"] == "AWS::StepFunctions::StateMachine":
            cfg = r["Properties"]["LoggingConfiguration"]
            assert cfg["Level"] == "ALL" and cfg["IncludeExecutionData"] is False
    stage = next(r for r in t["Resources"].values() if r["Type"] == "AWS::ApiGateway::Stage")
    assert "AccessLogSetting" in stage["Properties"]
    fmt = stage["Properties"]["AccessLogSetting"]["Format"]
    assert "$context.resourcePath" in fmt and "querystring" not in fmt.lower()
    method = stage["Properties"]["MethodSettings"][0]
    assert method["LoggingLevel"] == "ERROR" and method["DataTraceEnabled"] is False
