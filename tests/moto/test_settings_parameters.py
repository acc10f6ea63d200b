"""JSON settings read from SSM Parameter Store through Powertools Parameters (moto)."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from takedown_handlers import _env


@pytest.fixture
def ssm(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        _env.reset()
        yield boto3.client("ssm")
        _env.reset()


def test_a_setting_named_by_its_parameter_is_read_from_parameter_store(ssm, monkeypatch):
    ssm.put_parameter(Name="/takedown/dev/platforms", Value='{"youtube": {"law": "DMCA"}}', Type="String")
    monkeypatch.setenv("PLATFORMS_PARAMETER", "/takedown/dev/platforms")
    monkeypatch.setenv("PLATFORMS", '{"stale": true}')  # the parameter wins
    assert _env.env_json("PLATFORMS") == {"youtube": {"law": "DMCA"}}


def test_it_is_cached_for_its_max_age(ssm, monkeypatch):
    ssm.put_parameter(Name="/takedown/dev/reviewers", Value='{"allow": ["a@x"]}', Type="String")
    monkeypatch.setenv("REVIEWERS_PARAMETER", "/takedown/dev/reviewers")
    assert _env.env_json("REVIEWERS") == {"allow": ["a@x"]}
    ssm.put_parameter(Name="/takedown/dev/reviewers", Value='{"allow": ["b@x"]}', Type="String", Overwrite=True)
    assert _env.env_json("REVIEWERS") == {"allow": ["a@x"]}  # within SETTINGS_MAX_AGE: no second read
    _env.reset()
    assert _env.env_json("REVIEWERS") == {"allow": ["b@x"]}


def test_a_missing_or_malformed_parameter_is_a_settings_error(ssm, monkeypatch):
    monkeypatch.setenv("PARTNERS_PARAMETER", "/takedown/dev/partners")
    with pytest.raises(_env.SettingsError, match="/takedown/dev/partners .* could not be read"):
        _env.env_json("PARTNERS")
    ssm.put_parameter(Name="/takedown/dev/partners", Value="[not json", Type="String")
    _env.reset()
    with pytest.raises(_env.SettingsError, match="not valid JSON"):
        _env.env_json("PARTNERS")


def test_without_a_parameter_the_variable_is_read(monkeypatch):
    monkeypatch.delenv("COMPLIANCE_PARAMETER", raising=False)
    monkeypatch.setenv("COMPLIANCE", '{"checker": "none"}')
    assert _env.env_json("COMPLIANCE") == {"checker": "none"}
