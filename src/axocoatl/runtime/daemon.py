"""What a long-running daemon needs besides the Runtime: its info file and live config reload.

The info file (``<data dir>/daemon.json``) lets CLI commands find the running daemon;
a file left behind by a killed daemon is recognised by its dead pid and ignored.
Reloading swaps agents whose config changed once they are idle, so in-flight runs and
turns finish on the actor they started on; running runs keep the plan they started with.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from axocoatl.config.schema import AxocoatlConfig
from axocoatl.providers.base import Provider
from axocoatl.runtime.ownership import pid_alive
from axocoatl.runtime.runtime import Runtime
from axocoatl.tools.sandbox import agent_runners, log_choices

log = logging.getLogger(__name__)

DAEMON_FILE = "daemon.json"


@dataclass(frozen=True)
class DaemonInfo:
    """Where a running daemon listens. Written once the socket is bound."""

    pid: int
    host: str
    port: int
    started_at: float
    version: str = ""
    config: str = ""
    mode: str = "serve"  # "dev" or "serve"

    @property
    def url(self) -> str:
        host = self.host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"  # a wildcard bind is reachable on loopback
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "url": self.url}


def daemon_file(data_dir: Path) -> Path:
    return Path(data_dir) / DAEMON_FILE


def write_daemon_info(data_dir: Path, info: DaemonInfo) -> Path:
    """Write the info file atomically (readers never see half a file)."""
    path = daemon_file(data_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(info.to_json(), indent=2) + "\n", encoding="utf-8")
    with contextlib.suppress(OSError):
        tmp.chmod(0o600)
    tmp.replace(path)
    return path


def remove_daemon_info(data_dir: Path, pid: int | None = None) -> None:
    """Remove the info file, but only our own (a newer daemon may have replaced it)."""
    path = daemon_file(data_dir)
    current = _read(path)
    if current is not None and pid is not None and current.pid != pid:
        return
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def read_daemon_info(data_dir: Path) -> DaemonInfo | None:
    """The running daemon of this data dir, or None (no file, unreadable, or its process is gone)."""
    info = _read(daemon_file(data_dir))
    if info is None or not pid_alive(info.pid):
        return None
    return info


def _read(path: Path) -> DaemonInfo | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return DaemonInfo(
            pid=int(data["pid"]),
            host=str(data["host"]),
            port=int(data["port"]),
            started_at=float(data.get("started_at", 0.0)),
            version=str(data.get("version", "")),
            config=str(data.get("config", "")),
            mode=str(data.get("mode", "serve")),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


# ---------------------------------------------------------------------------------------- reload


@dataclass
class ReloadReport:
    """What applying a new config changed; ``deferred`` agents swap once their current work ends."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    deferred: list[str] = field(default_factory=list)
    restart_needed: list[str] = field(default_factory=list)  # top-level sections applied only on restart
    mcp_servers: list[str] = field(default_factory=list)  # MCP servers started, stopped or restarted

    @property
    def empty(self) -> bool:
        changes = (self.added, self.removed, self.changed, self.deferred, self.restart_needed, self.mcp_servers)
        return not any(changes)

    def summary(self) -> str:
        parts = []
        for label, ids in (
            ("added", self.added),
            ("removed", self.removed),
            ("changed", self.changed),
            ("waiting for in-flight work", self.deferred),
            ("MCP servers (re)started or stopped", self.mcp_servers),
        ):
            if ids:
                parts.append(f"{label}: {', '.join(ids)}")
        return "; ".join(parts) or "no agent changes"


# Sections a running daemon cannot apply in place: the listening socket and the database.
RESTART_SECTIONS = ("store", "a2a_agents")  # a2a_agents: their tools are registered at start


def _sandboxes(config: AxocoatlConfig) -> object:
    return config.sandbox, [(a.id, a.tools, a.sandbox) for a in config.agents]


class ConfigReloader:
    """Applies a new config to a running Runtime without dropping in-flight work.

    An agent whose config changed is rebuilt from its committed state once it is idle;
    until then it keeps working with its old config. Call ``poll`` periodically to
    finish deferred swaps.
    """

    def __init__(self, runtime: Runtime, *, on_swap: Callable[[str], None] | None = None) -> None:
        self.runtime = runtime
        self._pending: dict[str, str] = {}  # agent id -> "changed" | "removed"
        self._on_swap = on_swap
        self.retired: list[Provider] = []  # providers of an older config, closed by the owner at shutdown

    @property
    def pending(self) -> list[str]:
        return sorted(self._pending)

    async def apply(self, config: AxocoatlConfig) -> ReloadReport:
        rt = self.runtime
        old = rt.config
        report = ReloadReport()
        report.restart_needed = [s for s in RESTART_SECTIONS if getattr(old, s) != getattr(config, s)]
        old_agents = {a.id: a for a in old.agents}
        new_agents = {a.id: a for a in config.agents}
        providers_changed = old.providers != config.providers
        # Before anything changes: a sandbox tier that cannot run here refuses the whole reload.
        runners, choices = agent_runners(config)
        if _sandboxes(old) != _sandboxes(config):
            log_choices(choices)
        rt.config = config
        rt.tool_services.runners = runners  # an agent's next command runs under its new tier
        rt.scheduler.poke()  # new, re-timed or disabled schedules take effect now
        report.mcp_servers = await rt.mcp.reconfigure(config.mcp_servers)
        if providers_changed:
            # Providers are rebuilt lazily from the new config; the old ones close when
            # nothing uses them any more (at shutdown at the latest).
            self.retired.extend(rt.forget_providers())
        for agent_id, agent_config in new_agents.items():
            if agent_id not in old_agents:
                rt.agents[agent_id] = rt.build_agent(agent_id)
                report.added.append(agent_id)
            elif old_agents[agent_id] != agent_config or providers_changed:
                self._pending[agent_id] = "changed"
                report.changed.append(agent_id)
            else:
                self._pending.pop(agent_id, None)
        for agent_id in old_agents:
            if agent_id not in new_agents:
                self._pending[agent_id] = "removed"
                report.removed.append(agent_id)
        await self.poll()
        report.deferred = self.pending
        return report

    async def poll(self) -> list[str]:
        """Swap every deferred agent that is idle now; returns the ids swapped."""
        rt = self.runtime
        swapped = []
        for agent_id, change in list(self._pending.items()):
            agent = rt.agents.get(agent_id)
            if agent is not None and _busy(agent.statistics().status, agent.statistics().queued):
                continue
            del self._pending[agent_id]
            if change == "removed":
                rt.agents.pop(agent_id, None)
            elif rt.config.agent(agent_id) is not None:
                # Replace first, then stop the old actor: nobody ever sees a stopped agent.
                rt.agents[agent_id] = rt.build_agent(agent_id)
            if agent is not None:
                await agent.stop()
            swapped.append(agent_id)
            if self._on_swap is not None:
                self._on_swap(agent_id)
        return swapped


def _busy(status: str, queued: int) -> bool:
    return status == "running" or queued > 0


def uptime(started_at: float) -> float:
    return max(0.0, time.time() - started_at)
