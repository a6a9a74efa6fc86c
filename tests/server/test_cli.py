"""`axocoatl chat` and `axocoatl agents status|restart`, with and without a running daemon."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tests.conftest import run_cli
from tests.server.support import Daemon, write_project

pytestmark = pytest.mark.slow


def cli(
    directory: Path, *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_cli("--data-dir", "data", *args, cwd=directory, input=stdin, env=env)


@pytest.fixture(scope="module")
def project_with_daemon(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    directory = write_project(tmp_path_factory.mktemp("cli"))
    daemon = Daemon(directory).start()
    yield directory, daemon
    daemon.stop()


def test_chat_one_shot_through_the_daemon(project_with_daemon) -> None:  # type: ignore[no-untyped-def]
    directory, daemon = project_with_daemon
    result = cli(directory, "chat", "-a", "assistant", "-m", "hello there")
    assert result.returncode == 0, result.stderr
    assert "assistant> Hello from assistant: hello there" in result.stdout
    assert "[tokens:" in result.stdout and "this chat]" in result.stdout
    assert "POST /api/agents/assistant/execute 200" in daemon.log()


def test_chat_shows_tool_calls(project_with_daemon) -> None:  # type: ignore[no-untyped-def]
    directory, _ = project_with_daemon
    result = cli(directory, "chat", "-a", "tooler", "-m", "go")
    assert result.returncode == 0, result.stderr
    assert '⚙ echo({"text": "ping"})' in result.stdout
    assert '→ {"text": "ping"}' in result.stdout
    assert 'tool said {"text": "ping"}' in result.stdout


def test_chat_repl_keeps_history_resets_and_exits(project_with_daemon) -> None:  # type: ignore[no-untyped-def]
    directory, daemon = project_with_daemon
    result = cli(directory, "chat", "-a", "assistant", stdin="first\n\nsecond\n/reset\nthird\n/bogus\n/exit\nnever\n")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"via daemon {daemon.url}" in out
    assert out.index("assistant: first") < out.index("assistant: second") < out.index("new conversation")
    assert out.index("new conversation") < out.index("assistant: third")
    assert "unknown command /bogus" in out
    assert "never" not in out
    assert "bye (" in out


def test_chat_eof_ends_the_repl(project_with_daemon) -> None:  # type: ignore[no-untyped-def]
    directory, _ = project_with_daemon
    result = cli(directory, "chat", "-a", "assistant", stdin="hi\n")
    assert result.returncode == 0 and "bye (" in result.stdout


def test_chat_errors_are_clear(project_with_daemon) -> None:  # type: ignore[no-untyped-def]
    directory, _ = project_with_daemon
    unknown = cli(directory, "chat", "-a", "asistant", "-m", "x")
    failing = cli(directory, "chat", "-a", "broken", "-m", "x")
    assert unknown.returncode != 0 and "unknown agent 'asistant'" in unknown.stderr
    assert "did you mean 'assistant'" in unknown.stderr
    assert failing.returncode == 1 and "mock provider was asked to fail" in failing.stderr


def test_agents_status_and_restart_through_the_daemon(project_with_daemon) -> None:  # type: ignore[no-untyped-def]
    directory, _ = project_with_daemon
    table = cli(directory, "agents", "status")
    one = cli(directory, "agents", "status", "assistant", "--json")
    every = cli(directory, "agents", "status", "--json")
    restart = cli(directory, "agents", "restart", "summarizer")
    missing = cli(directory, "agents", "restart", "ghost")
    assert table.returncode == 0, table.stderr
    assert "restarts" in table.stdout and "assistant" in table.stdout
    status = json.loads(one.stdout)
    assert status["agent_id"] == "assistant" and status["supervision"]["gave_up"] is False
    assert [s["agent_id"] for s in json.loads(every.stdout)][:2] == ["assistant", "tooler"]
    assert restart.returncode == 0 and "restarted summarizer" in restart.stdout
    assert missing.returncode != 0 and "unknown agent 'ghost'" in missing.stderr


def test_without_a_daemon(tmp_path: Path) -> None:
    directory = write_project(tmp_path)
    status = cli(directory, "agents", "status", "--json")
    restart = cli(directory, "agents", "restart", "assistant")
    chat = cli(directory, "chat", "-a", "assistant", "-m", "offline")
    assert status.returncode == 0
    assert "no daemon is running (start one with `axocoatl dev`)" in status.stderr
    assert json.loads(status.stdout)[0] == {
        "agent_id": "assistant",
        "status": "offline",
        "provider": "mock",
        "model": None,
    }
    assert restart.returncode == 1
    assert "no daemon is running (start one with `axocoatl dev`)" in restart.stderr
    assert chat.returncode == 0, chat.stderr
    assert "assistant> Hello from assistant: offline" in chat.stdout  # in-process


def test_cli_sends_the_configured_key(tmp_path: Path) -> None:
    config = """
    agents:
      - id: assistant
        provider: mock
    server:
      auth: {api_keys: ["k-123"]}
    """
    directory = write_project(tmp_path, config)
    daemon = Daemon(directory).start()
    try:
        status = cli(directory, "agents", "status", "assistant", "--json")
        chat = cli(directory, "chat", "-a", "assistant", "-m", "secured")
        wrong = cli(directory, "agents", "status", "--json", env={"AXOCOATL_API_KEY": "nope"})
    finally:
        daemon.stop()
    assert status.returncode == 0, status.stderr
    assert chat.returncode == 0 and "secured" in chat.stdout
    assert wrong.returncode != 0 and "wrong API key" in wrong.stderr
