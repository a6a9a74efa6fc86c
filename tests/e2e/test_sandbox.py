"""Escape attempts from `bash` under the bubblewrap tier, by agents on the mock provider, through the CLI.

One workflow chains the attempts (one agent each, so each step's output is one tool result): write
/etc, write a kernel setting, read outside the workspace through a symlink and through `..`, reach
a server on the host's loopback, a fork bomb, a gigabyte of output, a command that never ends, a
file past the size limit; then an agent checks the runtime still runs commands. Each is refused or
contained with a clear error, and nothing the commands started outlives the run.
"""

from __future__ import annotations

import http.server
import json
import os
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.support import ENV, Project, run_cli

pytestmark = pytest.mark.slow

MARK = "axocoatl-escape-test"  # in the command lines of what must not outlive the run


@pytest.fixture
def host_server() -> Iterator[int]:
    """A server on the host's loopback, which a sandboxed command must not reach."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"host secret page")

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def attempts(secret: Path, port: int) -> dict[str, tuple[str, float | None]]:
    """agent id → (its bash command, its timeout_secs)."""
    fetch = (
        f"curl -sS -m 5 http://127.0.0.1:{port}/; "
        f"python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", {port}), timeout=5)'"
    )
    return {
        "write_etc": ("echo owned > /etc/axocoatl-escape && echo wrote", None),
        # A global kernel setting, written back unchanged (harmless if the write were let through).
        "sysctl": ("v=$(cat /proc/sys/vm/swappiness) && echo $v > /proc/sys/vm/swappiness && echo wrote", None),
        "symlink": (f"ln -s {secret} link && cat link", None),
        "dotdot": (f"cat ../{secret.name}; ls /root", None),
        "network": (fetch, None),
        "open_network": (f"curl -sS -m 5 http://127.0.0.1:{port}/", None),
        "fork_bomb": (f"bomb() {{ bomb | bomb & }}; bomb; sleep 30 # {MARK}", 3),
        "flood": ("head -c 1000000000 /dev/zero | tr '\\0' y; echo done", None),
        "forever": (f"(sleep 300; touch late.txt) & sleep 300 # {MARK}", 1),
        "big_file": ("head -c 50000000 /dev/zero > big.bin", None),
        "alive": ("echo alive; ls", None),
    }


def config(secret: Path, port: int) -> str:
    lines = []
    previous = None
    for agent_id, (command, timeout) in attempts(secret, port).items():
        arguments: dict[str, Any] = {"command": command}
        if timeout is not None:
            arguments["timeout_secs"] = timeout
        calls = json.dumps([{"name": "bash", "arguments": arguments}])
        lines += [
            f"  - id: {agent_id}",
            "    provider: mock",
            "    tools: [bash]",
            f"    options: {{tool_calls: {calls}, reply: '{{tool_result}}'}}",
        ]
        if previous is not None:
            lines.append(f"    depends_on: [{previous}]")
        if agent_id == "open_network":
            lines.append("    sandbox: {network: true}")
        previous = agent_id
    agents = "\n".join(lines)
    ids = ", ".join(attempts(secret, port))
    return f"agents:\n{agents}\n" + textwrap.dedent(
        f"""\
            workflows:
              - id: escapes
                agents: [{ids}]
                workspace: work
            tools:
              max_output_chars: 2000
              bash_timeout_secs: 120
            sandbox:
              tier: bubblewrap
              limits: {{max_processes: 64, file_size_mb: 10}}
            """
    )


def leftovers() -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if MARK in cmdline and "pytest" not in cmdline:
                found.append(cmdline)
    return found


def test_escape_attempts_from_bash_are_refused_or_contained(tmp_path: Path, host_server: int) -> None:
    secret = tmp_path / "project" / "secret.txt"
    project = Project(tmp_path / "project", config(secret, host_server))
    secret.write_text("the runtime's secret\n")
    work = project.root / "work"
    work.mkdir()

    result = project.cli("workflow", "run", "escapes", "-i", "try", "--json", timeout=300)
    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)
    assert run["status"] == "completed"
    out = {step["agent_id"]: step["output"] for step in run["steps"]}

    assert "/etc/axocoatl-escape: Read-only file system" in out["write_etc"] and "wrote" not in out["write_etc"]
    assert not Path("/etc/axocoatl-escape").exists()
    assert "/proc/sys/vm/swappiness: Read-only file system" in out["sysctl"] and "wrote" not in out["sysctl"]
    assert "cat: link: No such file or directory" in out["symlink"] and "the runtime's secret" not in out["symlink"]
    assert f"../{secret.name}: No such file or directory" in out["dotdot"]
    assert "/root': No such file or directory" in out["dotdot"]
    assert "Couldn't connect to server" in out["network"] and "ConnectionRefusedError" in out["network"]
    assert "host secret page" not in out["network"]
    assert "host secret page" in out["open_network"]  # the agent's own sandbox allows the network

    bomb = out["fork_bomb"]
    assert "did not finish within 3 s and was killed" in bomb, bomb
    assert "Resource temporarily unavailable" in bomb and "sandbox.limits.max_processes" in bomb

    flood = out["flood"]
    assert len(flood) <= 2000
    flooded = json.loads(flood)  # cut in its output, so still JSON with its exit code
    assert flooded["exit_code"] == 0 and flooded["output"].startswith("yyyy")
    assert "more bytes of output not kept]" in flooded["output"]

    assert "did not finish within 1 s and was killed" in out["forever"]
    assert "File size limit exceeded" in out["big_file"] and "sandbox.limits.file_size_mb" in out["big_file"]
    assert (work / "big.bin").stat().st_size == 10 * 1024 * 1024

    alive = json.loads(out["alive"])
    assert alive["exit_code"] == 0 and alive["output"].startswith("alive\n")
    assert not (work / "late.txt").exists()
    assert leftovers() == []  # the bomb and the endless command died with their namespaces


def test_a_tier_that_cannot_run_here_stops_the_run_and_fails_doctor(tmp_path: Path) -> None:
    project = Project(
        tmp_path / "project",
        textwrap.dedent(
            """\
            agents:
              - id: a
                provider: mock
                tools: [bash]
                options: {tool_calls: [{name: bash, arguments: {command: "echo hi"}}]}
            workflows: [{id: w, agents: [a]}]
            sandbox: {tier: podman}
            """
        ),
    )
    no_podman = {**ENV, "PATH": str(tmp_path)}  # podman may be installed here: this machine is one without
    result = run_cli(*project.args("workflow", "run", "w", "-i", "hi", "--json"), cwd=project.root, env=no_podman)
    assert result.returncode != 0
    assert "sandbox.tier is podman, but podman is not installed" in result.stderr
    assert "install podman" in result.stderr
    doctor = run_cli(*project.args("doctor", "--json"), cwd=project.root, env=no_podman)
    assert doctor.returncode != 0
    [finding] = [f for f in json.loads(doctor.stdout)["findings"] if f["check"] == "sandbox"]
    assert finding["status"] == "fail" and "podman is not installed" in finding["message"]
    assert "install podman" in finding["fix"]


def test_without_bwrap_auto_falls_back_to_none_with_a_warning(tmp_path: Path) -> None:
    config = textwrap.dedent(
        """\
        agents:
          - id: a
            provider: mock
            tools: [bash]
            options: {tool_calls: [{name: bash, arguments: {command: "echo ran"}}], reply: "{tool_result}"}
        workflows: [{id: w, agents: [a]}]
        """
    )
    project = Project(tmp_path / "project", config)
    no_bwrap = {**ENV, "PATH": str(tmp_path)}  # nothing to find: no bwrap, no podman
    args = project.args("workflow", "run", "w", "-i", "hi", "--json")
    result = run_cli(*args, cwd=project.root, env=no_bwrap)
    assert result.returncode == 0, result.stderr
    assert json.loads(json.loads(result.stdout)["final_output"]) == {"exit_code": 0, "output": "ran\n"}
    assert "sandbox none for a (auto: bwrap is not installed; network allowed)" in result.stderr
    assert "without a sandbox" in result.stderr
    doctor = run_cli(*project.args("doctor", "--json"), cwd=project.root, env=no_bwrap)
    [finding] = [f for f in json.loads(doctor.stdout)["findings"] if f["check"] == "sandbox"]
    assert finding["status"] == "warn" and finding["message"].startswith(
        "none for a (auto: bwrap is not installed; network allowed): "
    )
    assert "apt-get install bubblewrap" in finding["fix"]

    project.config.write_text(config + "sandbox: {tier: bubblewrap}\n")
    refused = run_cli(*project.args("workflow", "run", "w", "-i", "hi", "--json"), cwd=project.root, env=no_bwrap)
    assert refused.returncode != 0
    assert "sandbox.tier is bubblewrap, but bwrap is not installed" in refused.stderr
    assert os.environ["PATH"] != str(tmp_path)
