"""Fixtures for the infra tier: each environment's stack, synthesized once per session.

Synthesis runs aws-cdk-lib in-process (jsii + Node from the venv) and takes a few seconds, so
dev, staging and prod are each synthesized at most once, lazily, and shared by every test.
Bundling of the pip-built dependency layer is skipped (`aws:cdk:bundling-stacks` = []).

The ``Synth`` object wraps the assertions ``Template`` with the few lookups the tests share
(functions by handler, a role's policy statements, the state machine's ASL as JSON), so test
modules never import this file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from takedown_infra.synth import ensure_node

ensure_node()  # before anything imports aws_cdk

import aws_cdk as cdk  # noqa: E402
from aws_cdk.assertions import Template  # noqa: E402

from takedown_infra.config import CDK_JSON, ENVIRONMENTS, EnvConfig, load  # noqa: E402
from takedown_infra.stack import TakedownStack  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = ROOT / "functions"
HANDLERS_DIR = FUNCTIONS_DIR / "takedown_handlers"
HANDLER_PACKAGE = "takedown_handlers"


def _placeholder(token: Any) -> str:
    """A readable stand-in for an intrinsic inside a joined string."""
    if isinstance(token, dict) and len(token) == 1:
        (k, v), = token.items()
        if k == "Ref":
            return "${Ref:%s}" % v
        if k == "Fn::GetAtt":
            name, attr = v if isinstance(v, list) else v.split(".", 1)
            return "${GetAtt:%s.%s}" % (name, attr)
    return "${Token:%s}" % json.dumps(token, sort_keys=True).replace('"', "'")


def join_to_string(value: Any) -> str:
    """A string, or an Fn::Join of strings and intrinsics, as one string with placeholders."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        sep, parts = value["Fn::Join"]
        return sep.join(p if isinstance(p, str) else _placeholder(p) for p in parts)
    return _placeholder(value)


@dataclass
class Synth:
    """One environment's synthesized stack and the lookups the tests share."""

    env: str
    config: EnvConfig
    template: Template
    json: dict[str, Any] = field(repr=False)

    # -- resources --------------------------------------------------------------------------
    @property
    def resources(self) -> dict[str, dict[str, Any]]:
        return self.json["Resources"]

    def of_type(self, cfn_type: str) -> dict[str, dict[str, Any]]:
        return {lid: r for lid, r in self.resources.items() if r["Type"] == cfn_type}

    def one_of_type(self, cfn_type: str) -> tuple[str, dict[str, Any]]:
        found = self.of_type(cfn_type)
        assert len(found) == 1, f"expected exactly one {cfn_type}, found {sorted(found)}"
        return next(iter(found.items()))

    # -- functions --------------------------------------------------------------------------
    def project_functions(self) -> dict[str, dict[str, Any]]:
        """Lambda functions running our code (Handler in takedown_handlers), not CDK's own."""
        return {
            lid: r
            for lid, r in self.of_type("AWS::Lambda::Function").items()
            if str(r["Properties"].get("Handler", "")).startswith(HANDLER_PACKAGE + ".")
        }

    def function_for(self, handler_module: str) -> tuple[str, dict[str, Any]]:
        """The one function whose Handler lives in takedown_handlers.<handler_module>."""
        found = {
            lid: r
            for lid, r in self.project_functions().items()
            if r["Properties"]["Handler"].rsplit(".", 1)[0] == f"{HANDLER_PACKAGE}.{handler_module}"
        }
        assert len(found) == 1, f"expected one function for {handler_module}, found {sorted(found)}"
        return next(iter(found.items()))

    def env_vars(self, function_lid: str) -> dict[str, Any]:
        """The function's settings: its variables, and for each ``<X>_PARAMETER`` the SSM
        parameter's value as ``X`` (how JSON settings are deployed: components.settings_parameter)."""
        variables = dict(self.resources[function_lid]["Properties"].get("Environment", {}).get("Variables", {}))
        params = {r["Properties"]["Name"]: r["Properties"]["Value"] for r in self.resources.values()
                  if r["Type"] == "AWS::SSM::Parameter"}
        for key, name in list(variables.items()):
            if key.endswith("_PARAMETER") and isinstance(name, str) and name in params:
                variables[key.removesuffix("_PARAMETER")] = params[name]
        return variables

    def env_text(self, function_lid: str, name: str) -> str:
        """One variable's value as text: a literal, or a join with its tokens as placeholders."""
        return join_to_string(self.env_vars(function_lid)[name])

    def role_statements(self, function_lid: str) -> list[dict[str, Any]]:
        """Every statement of every AWS::IAM::Policy attached to the function's role."""
        role = self.resources[function_lid]["Properties"]["Role"]
        assert "Fn::GetAtt" in role, role
        role_lid = role["Fn::GetAtt"][0]
        out: list[dict[str, Any]] = []
        for pol in self.of_type("AWS::IAM::Policy").values():
            if {"Ref": role_lid} in pol["Properties"].get("Roles", []):
                out.extend(pol["Properties"]["PolicyDocument"]["Statement"])
        for pol in self.resources[role_lid]["Properties"].get("Policies", []):
            out.extend(pol["PolicyDocument"]["Statement"])
        return out

    def allowed(self, function_lid: str, action: str) -> list[Any]:
        """Resources on which the function's role is allowed `action` (exact action match)."""
        res: list[Any] = []
        for st in self.role_statements(function_lid):
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            if st["Effect"] == "Allow" and action in actions:
                r = st["Resource"]
                res.extend(r if isinstance(r, list) else [r])
        return res

    # -- state machine ----------------------------------------------------------------------
    def state_machine(self, contains: str = "TakedownCase") -> tuple[str, dict[str, Any]]:
        """The state machine whose logical id contains ``contains``: the takedown case machine
        by default, "CatalogueBuild" for the index build."""
        found = {lid: r for lid, r in self.of_type("AWS::StepFunctions::StateMachine").items() if contains in lid}
        assert len(found) == 1, f"expected one state machine matching {contains}, found {sorted(found)}"
        return next(iter(found.items()))

    def asl(self, contains: str = "TakedownCase") -> dict[str, Any]:
        """A state machine's DefinitionString, tokens replaced by placeholders, parsed."""
        _, sm = self.state_machine(contains)
        return json.loads(join_to_string(sm["Properties"]["DefinitionString"]))

    def dlq_lid(self) -> str:
        """The ingest queue's dead-letter queue (from the queue's RedrivePolicy)."""
        _, queue = self.ingest_queue()
        return queue["Properties"]["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0]

    def ingest_queue(self) -> tuple[str, dict[str, Any]]:
        """The queue the fingerprint function consumes (from its event source mapping)."""
        fn_lid, _ = self.function_for("ingest")
        mappings = [
            m for m in self.of_type("AWS::Lambda::EventSourceMapping").values()
            if m["Properties"]["FunctionName"] == {"Ref": fn_lid}
        ]
        assert len(mappings) == 1, mappings
        qlid = mappings[0]["Properties"]["EventSourceArn"]["Fn::GetAtt"][0]
        return qlid, self.resources[qlid]

    def landing_buckets(self) -> dict[str, str]:
        """partner id -> logical id of its landing bucket (by the takedown:partner tag)."""
        out = {}
        for lid, b in self.of_type("AWS::S3::Bucket").items():
            for tag in b["Properties"].get("Tags", []):
                if tag["Key"] == "takedown:partner":
                    out[tag["Value"]] = lid
        return out


def _synthesize(env: str) -> Synth:
    config = load(env)
    app = cdk.App(context={"aws:cdk:bundling-stacks": []})
    stack = TakedownStack(app, "T", config=config)
    template = Template.from_stack(stack)
    return Synth(env=env, config=config, template=template, json=template.to_json())


class _SynthCache:
    """Each environment synthesized at most once per session, on first use."""

    def __init__(self) -> None:
        self._done: dict[str, Synth] = {}

    def __getitem__(self, env: str) -> Synth:
        if env not in self._done:
            self._done[env] = _synthesize(env)
        return self._done[env]


@pytest.fixture(scope="session")
def synths() -> _SynthCache:
    return _SynthCache()


@pytest.fixture(scope="session")
def dev(synths) -> Synth:
    return synths["dev"]


@pytest.fixture(scope="session")
def staging(synths) -> Synth:
    return synths["staging"]


@pytest.fixture(scope="session")
def prod(synths) -> Synth:
    return synths["prod"]


@pytest.fixture(scope="session", params=ENVIRONMENTS)
def each_env(request, synths) -> Synth:
    """Every environment in turn (dev, staging, prod), each synthesized once."""
    return synths[request.param]


@pytest.fixture(scope="session")
def cdk_environments() -> dict[str, dict[str, Any]]:
    """cdk.json's per-environment settings, read directly (not through config.py)."""
    return json.loads(CDK_JSON.read_text())["context"]["environments"]


ENV_READ = re.compile(r"""\benv(?:_json)?\(\s*["']([A-Za-z_][A-Za-z0-9_]*)["']""")


def handler_modules() -> list[str]:
    """The handler modules (takedown_handlers/<name>.py, not private, not __init__)."""
    return sorted(p.stem for p in HANDLERS_DIR.glob("*.py") if not p.stem.startswith("_"))


def env_reads(module: str) -> set[str]:
    """The environment variables a handler module reads through env("X") / env_json("X")."""
    return set(ENV_READ.findall((HANDLERS_DIR / f"{module}.py").read_text()))


def pytest_generate_tests(metafunc):
    if "handler_module" in metafunc.fixturenames:
        metafunc.parametrize("handler_module", handler_modules())


@pytest.fixture(scope="session")
def read_env():
    """env_reads as a fixture, so test modules need not import this file."""
    return env_reads
