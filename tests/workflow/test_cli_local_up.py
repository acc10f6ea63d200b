"""`takedown local up`: the embedded AWS is served on loopback only with --expose-aws, and said so.

Without it nothing but the review API listens, and `takedown cases` / `local drop` from another
shell say how to get it; with it they work from another process, over loopback.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from takedown_local import cases_cli, cli
from takedown_local.runtime import LocalStack

pytestmark = pytest.mark.timeout(240)


class Up:
    """`takedown local up ARGS` on a thread, in the test's working directory, until stopped."""

    def __init__(self, argv: list[str]) -> None:
        self.args = cli.build_parser().parse_args(["local", "up", "--port", "0", *argv])
        self.stop = threading.Event()
        self.code: int | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        self.code = cli.cmd_local_up(self.args, stop=self.stop)

    def __enter__(self) -> dict:
        self.thread.start()
        deadline = time.monotonic() + 120
        while not cases_cli.state_file().exists():
            assert self.thread.is_alive() and time.monotonic() < deadline, "local up did not come up"
            time.sleep(0.2)
        time.sleep(0.2)  # the state file is written before the banner is printed
        return json.loads(cases_cli.state_file().read_text())

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(60)
        assert not self.thread.is_alive() and self.code == 0


def takedown(*argv: str, cwd: Path) -> subprocess.CompletedProcess:
    """The command line in another process, as from another shell."""
    return subprocess.run([sys.executable, "-m", "takedown_local.cli", *argv], cwd=cwd, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TAKEDOWN_STATE_DIR", str(tmp_path / "state"))  # this test's own, inherited by subprocesses
    monkeypatch.setattr(cli, "_quiet_logs", lambda verbose: None)  # leave the test process's logging alone
    return tmp_path


def test_given_local_up_without_expose_aws_then_no_aws_endpoint_and_cases_say_how_to_get_one(workdir, media, capsys,
                                                                                         monkeypatch):
    served = []
    monkeypatch.setattr(LocalStack, "serve_aws", lambda self, port=0: served.append(port) or "http://127.0.0.1:1")
    with Up([]) as state:
        assert state["endpoint"] is None and served == []
        assert cli.main(["cases", "list"]) == 2
        assert cli.main(["local", "drop", str(media["excerpt.mp3"])]) == 2
        elsewhere = workdir / "elsewhere"
        elsewhere.mkdir()
        listed = takedown("cases", "list", cwd=elsewhere)  # found from any directory
        assert listed.returncode == 2 and "start local up with --expose-aws" in listed.stderr
    out, err = capsys.readouterr()
    assert err.count("start local up with --expose-aws") == 2
    assert "embedded AWS not exposed" in out and "WARNING" not in err
    assert not cases_cli.state_file().exists()
    stopped = takedown("cases", "list", cwd=workdir)
    assert stopped.returncode == 2 and "no local stack is running" in stopped.stderr


def test_given_local_up_with_expose_aws_then_it_warns_and_cases_and_drop_work_from_another_process(
        workdir, media, capsys):
    with Up(["--expose-aws", "--aws-port", "0", "--catalog", str(media["catalog"])]) as state:
        assert state["endpoint"].startswith("http://127.0.0.1:")
        out, err = capsys.readouterr()
        assert "WARNING: the embedded AWS is exposed on " + state["endpoint"] in err
        assert "link-signing key" in err and "any process on this machine" in err.lower()

        dropped = takedown("local", "drop", str(media["excerpt.mp3"]), cwd=workdir)
        assert dropped.returncode == 0, dropped.stderr
        assert "dropped excerpt.mp3" in dropped.stdout
        deadline, cases = time.monotonic() + 90, []
        while not cases and time.monotonic() < deadline:
            listed = takedown("cases", "list", "--json", cwd=workdir)
            assert listed.returncode == 0, listed.stderr
            cases = json.loads(listed.stdout)
            time.sleep(0.5)
        assert len(cases) == 1 and cases[0]["track_id"] == "ref-0"
        shown = takedown("cases", "show", cases[0]["case_id"], cwd=workdir)
        assert shown.returncode == 0 and json.loads(shown.stdout)["case"]["case_id"] == cases[0]["case_id"]
