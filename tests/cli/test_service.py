"""`axocoatl service`: the unit file it writes, the systemctl --user commands it issues, and its status.

This container has no systemd user session, so systemctl is replaced on PATH by a recording double (an
external tool's stand-in: it logs its argv and answers `show` like systemd does). The unit's own command is
run for real, and `service status` reads that daemon's daemon.json.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.conftest import run_cli

pytestmark = pytest.mark.slow

CONFIG = """
agents:
  - id: helper
    provider: mock
"""

FAKE_SYSTEMCTL = f"""#!{sys.executable}
import json, os, sys
with open(os.environ["FAKE_SYSTEMCTL_LOG"], "a") as log:
    log.write(json.dumps(sys.argv[1:]) + "\\n")
if os.environ.get("FAKE_SYSTEMCTL_NO_BUS"):
    sys.stderr.write("Failed to connect to bus: No medium found\\n")
    sys.exit(1)
if os.environ.get("FAKE_SYSTEMCTL_FAIL") in sys.argv:
    sys.stderr.write("Failed to enable unit: Unit file is masked.\\n")
    sys.exit(1)
if sys.argv[2:3] == ["show"]:
    print("ActiveState=active\\nSubState=running\\nUnitFileState=enabled\\nMainPID=4242\\nExecMainStatus=0")
"""


class Env:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.project = root / "my proj"
        self.project.mkdir()
        self.config = self.project / "axocoatl.yaml"
        self.config.write_text(CONFIG, encoding="utf-8")
        self.xdg = root / "xdg"
        bin_dir = root / "bin"
        bin_dir.mkdir()
        fake = bin_dir / "systemctl"
        fake.write_text(FAKE_SYSTEMCTL, encoding="utf-8")
        fake.chmod(0o755)
        self.log = root / "systemctl.log"
        self.vars = {
            "XDG_CONFIG_HOME": str(self.xdg),
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "FAKE_SYSTEMCTL_LOG": str(self.log),
        }

    @property
    def unit(self) -> Path:
        return self.xdg / "systemd" / "user" / "axocoatl-my-proj.service"

    def cli(self, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
        env = {**self.vars, **extra}
        return run_cli("-c", str(self.config), *args, cwd=self.root, env=env)

    def calls(self) -> list[list[str]]:
        if not self.log.exists():
            return []
        calls = [json.loads(line) for line in self.log.read_text().splitlines()]
        self.log.unlink()
        return calls


@pytest.fixture
def env(tmp_path: Path) -> Env:
    return Env(tmp_path)


def _exec_start(unit_text: str) -> list[str]:
    line = next(x for x in unit_text.splitlines() if x.startswith("ExecStart="))
    return shlex.split(line.removeprefix("ExecStart="))


def test_install_writes_the_unit_and_enables_it(env: Env) -> None:
    result = env.cli("service", "install")
    assert result.returncode == 0, result.stderr
    text = env.unit.read_text()
    assert _exec_start(text) == [sys.executable, "-m", "axocoatl", "-c", str(env.config), "serve"]
    assert f"WorkingDirectory={env.project}" in text.splitlines()
    for line in ("Restart=on-failure", "RestartPreventExitStatus=2", "WantedBy=default.target", "Type=simple"):
        assert line in text.splitlines()
    # systemd's own parser accepts it, without a warning.
    verify = subprocess.run(["systemd-analyze", "verify", str(env.unit)], capture_output=True, text=True, check=False)
    assert verify.returncode == 0 and not verify.stderr.strip(), verify.stderr
    assert env.calls() == [
        ["--user", "show-environment"],
        ["--user", "daemon-reload"],
        ["--user", "enable", "axocoatl-my-proj.service"],
    ]
    assert str(env.unit) in result.stdout and "journalctl --user -u axocoatl-my-proj.service" in result.stdout

    # Installing again for the same project rewrites the same unit; --now starts it as well.
    again = env.cli("service", "install", "--now", "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == {
        "name": "axocoatl-my-proj.service",
        "unit_file": str(env.unit),
        "action": "installed",
        "started": True,
    }
    assert env.calls()[-1] == ["--user", "enable", "--now", "axocoatl-my-proj.service"]


def test_start_stop_status_and_uninstall_issue_systemctl_user(env: Env) -> None:
    assert env.cli("service", "install").returncode == 0
    env.calls()
    assert env.cli("service", "start").returncode == 0
    assert env.calls() == [["--user", "show-environment"], ["--user", "start", "axocoatl-my-proj.service"]]
    stopped = env.cli("service", "stop", "--json")
    assert stopped.returncode == 0, stopped.stderr
    assert json.loads(stopped.stdout) == {
        "name": "axocoatl-my-proj.service",
        "unit_file": str(env.unit),
        "action": "stopped",
    }
    assert env.calls()[-1] == ["--user", "stop", "axocoatl-my-proj.service"]

    status = env.cli("service", "status", "--json")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["installed"] is True and report["unit_file"] == str(env.unit)
    assert report["systemd"] == {
        "available": True,
        "problem": None,
        "active_state": "active",
        "sub_state": "running",
        "unit_file_state": "enabled",
        "main_pid": 4242,
    }
    assert report["daemon"] == {"running": False}
    assert report["data_dir"] == str(env.project / ".axocoatl")
    assert not (env.project / ".axocoatl").exists()  # status is read-only
    env.calls()
    plain = env.cli("service", "status")
    assert "systemd  active (running), enabled, pid 4242" in plain.stdout

    uninstall = env.cli("service", "uninstall", "--json")
    assert uninstall.returncode == 0, uninstall.stderr
    assert json.loads(uninstall.stdout)["action"] == "uninstalled"
    assert not env.unit.exists()
    assert env.calls()[-2:] == [
        ["--user", "disable", "--now", "axocoatl-my-proj.service"],
        ["--user", "daemon-reload"],
    ]


def test_without_a_systemd_user_session_the_error_says_what_to_do(env: Env) -> None:
    for command in ("install", "start", "stop", "uninstall"):
        result = env.cli("service", command, FAKE_SYSTEMCTL_NO_BUS="1")
        assert result.returncode == 1, (command, result.stderr)
        assert "no systemd user session: run `axocoatl serve` under your own supervisor" in result.stderr
        assert "Failed to connect to bus" in result.stderr and "hint:" in result.stderr
        assert "Traceback" not in result.stderr
    assert not env.unit.exists()  # nothing half-installed

    # systemctl missing altogether: the same advice. (python is run by its absolute path.)
    result = env.cli("service", "install", PATH=str(env.root / "empty"))
    assert result.returncode == 1
    assert "no systemd user session" in result.stderr and "systemctl is not installed" in result.stderr

    status = env.cli("service", "status", "--json", FAKE_SYSTEMCTL_NO_BUS="1")
    assert status.returncode == 0, status.stderr
    report = json.loads(status.stdout)
    assert report["systemd"] == {"available": False, "problem": "Failed to connect to bus: No medium found"}
    assert report["installed"] is False


def test_a_failing_systemctl_is_reported_in_our_words(env: Env) -> None:
    result = env.cli("service", "install", FAKE_SYSTEMCTL_FAIL="enable")
    assert result.returncode == 1
    assert "`systemctl --user enable axocoatl-my-proj.service` failed (exit 1): Failed to enable unit" in result.stderr
    assert "journalctl --user -u axocoatl-my-proj.service" in result.stderr


def test_unknown_units_another_projects_unit_and_bad_names(env: Env, tmp_path: Path) -> None:
    for command in ("start", "stop", "uninstall"):
        result = env.cli("service", command)
        assert result.returncode == 3, result.stderr
        assert "no service axocoatl-my-proj.service is installed" in result.stderr
        assert "axocoatl service install" in result.stderr

    assert env.cli("service", "install").returncode == 0
    other = tmp_path / "elsewhere" / "my proj"
    other.mkdir(parents=True)
    (other / "axocoatl.yaml").write_text(CONFIG, encoding="utf-8")
    clash = run_cli("-c", str(other / "axocoatl.yaml"), "service", "install", cwd=tmp_path, env=env.vars)
    assert clash.returncode == 2
    assert f"runs {env.config}, not {other / 'axocoatl.yaml'}" in clash.stderr and "--name" in clash.stderr
    named = run_cli(
        "-c", str(other / "axocoatl.yaml"), "service", "install", "--name", "other", cwd=tmp_path, env=env.vars
    )
    assert named.returncode == 0, named.stderr
    assert (env.xdg / "systemd" / "user" / "other.service").is_file()

    foreign = env.xdg / "systemd" / "user" / "hand-made.service"
    foreign.write_text("[Service]\nExecStart=/bin/true\n", encoding="utf-8")
    refused = env.cli("service", "uninstall", "--name", "hand-made")
    assert refused.returncode == 2 and "was not written by `axocoatl service install`" in refused.stderr
    assert foreign.is_file()

    bad = env.cli("service", "install", "--name", "../x")
    assert bad.returncode == 2 and "'../x' is not a valid unit name" in bad.stderr

    mock = env.cli("service", "install", "--mock")
    assert mock.returncode == 2 and "--mock is a dry run" in mock.stderr

    env.config.write_text("agents: [{id: 1}]\n", encoding="utf-8")
    invalid = env.cli("service", "install")
    assert invalid.returncode == 2 and "axocoatl.yaml" in invalid.stderr


def test_a_data_dir_given_at_install_is_the_units_and_status_s(env: Env, tmp_path: Path) -> None:
    data = tmp_path / "data dir"
    assert env.cli("--data-dir", str(data), "service", "install").returncode == 0
    argv = _exec_start(env.unit.read_text())
    assert argv[-3:] == ["--data-dir", str(data), "serve"]
    report = json.loads(env.cli("service", "status", "--json").stdout)  # no --data-dir: the unit's is used
    assert report["data_dir"] == str(data)


@pytest.fixture
def unit_daemon(env: Env) -> Iterator[subprocess.Popen[str]]:
    """The installed unit's ExecStart, run as systemd would (in its WorkingDirectory), on a free port."""
    assert env.cli("service", "install").returncode == 0
    argv = _exec_start(env.unit.read_text())
    proc = subprocess.Popen(
        [*argv, "--port", "0"],
        cwd=env.project,
        env={**os.environ, "NO_COLOR": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    info = env.project / ".axocoatl" / "daemon.json"
    for _ in range(600):
        if info.exists() and json.loads(info.read_text() or "{}").get("pid") == proc.pid:
            break
        assert proc.poll() is None, "the unit's command exited"
        time.sleep(0.05)
    yield proc
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)


def test_status_reads_the_daemons_own_file_when_systemd_cannot_be_asked(
    env: Env, unit_daemon: subprocess.Popen[str]
) -> None:
    result = env.cli("service", "status", "--json", FAKE_SYSTEMCTL_NO_BUS="1")
    assert result.returncode == 0, result.stderr
    daemon = json.loads(result.stdout)["daemon"]
    assert daemon["running"] is True and daemon["pid"] == unit_daemon.pid
    assert daemon["answering"] is True and daemon["mode"] == "serve"
    assert daemon["url"].startswith("http://127.0.0.1:")
    plain = env.cli("service", "status", FAKE_SYSTEMCTL_NO_BUS="1")
    assert f"daemon   running: pid {unit_daemon.pid}" in plain.stdout and "answering" in plain.stdout
    assert "systemd  unavailable: Failed to connect to bus" in plain.stdout
