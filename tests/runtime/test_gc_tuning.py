"""The collector settings a runtime leaves its process with: raised gen-0 threshold, unless the program chose one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = """
import asyncio, gc, json, sys, tempfile
from pathlib import Path
from axocoatl.config.schema import AxocoatlConfig
from axocoatl.runtime.runtime import Runtime

if sys.argv[1] == "own":
    gc.set_threshold(500, 5, 5)
before = gc.get_freeze_count()

async def main():
    config = AxocoatlConfig.model_validate({"agents": [{"id": "a", "provider": "mock"}]})
    with tempfile.TemporaryDirectory() as tmp:
        async with Runtime(config, data_dir=Path(tmp)) as rt:
            out = await rt.execute("a", "hello")
    return out.content

reply = asyncio.run(main())
print(json.dumps({"threshold": gc.get_threshold(), "frozen": gc.get_freeze_count() > before, "reply": reply}))
"""


def run(mode: str) -> dict[str, object]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    result: dict[str, object] = json.loads(proc.stdout.splitlines()[-1])
    return result


@pytest.mark.slow
def test_a_runtime_raises_pythons_default_threshold_and_freezes_what_existed_before_it() -> None:
    result = run("default")
    assert result["threshold"] == [10_000, 10, 10]
    assert result["frozen"] is True
    assert result["reply"]  # the runtime worked under the new settings


@pytest.mark.slow
def test_a_program_that_set_its_own_threshold_keeps_it() -> None:
    assert run("own")["threshold"] == [500, 5, 5]
