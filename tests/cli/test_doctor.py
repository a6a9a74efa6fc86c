"""`axocoatl doctor` and `validate --json` as a user runs them, on healthy and deliberately broken projects."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.cli.fake_openai import GOOD_KEY, fake_openai

pytestmark = pytest.mark.slow

Cli = Callable[..., subprocess.CompletedProcess[str]]

MOCK = """
agents:
  - id: assistant
    provider: mock
server:
  port: {port}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _project(tmp_path: Path, text: str) -> Path:
    directory = tmp_path / "proj"
    directory.mkdir(exist_ok=True)
    (directory / "axocoatl.yaml").write_text(text, encoding="utf-8")
    return directory


def _doctor(cli: Cli, project: Path, *args: str, **kw: object) -> tuple[int, dict[str, object]]:
    result = cli("doctor", "--json", *args, cwd=project, **kw)
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout)


def _by_check(report: dict[str, object]) -> dict[str, list[dict[str, str]]]:
    found: dict[str, list[dict[str, str]]] = {}
    for f in report["findings"]:  # type: ignore[attr-defined]
        found.setdefault(f["check"], []).append(f)
    return found


def test_a_healthy_mock_project_is_ready_and_doctor_creates_nothing(tmp_path: Path, axocoatl_cli: Cli) -> None:
    project = _project(tmp_path, MOCK.format(port=_free_port()))
    code, report = _doctor(axocoatl_cli, project)
    assert code == 0 and report["ok"] is True, report
    checks = _by_check(report)
    assert {f["status"] for f in checks["provider mock"]} == {"ok"}
    assert checks["sandbox"][0]["message"].startswith("no agent runs commands; they would run under bubblewrap")
    assert checks["MCP servers"][0]["message"] == "none configured"
    assert not (project / ".axocoatl").exists()  # read-only: no data dir, no database
    human = axocoatl_cli("doctor", cwd=project)
    assert human.returncode == 0 and "✓ config:" in human.stdout and "ready" in human.stdout


def test_a_corrupt_database_fails_with_the_fix(tmp_path: Path, axocoatl_cli: Cli) -> None:
    project = _project(tmp_path, MOCK.format(port=_free_port()))
    (project / ".axocoatl").mkdir()
    (project / ".axocoatl" / "axocoatl.db").write_bytes(b"this is not sqlite at all, just text" * 10)
    code, report = _doctor(axocoatl_cli, project)
    assert code == 1 and report["ok"] is False
    db = _by_check(report)["database"][0]
    assert db["status"] == "fail" and "not an SQLite database" in db["message"] and "move" in db["fix"]


def test_a_locked_database_and_a_busy_port_fail(tmp_path: Path, axocoatl_cli: Cli) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        project = _project(tmp_path, MOCK.format(port=port))
        db_path = project / ".axocoatl" / "axocoatl.db"
        db_path.parent.mkdir()
        sqlite3.connect(db_path).executescript("PRAGMA journal_mode=WAL; CREATE TABLE schema_migrations(version);")
        holder = sqlite3.connect(db_path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            code, report = _doctor(axocoatl_cli, project)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
    checks = _by_check(report)
    assert code == 1
    assert checks["database lock"][0]["status"] == "fail" and "locked" in checks["database lock"][0]["message"]
    assert checks["port"][0]["status"] == "fail" and str(port) in checks["port"][0]["message"]
    assert "server.port" in checks["port"][0]["fix"]


def test_a_nearly_full_disk_fails_and_a_low_one_warns(tmp_path: Path, axocoatl_cli: Cli) -> None:
    # Data dirs on small filesystems (the tests run as root, as CI does): 50 MB free fails, 500 MB warns.
    project = _project(tmp_path, MOCK.format(port=_free_port()))
    verdicts = {}
    for size in ("50m", "500m"):
        disk = tmp_path / f"disk-{size}"
        disk.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk)], check=True)
        try:
            code, report = _doctor(axocoatl_cli, project, "--data-dir", str(disk / "data"))
        finally:
            subprocess.run(["umount", str(disk)], check=True)
        verdicts[size] = (code, _by_check(report)["disk"][0])
    code, full = verdicts["50m"]
    assert code == 1 and full["status"] == "fail" and "--data-dir" in full["fix"], full
    assert full["message"].startswith("50 MiB free on the disk of") and "disk-50m" in full["message"]
    code, low = verdicts["500m"]
    assert code == 0 and low["status"] == "warn" and low["message"].startswith("500 MiB free"), low
    assert "free some disk space" in low["fix"]


def test_remote_provider_key_accepted_refused_and_model_missing(tmp_path: Path, axocoatl_cli: Cli) -> None:
    with fake_openai() as (base_url, requests):
        text = f"""
agents:
  - id: assistant
    provider: openai
    model: gpt-4o-mini
providers:
  openai:
    api_key: ${{OPENAI_API_KEY}}
    base_url: {base_url}
    max_retries: 0
server:
  port: {_free_port()}
"""
        project = _project(tmp_path, text)
        code, report = _doctor(axocoatl_cli, project, env={"OPENAI_API_KEY": GOOD_KEY})
        assert code == 0, report
        assert _by_check(report)["provider openai"][0]["status"] == "ok"
        assert requests, "doctor made a real call to the provider"

        code, report = _doctor(axocoatl_cli, project, env={"OPENAI_API_KEY": "sk-wrong"})
        openai = _by_check(report)["provider openai"][0]
        assert code == 1 and openai["status"] == "fail" and "refused" in openai["message"]

        (project / "axocoatl.yaml").write_text(text.replace("model: gpt-4o-mini", "model: gpt-nope"))
        code, report = _doctor(axocoatl_cli, project, env={"OPENAI_API_KEY": GOOD_KEY})
        openai = _by_check(report)["provider openai"][0]
        assert code == 1 and openai["status"] == "fail" and "gpt-nope" in openai["message"]


def test_unreachable_ollama_and_a_missing_local_model(tmp_path: Path, axocoatl_cli: Cli) -> None:
    text = f"""
agents:
  - id: a
    provider: ollama
    model: llama3.2
  - id: b
    provider: local
    model: {tmp_path}/missing.gguf
  - id: c
    provider: local
    model: {tmp_path}/broken.gguf
  - id: d
    provider: local
providers:
  ollama:
    base_url: http://127.0.0.1:{_free_port()}
"""
    (tmp_path / "broken.gguf").write_bytes(b"GGUF" + bytes(200))  # the right magic, then nothing llama.cpp can load
    project = _project(tmp_path, text)
    code, report = _doctor(axocoatl_cli, project)
    checks = _by_check(report)
    assert code == 1
    assert checks["provider ollama"][0]["status"] == "fail" and "ollama serve" in checks["provider ollama"][0]["fix"]
    assert any(f["status"] == "fail" and "missing.gguf" in f["message"] for f in checks["config"])
    # the missing file is one problem (the config's), not repeated under the provider
    assert not any("missing.gguf" in f["message"] for f in checks["provider local"])
    broken, bundled = checks["provider local"]
    assert broken["status"] == "fail" and "llama.cpp could not load the local model" in broken["message"], broken
    assert "complete GGUF model" in broken["fix"]
    assert (
        bundled["status"] == "ok"
        and "SmolLM2-135M-Instruct" in bundled["message"]
        and "loads in llama.cpp" in bundled["message"]
    )


def test_no_config_fails_with_the_way_to_make_one(tmp_path: Path, axocoatl_cli: Cli) -> None:
    code, report = _doctor(axocoatl_cli, tmp_path)
    config = _by_check(report)["config"][0]
    assert code == 1 and config["status"] == "fail" and "onboard" in config["fix"]


def test_validate_json(tmp_path: Path, axocoatl_cli: Cli) -> None:
    project = _project(tmp_path, MOCK.format(port=8080))
    good = axocoatl_cli("validate", "--json", cwd=project)
    assert good.returncode == 0
    data = json.loads(good.stdout)
    assert data["valid"] is True and data["errors"] == [] and data["counts"]["agents"] == 1
    (project / "axocoatl.yaml").write_text("agents:\n  - id: a\n    provider: nope\n")
    bad = axocoatl_cli("validate", "--json", cwd=project)
    assert bad.returncode == 2
    data = json.loads(bad.stdout)
    assert data["valid"] is False and data["errors"][0]["path"].startswith("agents")
    assert data["errors"][0]["line"] == 3
