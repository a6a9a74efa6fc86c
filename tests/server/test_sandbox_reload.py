"""The daemon reports each agent's sandbox tier at start, applies a changed tier on reload, and refuses a
reload to a tier that cannot run here (the previous tier keeps running)."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.server.support import Daemon, write_project

pytestmark = pytest.mark.slow

CONFIG = """
agents:
  - id: coder
    provider: mock
    tools: [bash]
    options:
      tool_calls: [{name: bash, arguments: {command: "test -d /root && echo visible || echo hidden"}}]
      reply: "{tool_result}"
SANDBOX
"""


def test_a_reload_changes_the_tier_and_an_impossible_tier_is_refused(tmp_path: Path) -> None:
    write_project(tmp_path, CONFIG.replace("SANDBOX", ""))
    # A machine with bubblewrap and without podman (podman may be installed here).
    tools = tmp_path / "bin"
    tools.mkdir()
    for name in ("bwrap", "unshare"):
        found = shutil.which(name)
        assert found is not None, f"{name} is not installed (scripts/setup.sh installs bubblewrap)"
        (tools / name).symlink_to(found)
    daemon = Daemon(tmp_path, mode="dev", env={"PATH": str(tools)}).start()
    config = tmp_path / "axocoatl.yaml"

    def sees() -> str:
        with daemon.client() as client:
            output = client.post("/api/agents/coder/execute", json={"input": "x"}).json()["output"]
        return str(json.loads(output)["output"]).strip()

    def wait_for(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, daemon.log()
            time.sleep(0.2)

    try:
        assert "sandbox bubblewrap for coder (auto: Linux with bwrap installed; no network)" in daemon.log()
        assert sees() == "hidden"  # /root is not in the sandbox

        config.write_text(CONFIG.replace("SANDBOX", "sandbox: {tier: podman}"))
        wait_for(lambda: "config reload refused" in daemon.log())
        assert "sandbox.tier is podman, but podman is not installed" in daemon.log()
        assert sees() == "hidden"

        config.write_text(CONFIG.replace("SANDBOX", "sandbox: {tier: none}"))
        wait_for(lambda: "sandbox none for coder (sandbox.tier is none; network allowed)" in daemon.log())
        assert sees() == "visible"
    finally:
        assert daemon.stop() == 0
