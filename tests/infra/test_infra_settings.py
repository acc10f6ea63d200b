"""cdk.json's environments against the typed settings model (takedown_infra/settings.py):
a missing or malformed key fails synthesis with the key's path and what is expected."""

from __future__ import annotations

import json

import pytest

from takedown_infra.config import CDK_JSON, ENVIRONMENTS, ConfigError, load
from takedown_infra.settings import check


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_environment_in_cdk_json_has_the_right_shape(env):
    assert check(env, json.loads(CDK_JSON.read_text())["context"]["environments"][env]) == []


@pytest.mark.parametrize(("overrides", "says"), [
    ({"review": {"link_ttl_seconds": "a day"}},
     "environments.prod.review.link_ttl_seconds: Input should be a valid integer (got 'a day')"),
    ({"platforms": {"youtube": {"licenced_uploaders": ["x"]}}},
     "environments.prod.platforms.youtube.licenced_uploaders: unknown key: remove it or check its spelling"),
    ({"match": {"max_false_match_rate": 2}}, "environments.prod.match.max_false_match_rate: Input should be less than 1"),
    ({"removal": "keep"}, "environments.prod.removal: Input should be 'retain' or 'destroy' (got 'keep')"),
    ({"limits": {"max_upload_mb": 20000}}, "environments.prod.limits.max_upload_mb: Input should be less than or equal to 10240"),
    ({"match": {"stay_down_auto_approve": "yes"}}, "environments.prod.match.stay_down_auto_approve: Input should be a valid boolean"),
    ({"reviewers": {"assignment": "round_robin"}}, "environments.prod.reviewers.assignment: Input should be 'by_owner'"),
    ({"logs": {"retention_days": 10}}, "logs.retention_days: one of CloudWatch Logs' periods"),
])
def test_given_a_malformed_key_then_the_error_names_its_path_and_what_is_expected(overrides, says):
    with pytest.raises(ConfigError) as err:
        load("prod", overrides=overrides)
    assert says in str(err.value)


def test_given_a_missing_section_then_it_is_named(monkeypatch):
    raw = json.loads(CDK_JSON.read_text())["context"]["environments"]["staging"]
    del raw["complainant"]
    del raw["partners"][0]["id"]
    problems = check("staging", raw)
    assert "environments.staging.complainant: Field required" in problems
    assert "environments.staging.partners[0].id: Field required" in problems


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as err:
        load("dev", overrides={"review": {"wait_seconds": -1}, "notice": {"retry_attempts": "4"}})
    text = str(err.value)
    assert "review.wait_seconds" in text and "notice.retry_attempts" in text


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_json_settings_live_in_parameter_store_each_readable_by_its_function_alone(env):
    """Partners, platforms, reviewers, likeness terms outgrow Lambda's 4 KB of variables: each is
    an SSM parameter /takedown/<env>/<key>; its function gets <KEY>_PARAMETER and GetParameter
    on that parameter only."""
    from takedown_infra.synth import synth_template

    t = synth_template(env)
    params = {lid: r["Properties"] for lid, r in t["Resources"].items() if r["Type"] == "AWS::SSM::Parameter"}
    by_name = {p["Name"]: lid for lid, p in params.items()}
    assert set(by_name) >= {f"/takedown/{env}/{k}" for k in ("partners", "platform-locations", "likeness",
                                                             "platforms", "complainant", "reviewers", "gone-markers")}
    policies = [r["Properties"] for r in t["Resources"].values() if r["Type"] == "AWS::IAM::Policy"]
    readers: dict[str, set[str]] = {}
    for pol in policies:
        for st in pol["PolicyDocument"]["Statement"]:
            if st["Action"] == "ssm:GetParameter":
                res = json.dumps(st["Resource"])
                for name, lid in by_name.items():
                    if lid in res:
                        readers.setdefault(name, set()).update(r["Ref"] for r in pol["Roles"])
    for lid, fn in t["Resources"].items():
        if fn["Type"] != "AWS::Lambda::Function":
            continue
        variables = fn["Properties"].get("Environment", {}).get("Variables", {})
        for key, name in variables.items():
            if key.endswith("_PARAMETER"):
                role = fn["Properties"]["Role"]["Fn::GetAtt"][0]
                assert readers.get(name) == {role}, (lid, key, readers.get(name))
        assert len(json.dumps(variables)) < 4096 - 512, lid  # room under Lambda's 4 KB
