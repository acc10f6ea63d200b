"""Environments: each one synthesizes, config.py rejects bad settings, functions are uniform."""

from __future__ import annotations

import json

import pytest

from takedown_infra.config import ENVIRONMENTS, ConfigError, load

CDK_NOTIFICATIONS_HANDLER = 'AWS CloudFormation handler for "Custom::S3BucketNotifications" resources (@aws-cdk/aws-s3)'


def test_given_cdk_json_when_each_environment_is_synthesized_then_it_has_a_stack(each_env, cdk_environments):
    assert set(ENVIRONMENTS) == set(cdk_environments)
    assert each_env.resources
    assert each_env.config.name == each_env.env


def test_given_an_unknown_environment_when_loaded_then_config_error():
    with pytest.raises(ConfigError, match="unknown environment 'qa'"):
        load("qa")


def test_given_links_outliving_the_review_when_loaded_then_config_error():
    wait = load("dev").review["wait_seconds"]
    with pytest.raises(ConfigError, match="link_ttl_seconds"):
        load("dev", overrides={"review": {"link_ttl_seconds": wait + 1}})


def test_given_links_lasting_exactly_the_review_when_loaded_then_accepted():
    wait = load("dev").review["wait_seconds"]
    assert load("dev", overrides={"review": {"link_ttl_seconds": wait}}).review["link_ttl_seconds"] == wait


@pytest.mark.parametrize(
    "overrides",
    [
        {"partners": [{"id": "a", "default_platform": "youtube"}, {"id": "a", "default_platform": "youtube"}]},
        {"partners": [{"id": "x", "default_platform": "myspace"}]},
        {"match": {"max_false_match_rate": 0}},
        {"partners": [{"id": "x", "default_platform": "youtube", "location_template": "https://f.example/{path}"}]},
        {"partners": [{"id": "x", "default_platform": "youtube", "location_template": "ftp://f.example/{key}"}]},
        {"platforms": {"tiktok": {"location": {"hosts": ["youtu.be"]}}}},
        {"platforms": {"youtube": {"location": {"hosts": ["www.youtube.com"], "ids": [{"path": "/watch"}]}}}},
        {"platforms": {"youtube": {"licensed_uploaders": ["ok", ""]}}},
    ],
    ids=["duplicate-partner", "unknown-platform", "zero-false-match-rate", "template-field", "template-scheme",
         "host-on-two-platforms", "id-rule-without-id", "blank-licensed-uploader"],
)
def test_given_other_bad_settings_when_loaded_then_config_error(overrides):
    with pytest.raises(ConfigError):
        load("dev", overrides=overrides)


def test_given_every_project_function_when_synthesized_then_python314_x86_64_with_the_dependencies_layer(each_env):
    layer_lid, layer = each_env.one_of_type("AWS::Lambda::LayerVersion")
    functions = each_env.project_functions()
    assert functions

    for lid, fn in functions.items():
        props = fn["Properties"]
        assert props["Runtime"] == "python3.14", lid
        assert props.get("Architectures", ["x86_64"]) == ["x86_64"], lid
        assert {"Ref": layer_lid} in props.get("Layers", []), lid
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.14"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["x86_64"]


CDK_AUTO_DELETE_HANDLER = "Lambda function for auto-deleting objects in {} S3 bucket."


def test_given_every_lambda_when_synthesized_then_the_only_other_one_is_cdks_notification_handler(each_env):
    others = {
        lid: fn for lid, fn in each_env.of_type("AWS::Lambda::Function").items()
        if lid not in each_env.project_functions()
    }
    descriptions = sorted(json.dumps(fn["Properties"].get("Description")) for fn in others.values())
    notifications = [d for d in descriptions if "S3BucketNotifications" in d]
    auto_delete = [d for d in descriptions if "auto-deleting objects" in d]
    assert notifications == [json.dumps(CDK_NOTIFICATIONS_HANDLER)]
    # dev/staging empty their buckets on teardown (CDK's own handler); prod keeps everything
    assert len(auto_delete) == (0 if each_env.config.retain_data else 1)
    assert len(descriptions) == len(notifications) + len(auto_delete)
