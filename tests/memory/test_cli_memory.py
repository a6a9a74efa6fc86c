"""`axocoatl memory blocks|search|log`: read-only views of the store, without starting agents."""

from __future__ import annotations

import asyncio
import json
import textwrap
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from axocoatl.cli.main import app
from axocoatl.memory.embedding import HashedEmbedder
from axocoatl.runtime.runtime import Runtime

from .support import config

YAML = """
agents:
  - id: ada
    provider: mock
    options:
      reply: ok
      tool_calls: [{name: core_memory_append, arguments: {block: human, text: "Lives in Porto."}}]
  - id: bob
    provider: mock
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "axocoatl.yaml").write_text(textwrap.dedent(YAML))
    monkeypatch.setenv("AXOCOATL_EMBEDDER", "hashed")  # the CLI embeds queries like the runtime did
    monkeypatch.setattr("axocoatl.memory.embedding._cached", {})

    async def populate() -> None:
        async with Runtime(config(YAML), data_dir=tmp_path / "data", embedder=HashedEmbedder()) as rt:
            await rt.execute("ada", "I moved to Porto last spring and I cycle to work.")
            await rt.execute("ada", "The budget review is on Thursday.")

    asyncio.run(populate())
    return tmp_path


def cli(project: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, ["--config", str(project / "axocoatl.yaml"), "--data-dir", str(project / "data"), "memory", *args]
    )
    return result.exit_code, result.output


def test_blocks_show_the_edited_values(project: Path) -> None:
    code, out = cli(project, "blocks", "ada", "--json")
    assert code == 0, out
    blocks = {b["label"]: b for b in json.loads(out)}
    assert blocks["human"]["value"] == "Lives in Porto.\nLives in Porto."
    assert blocks["human"]["limit"] == 2000 and blocks["persona"]["value"] == ""
    code, out = cli(project, "blocks", "ada")
    assert code == 0 and "human (31/2000 chars)" in out and "Lives in Porto." in out


def test_search_finds_the_related_exchange(project: Path) -> None:
    code, out = cli(project, "search", "ada", "Porto cycle", "--json", "-k", "1")
    assert code == 0, out
    data = json.loads(out)
    assert data["count"] == 1 and "I moved to Porto" in data["results"][0]["text"]
    code, out = cli(project, "search", "ada", "Porto cycle")
    assert code == 0 and "I moved to Porto" in out


def test_log_shows_the_day(project: Path) -> None:
    code, out = cli(project, "log", "ada", "--json")
    assert code == 0, out
    data = json.loads(out)
    assert data["date"] == date.today().isoformat()
    assert [e["type"] for e in data["entries"]] == ["tool_call", "conversation", "tool_call", "conversation"]
    code, out = cli(project, "log", "ada", "--date", "2001-01-01")
    assert code == 0 and "no activity logged" in out
    code, out = cli(project, "log", "ada", "--date", "soon")
    assert code == 2 and "is not a date" in out


def test_unknown_agent_gets_a_did_you_mean(project: Path) -> None:
    for command in (["blocks", "adda"], ["search", "adda", "x"], ["log", "adda"]):
        code, out = cli(project, *command)
        assert code == 3  # not found
        assert "unknown agent 'adda'" in out and "did you mean 'ada'?" in out


def test_an_agent_without_data_and_no_database_reads_empty(tmp_path: Path) -> None:
    (tmp_path / "axocoatl.yaml").write_text(textwrap.dedent(YAML))
    code, out = cli(tmp_path, "search", "bob", "anything", "--json")
    assert code == 0 and json.loads(out)["count"] == 0
    code, out = cli(tmp_path, "blocks", "bob", "--json")
    assert code == 0 and [b["label"] for b in json.loads(out)] == ["persona", "human", "project"]
    assert not (tmp_path / "data").exists()  # read-only: nothing was created
