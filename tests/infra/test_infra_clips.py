"""Review clips in the stack: who may read and write them, the reference-audio switch, and the
steps function sized for cutting them (bench/clips.py)."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk.assertions import Template

from takedown_infra import components as c
from takedown_infra.config import load
from takedown_infra.stack import TakedownStack


def _lid_of(synth, contains: str) -> str:
    [lid] = [k for k in synth.of_type("AWS::S3::Bucket") if contains in k]
    return lid


def _arn_texts(resources) -> list[str]:
    import json

    return [json.dumps(r, sort_keys=True) for r in resources]


def test_given_each_environment_then_clips_are_written_by_the_steps_function_and_read_by_the_api_only_under_clips(
        each_env):
    steps, _ = each_env.function_for("workflow")
    api, _ = each_env.function_for("review_api")
    evidence = _lid_of(each_env, "CasesEvidence")
    for lid in (steps, api):
        assert each_env.env_vars(lid)["EVIDENCE_BUCKET"] == {"Ref": evidence}
    [put] = [r for r in _arn_texts(each_env.allowed(steps, "s3:PutObject")) if evidence in r]
    assert '"/clips/*"' in put
    [get] = [r for r in _arn_texts(each_env.allowed(api, "s3:GetObject")) if evidence in r]
    assert '"/clips/*"' in get  # the presigned GETs act with the API's role: the clips and nothing else
    # the upload is read from its landing bucket
    reads = " ".join(_arn_texts(each_env.allowed(steps, "s3:GetObject")))
    assert all(lid in reads for lid in each_env.landing_buckets().values())


def test_given_reference_audio_on_then_the_steps_function_reads_the_reference_bucket(dev):
    steps, fn = dev.function_for("workflow")
    refs = _lid_of(dev, "IndexBuildReferences")
    assert dev.env_vars(steps)["REFERENCE_AUDIO_BUCKET"] == {"Ref": refs}
    assert any(refs in r for r in _arn_texts(dev.allowed(steps, "s3:GetObject")))
    assert fn["Properties"]["MemorySize"] == c.REVIEW_STEPS_MEMORY == 1024
    assert fn["Properties"]["Timeout"] == c.REVIEW_STEPS_TIMEOUT == 60


def test_given_reference_audio_off_then_no_grant_and_no_bucket_name_reach_the_steps_function():
    import json

    config = load("dev", overrides={"review": {"reference_audio": False}})
    app = cdk.App(context={"aws:cdk:bundling-stacks": []})
    resources = Template.from_stack(TakedownStack(app, "T", config=config)).to_json()["Resources"]
    [(steps, fn)] = [(k, r) for k, r in resources.items() if r["Type"] == "AWS::Lambda::Function"
                     and r["Properties"].get("Handler") == "takedown_handlers.workflow.handler"]
    [refs] = [k for k, r in resources.items() if r["Type"] == "AWS::S3::Bucket" and "IndexBuildReferences" in k]
    assert "REFERENCE_AUDIO_BUCKET" not in fn["Properties"]["Environment"]["Variables"]
    role = fn["Properties"]["Role"]["Fn::GetAtt"][0]
    policies = [r for r in resources.values() if r["Type"] == "AWS::IAM::Policy"
                and {"Ref": role} in r["Properties"].get("Roles", [])]
    assert policies and all(refs not in json.dumps(p) for p in policies)
    assert any("clips/*" in json.dumps(p) for p in policies)  # the same role, still cutting upload clips
