"""The contract between the stack and the handlers: every variable a handler reads is set.

A handler reads its settings through ``env("X")`` / ``env_json("X")`` (takedown_handlers._env)
on first use, so a missing variable is a deployment bug that surfaces only at run time, in
AWS. Here the handler modules are parsed for those calls and each function's Environment,
matched to its module by the Handler property, must provide every one of them. A value
that is a CloudFormation token (``{"Ref": ...}``, ``{"Fn::GetAtt": ...}``, ``Fn::Join``)
counts as provided: the key is there, and CloudFormation resolves the value at deploy time.

Every function that runs our code is checked, in every environment: the count of functions
checked must equal the count of functions carrying the project's dependency layer or
running Python from an asset, found without looking at their Handler.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"
HANDLERS_DIR = FUNCTIONS_DIR / "takedown_handlers"


def test_given_handler_modules_when_parsed_then_each_reads_some_settings(handler_module, read_env):
    assert read_env(handler_module), f"no env()/env_json() read found in {handler_module}.py: regex out of date?"


def test_given_handler_modules_when_parsed_then_the_regex_sees_every_env_call(handler_module, read_env):
    tree = ast.parse((HANDLERS_DIR / f"{handler_module}.py").read_text())
    by_ast = {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("env", "env_json")
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }
    assert by_ast == read_env(handler_module)


def test_given_the_lambda_code_when_scanned_then_only_the_env_module_touches_os_environ():
    """So the handler modules' env()/env_json() calls are the whole list of settings."""
    offenders = [
        str(p.relative_to(FUNCTIONS_DIR))
        for p in FUNCTIONS_DIR.rglob("*.py")
        if p.name != "_env.py" and re.search(r"os\.environ|os\.getenv|getenv\(", p.read_text())
    ]
    assert offenders == []


def test_given_each_handler_module_when_synthesized_then_exactly_one_function_runs_it(each_env, handler_module):
    fn_lid, fn = each_env.function_for(handler_module)
    assert fn["Properties"]["Handler"] == f"takedown_handlers.{handler_module}.handler"
    tree = ast.parse((HANDLERS_DIR / f"{handler_module}.py").read_text())
    assert any(isinstance(n, ast.FunctionDef) and n.name == "handler" for n in tree.body), (
        f"{handler_module}.py defines no handler()"
    )


def test_given_every_function_when_synthesized_then_its_handler_module_exists(each_env):
    for lid, fn in each_env.project_functions().items():
        module = fn["Properties"]["Handler"].rsplit(".", 1)[0]
        assert (FUNCTIONS_DIR / (module.replace(".", "/") + ".py")).is_file(), f"{lid}: {module} not in functions/"


def code_functions(synth) -> dict[str, dict]:
    """Every function that runs our code, found without its Handler: it carries a layer of
    this stack (the dependency layer every project function has), or runs Python from an
    asset. CDK's own functions (a Node.js provider, an inline Python handler) are neither."""
    layers = set(synth.of_type("AWS::Lambda::LayerVersion"))
    found = {}
    for lid, fn in synth.of_type("AWS::Lambda::Function").items():
        props = fn["Properties"]
        with_layer = any(isinstance(layer, dict) and layer.get("Ref") in layers for layer in props.get("Layers", []))
        python_asset = str(props.get("Runtime", "")).startswith("python") and "ZipFile" not in props.get("Code", {})
        if with_layer or python_asset:
            found[lid] = fn
    return found


def handler_module_of(fn: dict) -> str:
    """takedown_handlers.<module>.handler -> <module>."""
    module = fn["Properties"]["Handler"].rsplit(".", 1)[0]
    assert module.startswith("takedown_handlers."), fn["Properties"]["Handler"]
    return module.removeprefix("takedown_handlers.")


def unmet_settings(provided: dict, reads: set[str]) -> tuple[list[str], list[str]]:
    """(variables read but absent, variables set to ''). Any other value is present: a
    literal, or a token CloudFormation resolves at deploy time."""
    missing = sorted(reads - set(provided))
    empty = sorted(k for k in reads & set(provided) if provided[k] == "")
    return missing, empty


def test_given_each_environment_when_synthesized_then_every_function_provides_every_variable_its_handler_reads(
    each_env, read_env
):
    checked: list[str] = []
    problems: list[str] = []
    for fn_lid, fn in sorted(each_env.project_functions().items()):
        module = handler_module_of(fn)
        reads = read_env(module)
        assert reads, f"{each_env.env}: {fn_lid} ({module}) reads no setting: nothing would be checked"
        variables = each_env.env_vars(fn_lid)
        # a JSON setting in SSM Parameter Store: <X>_PARAMETER names it, env_json("X") reads it
        variables = {**variables, **{k.removesuffix("_PARAMETER"): v for k, v in variables.items() if k.endswith("_PARAMETER")}}
        missing, empty = unmet_settings(variables, reads)
        if missing:
            problems.append(f"{fn_lid} ({module}) lacks {missing}")
        if empty:
            problems.append(f"{fn_lid} ({module}) sets {empty} to '' (env() treats it as unset)")
        checked.append(fn_lid)

    assert problems == [], f"{each_env.env}: " + "; ".join(problems)
    # every function of ours was checked (found by its layer and runtime, not its Handler),
    # one per handler module
    ours = code_functions(each_env)
    assert len(checked) == len(ours), f"{each_env.env}: checked {sorted(checked)}, functions of ours {sorted(ours)}"
    assert sorted(checked) == sorted(ours)
    assert sorted(handler_module_of(ours[lid]) for lid in checked) == sorted(
        p.stem for p in HANDLERS_DIR.glob("*.py") if not p.stem.startswith("_")
    )


def test_given_a_function_environment_when_a_read_variable_is_absent_then_the_contract_names_it():
    # the check itself: a token is a value (present), an absent key or '' is not
    provided = {
        "TABLE_NAME": {"Ref": "CasesTable"},
        "STATE_MACHINE_ARN": {"Fn::GetAtt": ["Workflow", "Arn"]},
        "REVIEW_BASE_URL": {"Fn::Join": ["", ["https://", {"Ref": "Api"}, "/v1/"]]},
        "SENDER": "",
        "LINK_TTL_SECONDS": "72000",
    }
    reads = {"TABLE_NAME", "STATE_MACHINE_ARN", "REVIEW_BASE_URL", "SENDER", "LINK_TTL_SECONDS", "CATALOG_BUCKET"}
    assert unmet_settings(provided, reads) == (["CATALOG_BUCKET"], ["SENDER"])
    assert unmet_settings(provided, {"TABLE_NAME", "STATE_MACHINE_ARN", "REVIEW_BASE_URL"}) == ([], [])


def test_given_the_lambda_code_when_parsed_then_only_handler_modules_read_settings_and_by_literal_name():
    """So each handler module's literal env()/env_json() calls are the whole list of what its
    function reads: no other module imports them (or the _env module itself), and no call
    passes a computed name."""
    handlers = {p for p in HANDLERS_DIR.glob("*.py") if not p.stem.startswith("_")}
    offenders = []
    for path in sorted(FUNCTIONS_DIR.rglob("*.py")):
        if path == HANDLERS_DIR / "_env.py":
            continue
        rel = str(path.relative_to(FUNCTIONS_DIR))
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                from_env = (node.module or "").split(".")[-1] == "_env"
                names = {a.name for a in node.names}
                if "_env" in names or (from_env and names & {"env", "env_json", "*"} and path not in handlers):
                    offenders.append(f"{rel}:{node.lineno} imports {sorted(names)} from {node.module or '.'}")
            elif isinstance(node, ast.Import) and any(a.name.split(".")[-1] == "_env" for a in node.names):
                offenders.append(f"{rel}:{node.lineno} imports the _env module")
            elif (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("env", "env_json")
                and path in handlers
                and not (node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str))
            ):
                offenders.append(f"{rel}:{node.lineno} calls {node.func.id}() without a literal name")
    assert offenders == []


def test_given_json_settings_when_synthesized_then_their_values_are_valid_json(each_env, handler_module):
    """Literal values parse; a value joined from literals and tokens (Fn::Join of bucket
    names) parses with each token as a placeholder string, so the literal parts are checked
    too and every token sits inside a JSON string."""
    fn_lid, _ = each_env.function_for(handler_module)
    source = (HANDLERS_DIR / f"{handler_module}.py").read_text()
    for name in re.findall(r"""\benv_json\(\s*["'](\w+)["']""", source):
        text = each_env.env_text(fn_lid, name)
        try:
            json.loads(text)
        except json.JSONDecodeError as e:
            raise AssertionError(f"{each_env.env}: {fn_lid} {name} is not JSON ({e}): {text[:200]}") from None
