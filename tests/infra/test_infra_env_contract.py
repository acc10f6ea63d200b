"""The contract between the stack and the handlers: every variable a handler reads is set.

A handler reads its settings through ``env("X")`` / ``env_json("X")`` (takedown_handlers._env)
on first use, so a missing variable is a deployment bug that surfaces only at run time, in
AWS. Here the handler modules are parsed for those calls and each function's Environment,
matched to its module by the Handler property, must provide every one of them.
"""

from __future__ import annotations

import ast
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


def test_given_each_function_when_synthesized_then_its_environment_provides_every_variable_its_handler_reads(
    each_env, handler_module, read_env
):
    fn_lid, _ = each_env.function_for(handler_module)
    provided = each_env.env_vars(fn_lid)

    missing = sorted(read_env(handler_module) - set(provided))
    empty = sorted(k for k in read_env(handler_module) & set(provided) if provided[k] == "")

    assert missing == [], f"{each_env.env}: {fn_lid} ({handler_module}) lacks {missing}"
    assert empty == [], f"{each_env.env}: {fn_lid} ({handler_module}) sets {empty} to '' (env() treats it as unset)"


def test_given_json_settings_when_synthesized_then_literal_values_are_valid_json(each_env, handler_module):
    import json

    fn_lid, _ = each_env.function_for(handler_module)
    source = (HANDLERS_DIR / f"{handler_module}.py").read_text()
    for name in re.findall(r"""\benv_json\(\s*["'](\w+)["']""", source):
        value = each_env.env_vars(fn_lid)[name]
        if isinstance(value, str):  # tokens (Fn::Join of bucket names) resolve at deploy time
            json.loads(value)
