"""Schema-driven fuzzing of /openapi.json with schemathesis: no 5xx, no hang, responses match the schema."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tests.server.support import running_daemon

pytestmark = pytest.mark.slow

KEYED = """
agents:
  - id: assistant
    provider: mock
    tools: [echo]
  - id: researcher
    provider: mock
  - id: summarizer
    provider: mock
    depends_on: [researcher]
workflows:
  - id: research
    agents: [researcher, summarizer]
server:
  auth: {api_keys: ["fuzz-key"]}
"""


def schemathesis() -> list[str]:
    exe = Path(sys.executable).with_name("schemathesis")
    if exe.exists():
        return [str(exe)]
    found = shutil.which("schemathesis")
    if found is None:
        pytest.skip("schemathesis is not installed (pip install -e '.[dev]')")
    return [found]


def test_fuzz_the_openapi_schema(tmp_path: Path) -> None:
    with running_daemon(tmp_path, KEYED) as daemon:
        result = subprocess.run(
            [
                *schemathesis(),
                "run",
                f"{daemon.url}/openapi.json",
                "--header",
                "x-api-key: fuzz-key",
                "--checks",
                "all",
                "--max-examples",
                "25",
                "--workers",
                "1",
                "--request-timeout",
                "10",
                "--max-response-time",
                "10",
                "--seed",
                "20261125",
            ],
            capture_output=True,
            text=True,
            timeout=280,
            cwd=tmp_path,
        )
        log = daemon.log()
    summary = result.stdout[-3000:]
    assert result.returncode == 0, summary
    assert "passed" in summary
    assert "internal error" not in log and "Traceback" not in log
