"""Layer: third-party Lambda dependencies, pip-installed for the Lambda platform, pinned once."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

from takedown_infra import layer

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "requirements.txt"
FUNCTIONS_DIR = ROOT / "functions"
# import name -> distribution name, for what the Lambda code imports
DISTRIBUTIONS = {"aws_lambda_powertools": "aws-lambda-powertools", "aws_xray_sdk": "aws-xray-sdk", "av": "av", "numpy": "numpy",
                 "pydantic": "pydantic", "jinja2": "jinja2", "markupsafe": "markupsafe",
                 "holidays": "holidays"}
# urllib3: botocore's own HTTP client, so wherever botocore is, it is (the notice API channel uses it)
PROVIDED_BY_LAMBDA = {"boto3", "botocore", "urllib3"}
OWN = {"takedown_core", "takedown_adapters", "takedown_handlers"}


@pytest.fixture(scope="module")
def cmd(tmp_path_factory) -> list[str]:
    return layer.pip_install_command(tmp_path_factory.mktemp("layer"))


def _values(cmd: list[str], option: str) -> list[str]:
    """The values given to `option`, as `--opt value` or `--opt=value`."""
    out = [cmd[i + 1] for i, a in enumerate(cmd[:-1]) if a == option]
    out += [a.split("=", 1)[1] for a in cmd if a.startswith(option + "=")]
    return out


def _pins() -> dict[str, str]:
    pins = {}
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            m = re.fullmatch(r"([A-Za-z0-9._-]+)==([A-Za-z0-9.+!-]+)", line)
            assert m, f"requirements.txt: {line!r} is not pinned with =="
            pins[m.group(1).lower().replace("_", "-")] = m.group(2)
    return pins


def test_given_the_layer_when_built_then_pip_is_told_the_lambda_platforms(cmd):
    platforms = _values(cmd, "--platform")
    assert "manylinux_2_28_x86_64" in platforms
    assert "manylinux2014_x86_64" in platforms
    assert all(p.endswith("_x86_64") for p in platforms)


def test_given_the_layer_when_built_then_pip_targets_cpython_314_binary_wheels(cmd):
    assert _values(cmd, "--python-version") == ["3.14"]
    assert "--only-binary=:all:" in cmd or _values(cmd, "--only-binary") == [":all:"]
    assert _values(cmd, "--implementation") in ([], ["cp"])


def test_given_the_layer_when_built_then_pip_installs_the_one_pin_file_into_the_target(cmd, tmp_path):
    reqs = _values(cmd, "-r") + _values(cmd, "--requirement")
    assert [Path(r).resolve() for r in reqs] == [REQUIREMENTS.resolve()]
    assert len(_values(cmd, "--target")) == 1
    assert cmd[1:4] == ["-m", "pip", "install"]


def test_given_requirements_when_read_then_every_line_pins_with_double_equals():
    assert _pins()


def test_given_requirements_when_read_then_scipy_stays_out():
    assert "scipy" not in _pins()
    assert "scipy" not in REQUIREMENTS.read_text().lower()


def test_given_the_lambda_code_when_scanned_then_every_third_party_import_is_pinned():
    imported = set()
    for p in FUNCTIONS_DIR.rglob("*.py"):
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.Import):
                imported |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - OWN - PROVIDED_BY_LAMBDA

    assert "scipy" not in third_party
    unknown = third_party - set(DISTRIBUTIONS)
    assert not unknown, f"map these imports to their distributions: {unknown}"
    assert {DISTRIBUTIONS[m] for m in third_party} <= set(_pins())


def test_given_the_layer_when_built_for_lambda_then_the_template_engine_is_in_it_and_it_fits(tmp_path):
    """The real build that synthesis runs, size check included (pip fetches the Lambda platform's
    wheels from the package index, as setting up the venv does; seconds with pip's cache)."""
    size = layer.build_layer(tmp_path)
    target = tmp_path / "python"
    assert (target / "jinja2" / "__init__.py").is_file()
    assert list((target / "markupsafe").glob("_speedups.cpython-314-x86_64-linux-gnu.so"))
    assert {p.name.split("-")[0].lower() for p in target.glob("*.dist-info")} >= {"jinja2", "markupsafe"}
    assert size == sum(f.stat().st_size for f in target.rglob("*") if f.is_file())
    assert size <= layer.MAX_UNZIPPED_BYTES
