"""A provider key in the `.env` beside the config reaches the provider, with or without `${VAR}` in the config
(docs/providers.md: `.env` is loaded into the environment, without overriding variables already set)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from tests.cli.fake_openai import GOOD_KEY, fake_openai
from tests.conftest import run_cli

pytestmark = pytest.mark.slow

CONFIG = """
agents:
  - id: remote
    provider: openai
    model: gpt-4o-mini
providers:
  openai:
    base_url: {url}
    max_retries: 0
workflows:
  - id: ask
    agents: [remote]
"""


def test_a_key_in_dotenv_is_used_and_a_shell_export_wins(tmp_path: Path) -> None:
    with fake_openai() as (url, requests):
        (tmp_path / "axocoatl.yaml").write_text(CONFIG.format(url=url), encoding="utf-8")
        (tmp_path / ".env").write_text(f"OPENAI_API_KEY={GOOD_KEY}\n", encoding="utf-8")
        elsewhere = tmp_path / "elsewhere"
        elsewhere.mkdir()
        config = str(tmp_path / "axocoatl.yaml")
        assert "OPENAI_API_KEY" not in os.environ  # the key is only in .env

        ok = run_cli("-c", config, "workflow", "run", "ask", "-i", "hi", "--json", cwd=elsewhere)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert json.loads(ok.stdout)["final_output"] == "ok"

        doctor = run_cli("-c", config, "doctor", "--json", cwd=elsewhere)
        finding = next(f for f in json.loads(doctor.stdout)["findings"] if f["check"] == "provider openai")
        assert finding["status"] == "ok", finding

        wrong = run_cli(
            "-c", config, "workflow", "run", "ask", "-i", "hi", "--json", cwd=elsewhere, env={"OPENAI_API_KEY": "sk-x"}
        )
        assert wrong.returncode == 1 and "rejected the credentials" in wrong.stdout
    assert len(requests) >= 3
