"""`axocoatl memory consolidate`: one pass now, per agent what it did; in-process, or in the daemon."""

from __future__ import annotations

import asyncio
import json
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
from tests.conftest import run_cli
from typer.testing import CliRunner

from axocoatl.cli.main import app
from axocoatl.runtime.runtime import Runtime

from .support import config

# The mock answers every request with this text: for a chat turn it is just a reply; for a
# consolidation pass it is the edit array (one append, one replace, one edit of an unknown block).
EDITS = json.dumps(
    [
        {"op": "append", "block": "human", "text": "Drinks green tea."},
        {"op": "replace", "block": "project", "old": "Postgres 14", "new": "Postgres 16"},
        {"op": "set", "block": "diary", "value": "x"},
    ]
)
YAML = f"""
agents:
  - id: ada
    provider: mock
    options: {{reply: '{EDITS}'}}
    memory:
      core:
        blocks:
          - {{label: human, limit: 2000}}
          - {{label: project, limit: 2000, value: "We run Postgres 14."}}
  - id: flaky                      # its turns work; its consolidation call fails
    provider: mock
    options: {{fail_when: "Core-memory blocks"}}
  - id: blank                      # activity, but no core memory to consolidate into
    provider: mock
    memory: {{core: {{blocks: []}}}}
  - id: idle                       # never ran
    provider: mock
consolidation:                     # the on-demand pass ignores all three
  enabled: false                   # (this switches off only the daemon's background loop)
  idle_threshold_secs: 86400
  interval_secs: 86400
"""


async def talk(data_dir: Path, *agents: str) -> None:
    async with Runtime(config(YAML), data_dir=data_dir) as rt:
        for agent in agents:
            await rt.execute(agent, "I drink green tea every morning.")


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "axocoatl.yaml").write_text(textwrap.dedent(YAML))
    monkeypatch.setenv("AXOCOATL_EMBEDDER", "hashed")
    monkeypatch.setattr("axocoatl.memory.embedding._cached", {})
    asyncio.run(talk(tmp_path / "data", "ada", "flaky", "blank"))
    return tmp_path


def cli(project: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, ["--config", str(project / "axocoatl.yaml"), "--data-dir", str(project / "data"), *args]
    )
    return result.exit_code, result.output


def by_agent(out: str) -> dict[str, dict[str, Any]]:
    return {entry["agent_id"]: entry for entry in json.loads(out)["agents"]}


def test_one_pass_per_agent_says_what_it_did_and_a_failure_exits_1(project: Path) -> None:
    code, out = cli(project, "memory", "consolidate", "--json")
    assert code == 1, out
    report = json.loads(out)
    agents = by_agent(out)
    assert list(agents) == ["ada", "flaky", "blank", "idle"]  # every agent, in config order
    assert report["failed"] == 1
    ada = agents["ada"]
    assert ada["status"] == "done" and ada["promoted"] == 1 and ada["rewritten"] == 1
    assert ada["rejected"] == ["edit 2: unknown or shared block 'diary'"]
    assert ada["usage"]["total"] == ada["usage"]["input"] + ada["usage"]["output"] > 0
    assert agents["flaky"]["status"] == "failed"
    assert "mock provider was asked to fail" in agents["flaky"]["reason"]
    assert agents["blank"] == {**agents["blank"], "status": "skipped", "reason": "no local core-memory blocks"}
    assert agents["idle"]["status"] == "skipped"
    assert agents["idle"]["reason"] == "no new activity since the last pass"
    # The edits were committed: the blocks read back from the store.
    code, out = cli(project, "memory", "blocks", "ada", "--json")
    blocks = {b["label"]: b["value"] for b in json.loads(out)}
    assert blocks == {"human": "Drinks green tea.", "project": "We run Postgres 16."}


def test_nothing_to_do_exits_0_and_a_new_turn_is_consolidated_at_once(project: Path) -> None:
    cli(project, "memory", "consolidate", "-a", "ada")
    code, out = cli(project, "memory", "consolidate", "-a", "ada", "--json")
    assert code == 0, out
    assert by_agent(out)["ada"]["status"] == "skipped"
    assert by_agent(out)["ada"]["reason"] == "no new activity since the last pass"
    # A turn just now: neither the day-long idle threshold nor the interval holds the pass back.
    asyncio.run(talk(project / "data", "ada"))
    code, out = cli(project, "memory", "consolidate", "--agent", "ada", "--json")
    assert code == 0, out
    assert list(by_agent(out)) == ["ada"]  # only the agent asked for
    assert by_agent(out)["ada"]["status"] == "done"


def test_text_output(project: Path) -> None:
    code, out = cli(project, "memory", "consolidate")
    lines = out.splitlines()
    assert code == 1
    assert "ada: promoted 1, rewritten 1, rejected 1 (" in lines[0] and lines[0].endswith(" tokens)")
    assert lines[1].strip() == "rejected: edit 2: unknown or shared block 'diary'"
    assert lines[2].startswith("flaky: failed — the mock provider was asked to fail")
    assert "blank: skipped — no local core-memory blocks" in out
    assert "idle: skipped — no new activity since the last pass" in out


def test_a_failing_agent_alone_exits_1_and_an_unknown_one_3(project: Path) -> None:
    failing, _ = cli(project, "memory", "consolidate", "-a", "flaky")
    unknown, out = cli(project, "memory", "consolidate", "-a", "adaa")
    assert failing == 1
    assert unknown == 3 and "unknown agent 'adaa'" in out and "did you mean 'ada'?" in out


@pytest.mark.slow
def test_through_the_daemon(project: Path) -> None:
    from tests.server.support import Daemon

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli("--data-dir", "data", *args, cwd=project, env={"AXOCOATL_EMBEDDER": "hashed"})

    daemon = Daemon(project).start()
    try:
        first = run("memory", "consolidate", "--json")
        again = run("memory", "consolidate", "-a", "ada", "--json")
        with daemon.client() as client:
            client.post("/api/agents/ada/execute", json={"input": "And oat milk."})
            over_http = client.post("/api/memory/consolidate", params={"agent": "ada"})
            ghost = client.post("/api/memory/consolidate", params={"agent": "adaa"})
    finally:
        daemon.stop()
    assert first.returncode == 1, first.stderr
    agents = by_agent(first.stdout)
    assert agents["ada"]["status"] == "done" and agents["flaky"]["status"] == "failed"
    assert agents["idle"]["status"] == "skipped"
    assert again.returncode == 0 and by_agent(again.stdout)["ada"]["status"] == "skipped"
    assert "POST /api/memory/consolidate 200" in daemon.log()  # the daemon ran them, not the CLI
    assert over_http.status_code == 200, over_http.text
    assert over_http.json()["failed"] == 0 and by_agent(over_http.text)["ada"]["status"] == "done"
    assert ghost.status_code == 404 and "did you mean 'ada'" in ghost.json()["hint"]
