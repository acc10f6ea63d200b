"""Where `takedown cases|dlq|local drop` find the running `local up`: one state file per user,
from any directory, and a stale one (local up killed) is told apart from a running one."""

from __future__ import annotations

import subprocess
import sys

import pytest

from takedown_local import cases_cli


@pytest.fixture
def state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TAKEDOWN_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def test_the_state_file_is_per_user_not_per_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("TAKEDOWN_STATE_DIR", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert cases_cli.state_file() == tmp_path / "xdg" / "takedown" / "local.json"
    monkeypatch.chdir(tmp_path)
    assert cases_cli.state_file().is_absolute()


def test_a_running_local_up_is_found_from_any_directory(state_dir, tmp_path, monkeypatch):
    cases_cli.write_local_state({"endpoint": "http://127.0.0.1:5", "region": "eu-west-1", "table": "t",
                                 "workflow_function": "f"})
    for where in (tmp_path, tmp_path / "a" / "b"):
        where.mkdir(parents=True, exist_ok=True)
        monkeypatch.chdir(where)
        assert cases_cli.local_state()["endpoint"] == "http://127.0.0.1:5"


def test_a_killed_local_up_is_reported_and_forgotten(state_dir):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    path = cases_cli.write_local_state({"endpoint": "http://127.0.0.1:5"})
    path.write_text(path.read_text().replace(f'"pid": {__import__("os").getpid()}', f'"pid": {int(dead.stdout)}'))
    with pytest.raises(cases_cli.TargetError, match="no longer running"):
        cases_cli.local_state()
    assert not path.exists()
    with pytest.raises(cases_cli.TargetError, match="no local stack is running"):
        cases_cli.local_state()
