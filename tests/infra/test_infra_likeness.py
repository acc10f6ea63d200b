"""The deepfake signal's settings reach the fingerprint function; every function's environment
fits Lambda's 4 KB; config.py refuses a bad likeness block or route at synthesis."""

from __future__ import annotations

import json

import pytest

from takedown_infra.config import ConfigError, load

LAMBDA_ENV_LIMIT = 4096  # bytes: keys and values of all of a function's variables together
# What a CloudFormation token in a variable resolves to, at most: a Ref is a name (a bucket,
# table or function: at most 63 or 64 characters as CDK generates them), a GetAtt an ARN.
TOKEN_BYTES = {"Ref": 64, "Fn::GetAtt": 140}


def _bytes(value) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return len(sep.encode()) * max(len(parts) - 1, 0) + sum(_bytes(p) for p in parts)
    if isinstance(value, dict) and len(value) == 1:
        return TOKEN_BYTES.get(next(iter(value)), 256)
    return 256


def test_given_each_environment_when_synthesized_then_the_fingerprint_function_gets_its_likeness_settings(each_env):
    lid, _ = each_env.function_for("ingest")
    got = json.loads(each_env.env_text(lid, "LIKENESS"))
    assert got == each_env.config.likeness and got["artists"] and got["terms"]


def test_given_each_environment_when_synthesized_then_dispatch_gets_the_likeness_routes_in_platforms(each_env):
    # dispatch gets the registry's routes; ingest only each platform's location rules and licensed
    # uploaders, under its own name (the local runtime runs every function in one process, where a
    # variable two functions define must be the same in both: takedown_local.lambda_patch)
    ingest, _ = each_env.function_for("ingest")
    dispatch, _ = each_env.function_for("notice")
    cfg = each_env.config.platforms
    routes_only = {p: {k: v for k, v in d.items() if k not in ("location", "licensed_uploaders")} for p, d in cfg.items()}
    assert json.loads(each_env.env_text(dispatch, "PLATFORMS")) == routes_only
    assert json.loads(each_env.env_text(ingest, "PLATFORM_LOCATIONS")) == {
        p: {k: v for k, v in d.items() if k in ("location", "licensed_uploaders")} for p, d in cfg.items()}
    assert "PLATFORMS" not in each_env.env_vars(ingest)
    assert any(p.get("likeness") for p in cfg.values())


def test_given_each_environment_when_synthesized_then_every_functions_variables_fit_lambdas_4kb(each_env):
    sizes = {
        lid: sum(len(k.encode()) + _bytes(v) for k, v in each_env.env_vars(lid).items())
        for lid in each_env.project_functions()
    }
    over = {lid: n for lid, n in sizes.items() if n > LAMBDA_ENV_LIMIT}
    assert not over, f"{each_env.env}: over Lambda's 4 KB of environment variables: {over}"


def _synth_dev(overrides):
    from takedown_infra.synth import ensure_node

    ensure_node()
    import aws_cdk as cdk
    from aws_cdk.assertions import Template

    from takedown_infra.stack import TakedownStack

    cfg = load("dev", overrides=overrides)
    app = cdk.App(context={"aws:cdk:bundling-stacks": []})
    return Template.from_stack(TakedownStack(app, "Big", config=cfg)).to_json()["Resources"]


def test_given_sixty_more_artists_then_they_fit_in_parameter_store_not_the_environment():
    """The artists and terms live in an SSM parameter (/takedown/<env>/likeness), read through
    Powertools Parameters: a label with many artists no longer outgrows Lambda's 4 KB of
    variables (sixty did, when they were a variable); above 4 KB the parameter is advanced tier."""
    many = [{"id": f"artist-{n:03d}", "name": f"Artist Number {n}", "aliases": [f"AN{n}"]} for n in range(60)]
    resources = _synth_dev({"likeness": {"artists": many}})
    fingerprint = next(r for r in resources.values() if r["Type"] == "AWS::Lambda::Function"
                       and r["Properties"].get("Handler") == "takedown_handlers.ingest.handler")
    variables = fingerprint["Properties"]["Environment"]["Variables"]
    assert sum(len(k.encode()) + _bytes(v) for k, v in variables.items()) < LAMBDA_ENV_LIMIT // 2
    param = next(r["Properties"] for r in resources.values() if r["Type"] == "AWS::SSM::Parameter"
                 and r["Properties"]["Name"] == variables["LIKENESS_PARAMETER"])
    assert len(json.loads(param["Value"])["artists"]) == len(many) and param["Tier"] == "Advanced"


def test_given_more_than_parameter_store_holds_then_synthesis_says_so():
    huge = [{"id": f"artist-{n:04d}", "name": f"Artist Number {n}", "aliases": [f"Alias {n}"]} for n in range(400)]
    with pytest.raises(Exception, match="setting LIKENESS is .* bytes; SSM Parameter Store holds at most 8192"):
        _synth_dev({"likeness": {"artists": huge}})


@pytest.mark.parametrize(("overrides", "says"), [
    ({"likeness": {"artists": [{"id": "x", "name": ""}]}}, "likeness.artists[0]: name must be a non-empty string"),
    ({"likeness": {"artists": [{"id": "x", "name": "X"}, {"id": "x", "name": "Y"}]}}, "duplicate id 'x'"),
    ({"likeness": {"terms": {"en": ["ai", ""]}}}, "likeness.terms.en: must be a list of non-empty strings"),
    ({"likeness": {"term": {}}}, "environments.dev.likeness.term: unknown key"),
    ({"platforms": {"youtube": {"likeness": {"law": "UK"}}}}, "platform youtube: likeness: law must be one of"),
    ({"platforms": {"youtube": {"likeness": {"address": "nobody"}}}}, "platform youtube: likeness: address must be"),
    ({"platforms": {"youtube": {"likeness": {"basis": ""}}}}, "platform youtube: likeness: basis must be"),
    ({"platforms": {"youtube": {"likeness": {"channel": "web"}}}}, "environments.dev.platforms.youtube.likeness.channel: Input should be 'email' (got 'web')"),
    ({"platforms": {"youtube": {"likeness": {"form": "x"}}}}, "environments.dev.platforms.youtube.likeness.form: unknown key"),
    ({"platforms": {"youtube": {"likeness": "privacy@youtube.example"}}}, "environments.dev.platforms.youtube.likeness: Input should be a valid dictionary"),
])
def test_given_bad_likeness_settings_when_loaded_then_config_error_names_them(overrides, says):
    with pytest.raises(ConfigError) as err:
        load("dev", overrides=overrides)
    assert says in str(err.value)


def test_given_a_platform_without_a_likeness_route_then_the_environment_still_loads():
    # a likeness case on it fails at dispatch (notices.NoRoute), not the deployment
    cfg = load("dev", context={"environments": {"dev": {"platforms": {"tiktok": {"likeness": None}}}}})
    assert cfg.platforms["tiktok"]["likeness"] is None


def test_given_an_environment_without_likeness_settings_then_nothing_is_configured():
    cfg = load("dev", overrides={"likeness": None})
    assert cfg.likeness == {}
