#!/usr/bin/env python3
"""CDK app entry point: `cdk deploy -c env=dev|staging|prod` (see README, "Deploying")."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "functions"))

from takedown_infra.synth import ensure_node  # noqa: E402

ensure_node()

import aws_cdk as cdk  # noqa: E402

from takedown_infra.config import ENVIRONMENTS, ConfigError, load  # noqa: E402
from takedown_infra.nag import add_checks  # noqa: E402
from takedown_infra.stack import TakedownStage  # noqa: E402

app = cdk.App()
add_checks(app)  # cdk-nag's AwsSolutions pack: synthesis fails on a finding nag.py does not acknowledge
env_name = app.node.try_get_context("env") or "dev"
if env_name not in ENVIRONMENTS:
    sys.exit(f"unknown environment '{env_name}': use -c env=dev|staging|prod")
try:
    config = load(env_name)
except ConfigError as e:  # every problem with its key path, no traceback
    sys.exit(f"error: {e}")
TakedownStage(
    app,
    f"Takedown-{env_name}",
    config=config,
    env=cdk.Environment(account=app.node.try_get_context("account"), region=config.region),
)
app.synth()
