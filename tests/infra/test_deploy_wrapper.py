"""`./go cdk ACTION ENV`: the documented deploy path, tried as a new ops engineer would.

The real CLI runs here (pinned aws-cdk from infra/cdk-cli, installed from the npm registry on
first use, with the Node.js of .venv): it synthesizes an environment's stack by name, and a
deploy without credentials stops at one plain line before anything talks to AWS.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from takedown_infra import deploy

ROOT = Path(__file__).resolve().parents[2]


def _no_aws_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["HOME"] = str(tmp_path)  # no ~/.aws
    env["AWS_CONFIG_FILE"] = str(tmp_path / "none-config")
    env["AWS_SHARED_CREDENTIALS_FILE"] = str(tmp_path / "none-credentials")
    return env


def test_the_command_names_the_environments_stack_and_passes_the_rest_through():
    cli = Path("/x/cdk")
    assert deploy.command("deploy", "staging", ["--require-approval", "never"], cli) == [
        "/x/cdk", "deploy", "-c", "env=staging", "Takedown-staging/Takedown", "--require-approval", "never"]
    # bootstrap is per account and region, not per stack
    assert deploy.command("bootstrap", "prod", [], cli) == ["/x/cdk", "bootstrap", "-c", "env=prod"]


def test_an_unknown_environment_is_one_line_and_status_2(capsys):
    assert deploy.main(["deploy", "qa"]) == 2
    err = capsys.readouterr().err
    assert "unknown environment 'qa'" in err and "dev, staging, prod" in err and "Traceback" not in err


def test_no_arguments_print_the_usage_with_status_2(capsys):
    assert deploy.main([]) == 2
    assert "usage: ./go cdk ACTION ENV" in capsys.readouterr().err


def test_deploy_without_credentials_stops_before_the_cli(monkeypatch, tmp_path, capsys):
    for k, v in _no_aws_env(tmp_path).items():
        monkeypatch.setenv(k, v)
    for k in [k for k in os.environ if k.startswith("AWS_") and k not in ("AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")]:
        monkeypatch.delenv(k)
    monkeypatch.setattr(deploy, "ensure_cli", lambda *a: pytest.fail("the CLI must not run without credentials"))
    assert deploy.main(["deploy", "staging"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [err[0]] and err[0].startswith("error: no AWS credentials found")


def test_a_missing_profile_is_named(monkeypatch, tmp_path, capsys):
    for k, v in _no_aws_env(tmp_path).items():
        monkeypatch.setenv(k, v)
    monkeypatch.setattr(deploy, "ensure_cli", lambda *a: pytest.fail("the CLI must not run"))
    assert deploy.main(["diff", "prod", "--profile", "label-prod"]) == 2
    assert "AWS profile not found" in capsys.readouterr().err


def test_the_pinned_cli_is_locked():
    lock = json.loads((ROOT / "infra" / "cdk-cli" / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/aws-cdk"]["version"] == deploy.pinned_version()
    assert lock["packages"]["node_modules/aws-cdk"]["integrity"].startswith("sha512-")


@pytest.mark.timeout(900)
def test_go_cdk_synthesizes_every_environment_by_name_and_deploy_needs_credentials(tmp_path):
    """From the repository root, as the README says; the layer is built by pip (PyPI) once
    and reused from the shared output directory for the other environments."""
    env = _no_aws_env(tmp_path)
    out = tmp_path / "cdk.out"
    for name in ("dev", "staging", "prod"):
        done = subprocess.run(["./go", "cdk", "synth", name, "--quiet", "--output", str(out)], cwd=ROOT, env=env,
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "ERROR" not in done.stderr and "Traceback" not in done.stderr, done.stderr[-3000:]
        found = list((out / f"assembly-Takedown-{name}").glob("*.template.json"))
        assert len(found) == 1, found
        template = json.loads(found[0].read_text())
        assert any(r["Type"] == "AWS::StepFunctions::StateMachine" for r in template["Resources"].values())
    listed = subprocess.run(["./go", "cdk", "ls", "staging", "--output", str(out)], cwd=ROOT, env=env,
                            capture_output=True, text=True)
    assert listed.returncode == 0 and listed.stdout.split() == ["Takedown-staging/Takedown", "(Takedown-staging-Takedown)"], listed.stderr[-2000:]
    denied = subprocess.run(["./go", "cdk", "deploy", "staging"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert denied.returncode == 2 and denied.stderr.startswith("error: no AWS credentials found"), denied.stderr
