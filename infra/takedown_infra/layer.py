"""The Lambda dependency layer, built with pip and no Docker.

pip is told the Lambda runtime's platform explicitly (manylinux 2.28 *and* 2014 tags,
CPython 3.12, x86_64, binary wheels only): with manylinux2014 alone pip quietly picks an old
numpy and a soundfile wheel without libsndfile. Versions come from requirements.txt, the one
place they are pinned, so the layer and the local virtual environment agree.

Tests and the local runtime synthesize with bundling skipped (the `aws:cdk:bundling-stacks`
context set to []), so this only runs for `cdk synth` / `cdk deploy`.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import aws_cdk as cdk
import jsii
from aws_cdk import aws_lambda as lambda_

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements.txt"
LAMBDA_PYTHON = "3.14"
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux2014_x86_64", "manylinux_2_17_x86_64")
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024 - 5 * 1024 * 1024  # AWS limit minus room for functions/
# The Lambda Python runtime ships boto3 and botocore; aws-xray-sdk drags in a second copy
# (about 30 MB) that would shadow the runtime's. Dropped after pip has resolved everything.
PROVIDED_BY_RUNTIME = ("boto3", "botocore", "s3transfer")


def pip_install_command(target: Path) -> list[str]:
    # --no-warn-conflicts: pip checks the packages it installed into --target against the
    # *running* environment (the .venv, with boto3 for the CLI and moto) and printed a red
    # "boto3 1.40.61 requires botocore<1.41" while succeeding; the layer is its own tree, the
    # resolver still refuses a conflict inside it, and boto3/botocore are dropped from it below.
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile", "--no-warn-conflicts", "--target", str(target)]
    for p in PLATFORMS:
        cmd += ["--platform", p]
    return cmd + [
        "--implementation", "cp",
        "--python-version", LAMBDA_PYTHON,
        "--only-binary=:all:",
        "--requirement", str(REQUIREMENTS),
    ]


def build_layer(output_dir: Path) -> int:
    """pip-install requirements.txt for Lambda into output_dir/python; returns its size."""
    target = Path(output_dir) / "python"
    target.mkdir(parents=True, exist_ok=True)
    subprocess.run(pip_install_command(target), check=True)
    for pattern in ("**/__pycache__", "**/tests"):
        for p in target.glob(pattern):
            if p.is_dir() and "numpy/_core/tests" not in str(p):
                shutil.rmtree(p, ignore_errors=True)
    for name in PROVIDED_BY_RUNTIME:
        for p in [target / name, *target.glob(f"{name}-*.dist-info")]:
            shutil.rmtree(p, ignore_errors=True)
    size = sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
    if size > MAX_UNZIPPED_BYTES:
        raise RuntimeError(
            f"dependency layer is {size / 2**20:.0f} MB unzipped; Lambda allows 250 MB for a function and its layers"
        )
    return size


@jsii.implements(cdk.ILocalBundling)
class PipLayerBundling:
    def try_bundle(self, output_dir: str, *args, **kwargs) -> bool:  # noqa: ARG002 - jsii signature
        size = build_layer(Path(output_dir))
        print(f"takedown: dependency layer built, {size / 2**20:.0f} MB unzipped", file=sys.stderr)
        return True


def dependencies_layer_code() -> lambda_.Code:
    return lambda_.Code.from_asset(
        str(REQUIREMENTS.parent),
        exclude=["*", "!requirements.txt"],
        asset_hash_type=cdk.AssetHashType.SOURCE,
        bundling=cdk.BundlingOptions(
            image=cdk.DockerImage.from_registry("public.ecr.aws/sam/build-python3.14"),
            local=PipLayerBundling(),
            command=["false"],
        ),
    )
