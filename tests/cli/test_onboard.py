"""`axocoatl onboard` end to end: from flags (scripts, CI) and as the wizard on a terminal."""

from __future__ import annotations

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
