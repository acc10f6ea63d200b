"""An operator's AWS set-up mistakes are one plain line and exit status 2, never a traceback."""

from __future__ import annotations

import pytest
from moto import mock_aws

from takedown_local import cli


@pytest.fixture
def no_aws(monkeypatch, tmp_path):
    for k in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION",
              "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(k, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # nothing leaves the machine


def _one_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    return err[0]


def test_no_region(no_aws, capsys):
    assert cli.main(["cases", "list", "--stack", "Takedown-prod"]) == 2
    assert _one_line(capsys).startswith("error: no AWS region")


def test_no_credentials(no_aws, capsys):
    assert cli.main(["cases", "list", "--stack", "Takedown-prod", "--region", "eu-west-1"]) == 2
    assert _one_line(capsys).startswith("error: no AWS credentials found")


def test_stack_not_found(no_aws, monkeypatch, capsys):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        assert cli.main(["cases", "list", "--stack", "Takedown-qa", "--region", "eu-west-1"]) == 2
    line = _one_line(capsys)
    assert "stack Takedown-qa not found in this account and region" in line


def test_other_errors_still_raise():
    assert cli.aws_problem(ValueError("a bug")) is None
