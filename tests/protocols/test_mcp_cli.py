"""`axocoatl mcp ...` in a subprocess, in-process and through a daemon, and /api/mcp on the daemon."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
from tests.conftest import run_cli
from tests.protocols.support import SCRIPTED, peer
from tests.server.support import running_daemon

from axocoatl.config.edit import add_mcp_server, remove_mcp_server
from axocoatl.core.errors import UsageError

PROJECT = """\
# my project
agents:
  - id: a
    provider: mock

# the servers agents may use
mcp_servers:
  # the clock
  - name: time
    command: {time}
    args: [--local-timezone, UTC]

  - name: s  # scripted
    command: {python}
    args: [{scripted}]

# the end
"""


def project_text() -> str:
    return PROJECT.format(time=peer("mcp-server-time"), python=sys.executable, scripted=SCRIPTED)


# ------------------------------------------------------------------ editing the file (no subprocess)


def test_add_appends_to_the_block_and_keeps_every_comment() -> None:
    text = project_text()
    edited = add_mcp_server(text, {"name": "fs", "command": "npx", "args": ["-y", "server-filesystem", "."]})
    assert edited.startswith(text.split("# the end")[0].rstrip("\n") + "\n")
    assert '  - name: fs\n    command: npx\n    args: ["-y", server-filesystem, "."]\n' in edited
    assert edited.endswith("\n# the end\n")
    assert edited.index("name: fs") < edited.index("# the end")


def test_add_creates_the_section_and_replaces_an_empty_one() -> None:
    assert add_mcp_server("agents: []\n", {"name": "a", "command": "x"}) == (
        "agents: []\nmcp_servers:\n  - name: a\n    command: x\n"
    )
    assert add_mcp_server("mcp_servers: []  # none yet\nagents: []\n", {"name": "a", "command": "x"}) == (
        "mcp_servers:\n  - name: a\n    command: x\nagents: []\n"
    )


def test_remove_cuts_the_entry_and_its_heading_comment_only() -> None:
    text = project_text()
    edited = remove_mcp_server(text, "time")
    assert "the clock" not in edited and "mcp-server-time" not in edited
    assert "# the servers agents may use\nmcp_servers:\n" in edited
    assert "  - name: s  # scripted" in edited and edited.endswith("# the end\n")
    last = remove_mcp_server(edited, "s")
    assert "mcp_servers: []\n" in last and "# the end" in last and "# my project" in last


def test_edits_that_cannot_be_done_safely_are_refused() -> None:
    with pytest.raises(UsageError, match="already configured"):
        add_mcp_server(project_text(), {"name": "time", "command": "x"})
    with pytest.raises(UsageError, match="no MCP server named 'nope'") as caught:
        remove_mcp_server(project_text(), "nope")
    assert "time, s" in str(caught.value.hint)
    with pytest.raises(UsageError, match="flow style"):
        add_mcp_server("mcp_servers: [{name: a, command: x}]\n", {"name": "b", "command": "y"})


# ------------------------------------------------------------------ the CLI


@pytest.mark.slow
def test_servers_tools_and_call_without_a_daemon(tmp_path: Path) -> None:
    (tmp_path / "axocoatl.yaml").write_text(project_text())
    servers = run_cli("mcp", "servers", "--json", cwd=tmp_path)
    assert servers.returncode == 0, servers.stderr
    rows = {r["name"]: r for r in json.loads(servers.stdout)}
    assert rows["time"]["status"] == "connected" and rows["time"]["tool_count"] == 2
    assert rows["s"]["transport"] == "stdio" and rows["s"]["protocol_version"] == "2025-11-25"

    tools = run_cli("mcp", "tools", "--server", "time", "--json", cwd=tmp_path)
    assert [t["name"] for t in json.loads(tools.stdout)] == ["mcp__time__get_current_time", "mcp__time__convert_time"]
    table = run_cli("mcp", "tools", cwd=tmp_path)
    assert "mcp__s__add" in table.stdout and "read" in table.stdout

    added = run_cli("mcp", "call", "s", "add", "a=2", "b=40", cwd=tmp_path)
    assert (added.returncode, added.stdout) == (0, "42\n")
    failed = run_cli("mcp", "call", "time", "get_current_time", "timezone=Nowhere/Else", "--json", cwd=tmp_path)
    assert failed.returncode == 1 and "Nowhere/Else" in json.loads(failed.stdout)["error"]
    unknown = run_cli("mcp", "call", "s", "ad", cwd=tmp_path)
    assert unknown.returncode == 3 and "did you mean 'add'" in unknown.stderr
    no_server = run_cli("mcp", "tools", "--server", "tim", cwd=tmp_path)
    assert no_server.returncode == 3 and "did you mean 'time'" in no_server.stderr
    bad = run_cli("mcp", "call", "s", "add", "a", cwd=tmp_path)
    assert bad.returncode == 2 and "is not KEY=VALUE" in bad.stderr


@pytest.mark.slow
def test_add_and_remove_edit_the_file(tmp_path: Path) -> None:
    (tmp_path / "axocoatl.yaml").write_text(project_text())
    added = run_cli("mcp", "add", "every", "--", peer("mcp-server-everything"), cwd=tmp_path)
    assert added.returncode == 0, added.stderr
    web = run_cli("mcp", "add", "web", "--url", "http://127.0.0.1:9/mcp", "-H", "X-Trace: 1", cwd=tmp_path)
    assert web.returncode == 0, web.stderr
    text = (tmp_path / "axocoatl.yaml").read_text()
    assert "# the clock" in text and text.endswith("# the end\n")
    assert "  - name: web\n    transport: streamable_http\n" in text and 'headers: {X-Trace: "1"}' in text
    servers = json.loads(run_cli("mcp", "servers", "--json", cwd=tmp_path).stdout)
    assert [s["name"] for s in servers] == ["time", "s", "every", "web"]
    assert next(s for s in servers if s["name"] == "every")["status"] == "connected"
    assert next(s for s in servers if s["name"] == "web")["status"] == "failed"  # nothing listens on port 9

    before = (tmp_path / "axocoatl.yaml").read_text()
    for args, message in (
        (("add", "time", "--", "x"), "already configured"),
        (("add", "bad name", "--", "x"), "name"),
        (("add", "nothing"), "give the command that starts the server after --"),
        (("add", "ftp", "--url", "ftp://x"), "MCP server 'ftp': transport 'streamable_http' needs a url starting"),
        (("remove", "nope"), "no MCP server named 'nope'"),
    ):
        refused = run_cli("mcp", *args, cwd=tmp_path)
        assert refused.returncode == 2 and message in refused.stderr, (args, refused.stderr)
        assert "Value error" not in refused.stderr
    assert (tmp_path / "axocoatl.yaml").read_text() == before

    assert run_cli("mcp", "remove", "every", cwd=tmp_path).returncode == 0
    assert run_cli("mcp", "remove", "web", cwd=tmp_path).returncode == 0
    assert (tmp_path / "axocoatl.yaml").read_text() == project_text()


@pytest.mark.slow
def test_the_daemon_serves_status_tools_and_restart(tmp_path: Path) -> None:
    with running_daemon(tmp_path / "d", project_text(), mode="dev") as daemon:  # dev: reloads the config
        with daemon.client() as client:
            servers = client.get("/api/mcp/servers").json()
            assert [(s["name"], s["status"]) for s in servers] == [("time", "connected"), ("s", "connected")]
            tools = client.get("/api/mcp/tools", params={"server": "s"}).json()
            add = next(t for t in tools if t["tool"] == "add")
            assert add["name"] == "mcp__s__add" and add["effect"] == "read"
            assert add["input_schema"]["required"] == ["a", "b"]
            assert len(client.get("/api/mcp/tools").json()) == 2 + len(tools)
            missing = client.get("/api/mcp/tools", params={"server": "tme"})
            assert missing.status_code == 404 and "did you mean 'time'" in missing.json()["hint"]

            restarted = client.post("/api/mcp/servers/s/restart").json()
            assert (restarted["status"], restarted["restarts"]) == ("connected", 1)
            assert client.post("/api/mcp/servers/x/restart").status_code == 404

        # The CLI goes to the daemon: its restart count shows.
        listed = run_cli("--data-dir", str(daemon.data_dir), "mcp", "servers", "--json", cwd=daemon.directory)
        assert next(s for s in json.loads(listed.stdout) if s["name"] == "s")["restarts"] == 1
        cli_restart = run_cli("--data-dir", str(daemon.data_dir), "mcp", "restart", "time", cwd=daemon.directory)
        assert cli_restart.returncode == 0 and "restarted: connected" in cli_restart.stdout

        # `mcp remove` while the daemon runs: it reloads the file and stops the server.
        removed = run_cli("--data-dir", str(daemon.data_dir), "mcp", "remove", "time", cwd=daemon.directory)
        assert removed.returncode == 0, removed.stderr
        with daemon.client() as client:
            deadline = time.monotonic() + 30
            while [s["name"] for s in client.get("/api/mcp/servers").json()] != ["s"]:
                assert time.monotonic() < deadline, daemon.log()
                time.sleep(0.1)
            assert not [t for t in client.get("/api/mcp/tools").json() if t["server"] == "time"]


@pytest.mark.slow
def test_doctor_checks_each_server(tmp_path: Path) -> None:
    text = project_text().replace(
        "  - name: s  # scripted", "  - name: gone\n    command: ./no-such-server\n  - name: s"
    )
    (tmp_path / "axocoatl.yaml").write_text(text)
    result = run_cli("doctor", "--json", cwd=tmp_path)
    findings = {f["check"]: f for f in json.loads(result.stdout)["findings"]}
    assert findings["MCP server time"]["status"] == "ok" and "2 tools" in findings["MCP server time"]["message"]
    assert findings["MCP server s"]["status"] == "ok"
    assert findings["MCP server gone"]["status"] == "fail"
    assert "no-such-server" in findings["MCP server gone"]["message"]
    assert result.returncode == 1
    assert not (tmp_path / ".axocoatl").exists()
