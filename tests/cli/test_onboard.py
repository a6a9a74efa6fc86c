"""`axocoatl onboard` end to end: from flags (scripts, CI) and as the wizard on a terminal."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.cli.fake_openai import GOOD_KEY, fake_openai
from tests.cli.terminal import Terminal

pytestmark = pytest.mark.slow

Cli = Callable[..., subprocess.CompletedProcess[str]]


def test_from_flags_with_the_mock_provider(tmp_path: Path, axocoatl_cli: Cli) -> None:
    done = axocoatl_cli("onboard", "--yes", "--provider", "mock", "--template", "assistant", "--dir", "p", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "axocoatl chat" in done.stdout and "✓ provider mock" in done.stdout
    project = tmp_path / "p"
    assert not (project / ".env").exists()  # the mock needs no key
    chat = axocoatl_cli("chat", "-m", "hi", cwd=project)
    assert chat.returncode == 0 and "You said: hi" in chat.stdout
    again = axocoatl_cli("onboard", "--yes", "--provider", "mock", "--dir", "p", cwd=tmp_path)
    assert again.returncode == 2 and "not empty" in again.stderr


def test_the_team_and_tools_templates_run_as_scaffolded(tmp_path: Path, axocoatl_cli: Cli) -> None:
    team = axocoatl_cli("onboard", "--yes", "--provider", "mock", "--template", "team", "--dir", "t", cwd=tmp_path)
    assert team.returncode == 0, team.stdout + team.stderr
    assert 'axocoatl workflow run team -i "How do tides work?"' in team.stdout
    run = axocoatl_cli("workflow", "run", "team", "-i", "How do tides work?", "--json", cwd=tmp_path / "t")
    assert run.returncode == 0, run.stderr
    record = json.loads(run.stdout)
    assert record["status"] == "completed"
    [lead] = record["steps"]
    assert lead["agent_id"] == "lead" and "facts (succeeded)" in lead["output"], lead

    tools = axocoatl_cli("onboard", "--yes", "--provider", "mock", "--template", "tools", "--dir", "f", cwd=tmp_path)
    assert tools.returncode == 0, tools.stdout + tools.stderr
    chat = axocoatl_cli("chat", "-m", "Which files are in your workspace?", cwd=tmp_path / "f")
    assert chat.returncode == 0, chat.stderr
    assert "list_dir" in chat.stdout and '"name": "notes.md"' in chat.stdout  # the tool ran in workspace/


def test_a_remote_provider_tested_live_with_the_key_in_a_private_env_file(tmp_path: Path, axocoatl_cli: Cli) -> None:
    with fake_openai() as (base_url, requests):
        args = ("onboard", "--yes", "--provider", "openai", "--template", "research", "--base-url", base_url)
        done = axocoatl_cli(*args, "--dir", "good", cwd=tmp_path, env={"OPENAI_API_KEY": GOOD_KEY})
        assert done.returncode == 0, done.stdout + done.stderr
        assert "the openai provider answered" in done.stdout
        assert requests and requests[0]["body"]["model"] == "gpt-4o-mini"  # type: ignore[index]
        project = tmp_path / "good"
        env_file = project / ".env"
        assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
        assert f"OPENAI_API_KEY={GOOD_KEY}" in env_file.read_text()
        assert GOOD_KEY not in (project / "axocoatl.yaml").read_text()
        # The project works as written: the key comes from .env, not from this environment.
        env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
        command = [sys.executable, "-m", "axocoatl", "workflow", "run", "research", "-i", "x", "--json"]
        run = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stdout + run.stderr

        bad = axocoatl_cli(*args, "--dir", "bad", "--api-key", "sk-wrong", cwd=tmp_path)
        assert bad.returncode == 1
        assert "did not pass the live test" in bad.stdout and "refused" in bad.stdout

    missing = axocoatl_cli(
        "onboard", "--yes", "--provider", "openai", "--dir", "x", cwd=tmp_path, env={"OPENAI_API_KEY": ""}
    )
    assert missing.returncode == 2 and "OPENAI_API_KEY" in missing.stderr and not (tmp_path / "x").exists()
    unknown = axocoatl_cli("onboard", "--yes", "--provider", "nope", cwd=tmp_path)
    assert unknown.returncode == 2 and "mock" in unknown.stderr


def test_the_wizard_on_a_terminal_for_the_local_model(tmp_path: Path) -> None:
    term = Terminal(tmp_path, "onboard", env={"NO_COLOR": "1", "TERM": "xterm", "COLUMNS": "120", "LINES": "40"})
    try:
        term.read_until(b"Which model provider?")
        term.write(b"\r")  # the default: local
        term.read_until(b"Which template?")
        term.write(b"2")  # research
        time.sleep(0.3)
        term.write(b"\r")
        term.read_until(b"Project directory:")
        term.write(b"\x15wizard\r")  # Ctrl-U clears the suggested name
        term.read_until(b"first message")
        term.write(b"n")
        term.read_until(b"next steps:")
    finally:
        code = term.close()
    text = term.text
    assert "provider local" in text
    config = (tmp_path / "wizard" / "axocoatl.yaml").read_text()
    assert "provider: local" in config and "id: summarizer" in config
    assert code == 0, text


def test_the_wizard_on_a_terminal_for_a_remote_provider_with_a_first_run(tmp_path: Path) -> None:
    with fake_openai() as (base_url, requests):
        env = {"NO_COLOR": "1", "TERM": "xterm", "COLUMNS": "120", "LINES": "40", "OPENAI_API_KEY": None}
        term = Terminal(tmp_path, "onboard", "--base-url", base_url, env=env)
        try:
            term.read_until(b"Which model provider?")
            term.write(b"3")  # openai
            time.sleep(0.3)
            term.write(b"\r")
            term.read_until(b"OPENAI_API_KEY (stored in .env, mode 0600):")
            term.write(GOOD_KEY.encode() + b"\r")
            term.read_until(b"Which template?")
            term.write(b"\r")  # the first: assistant
            term.read_until(b"Project directory:")
            term.write(b"\x15remote\r")
            term.read_until(b"Model (empty: the provider's default):")
            term.write(b"\r")
            term.read_until(b"first message")
            term.write(b"y")
            term.read_until(b"next steps:")
        finally:
            code = term.close()
        text = term.text
        assert code == 0, text
        assert "the openai provider answered: connection and model work" in text
        assert "first run: axocoatl chat -m 'Hello! What can you do?'" in text and "assistant> ok" in text, text
        assert GOOD_KEY not in text  # typed into a password prompt: never echoed
        assert "\x1b[1;36massistant>" not in text  # NO_COLOR: the chat's prompt is not coloured either
        sent = [r["body"]["messages"][-1]["content"] for r in requests]  # type: ignore[index]
        assert "Hello! What can you do?" in sent
    project = tmp_path / "remote"
    env_file = project / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600 and f"OPENAI_API_KEY={GOOD_KEY}" in env_file.read_text()
    config = (project / "axocoatl.yaml").read_text()
    assert GOOD_KEY not in config and f"base_url: {base_url}" in config and "provider: openai" in config
