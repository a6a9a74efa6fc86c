"""Supervision: restart agents whose actor crashed, from their committed state, with backoff.

A crash is an actor that stopped without being asked to, or a turn that failed with an
unexpected error (a bug, not a provider error, a budget refusal or a timeout: those are
the turn's result and the actor is fine). The supervisor restarts such an agent with
``Runtime.restart_agent`` once it is idle, waiting ``backoff`` between consecutive
restarts, and gives up after ``max_restarts`` in a row until the config is reloaded.

It works from the Agent's public API (``statistics()``), the bus's ``AgentFailed``
events and failures reported by callers (``observe_failure``).
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from axocoatl.core import errors as axo_errors
from axocoatl.core import events as ev
from axocoatl.core.errors import AxocoatlError
from axocoatl.core.events import RuntimeEvent
from axocoatl.core.ids import iso
from axocoatl.runtime.runtime import Runtime

log = logging.getLogger(__name__)

# The original's supervision loop: poll every 5 s, at most 5 consecutive restarts.
POLL_SECS = 5.0
MAX_RESTARTS = 5
BACKOFF_BASE_SECS = 1.0  # wait before the n-th consecutive restart: base * 2**(n-1), capped
BACKOFF_MAX_SECS = 60.0
STABLE_SECS = 60.0  # a restarted agent that stays healthy this long starts counting from zero again

_ERROR_PREFIX = re.compile(r"^([A-Za-z_][\w.]*): ")
_AXOCOATL_ERRORS = {
    name for name, value in vars(axo_errors).items() if isinstance(value, type) and issubclass(value, AxocoatlError)
}
_BUILTIN_ERRORS = {
    name for name, value in vars(builtins).items() if isinstance(value, type) and issubclass(value, BaseException)
}


def unexpected_error_text(text: str | None) -> bool:
    """Whether a step error (``describe_error`` text) comes from an unexpected exception.

    ``describe_error`` writes axocoatl's own errors as their message and every other
    exception as ``TypeName: message``; only the latter is a crash.
    """
    if not text:
        return False
    match = _ERROR_PREFIX.match(text)
    if match is None:
        return False
    name = match.group(1).rsplit(".", 1)[-1]
    if name in _AXOCOATL_ERRORS:
        return False
    return name in _BUILTIN_ERRORS or name.endswith(("Error", "Exception"))


async def agent_in_use(runtime: Runtime, agent_id: str) -> bool:
    """Whether restarting ``agent_id`` now would cancel work: a turn running or queued, or a
    workflow step activated for it (committed as running before its turn starts)."""
    agent = runtime.agents.get(agent_id)
    if agent is not None:
        stats = agent.statistics()
        if stats.status == "running" or stats.queued:
            return True
    for run_id in runtime.active_run_ids():
        run = await runtime.store.get_run(run_id)
        if run is not None and any(
            s.agent_id == agent_id and s.status in ("running", "awaiting_approval") for s in run.steps
        ):
            return True
    return False


@dataclass
class SupervisionState:
    """What supervision did to one agent, as shown by its status."""

    restarts: int = 0  # total restarts by the supervisor since the daemon started
    consecutive: int = 0  # restarts in a row without a healthy period between them
    last_reason: str | None = None
    last_crash_at: float | None = None
    last_restart_at: float | None = None
    next_restart_at: float | None = None
    gave_up: bool = False
    crashed: bool = False  # a crash is waiting for its restart

    def to_json(self) -> dict[str, Any]:
        return {
            "restarts": self.restarts,
            "consecutive": self.consecutive,
            "last_reason": self.last_reason,
            "last_crash_at": iso(self.last_crash_at),
            "last_restart_at": iso(self.last_restart_at),
            "next_restart_at": iso(self.next_restart_at),
            "gave_up": self.gave_up,
        }


class Supervisor:
    """Restarts crashed agents of one Runtime. ``start()`` it; ``aclose()`` before the runtime."""

    def __init__(
        self,
        runtime: Runtime,
        *,
        poll_secs: float = POLL_SECS,
        max_restarts: int = MAX_RESTARTS,
        backoff_base: float = BACKOFF_BASE_SECS,
        backoff_max: float = BACKOFF_MAX_SECS,
        stable_secs: float = STABLE_SECS,
        on_restart: Callable[[str, SupervisionState], None] | None = None,
    ) -> None:
        self.runtime = runtime
        self.poll_secs = poll_secs
        self.max_restarts = max_restarts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.stable_secs = stable_secs
        self._on_restart = on_restart
        self._states: dict[str, SupervisionState] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._unsubscribe: Callable[[], None] | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self._task is not None:
            return
        self._unsubscribe = self.runtime.bus.subscribe(self._on_event, tokens=False)
        self._task = asyncio.create_task(self._loop(), name="supervisor")

    async def aclose(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def reset(self) -> None:
        """Forget consecutive counts and give-ups (after a config reload), keeping the totals."""
        now = self.runtime.clock.now()
        for state in self._states.values():
            state.consecutive = 0
            state.gave_up = False
            state.next_restart_at = now if state.crashed else None
        self._wake.set()

    # ------------------------------------------------------------------ observing

    def state(self, agent_id: str) -> SupervisionState:
        return self._states.setdefault(agent_id, SupervisionState())

    def lock(self, agent_id: str) -> asyncio.Lock:
        """Held while an agent is being restarted, by the supervisor or by a manual restart."""
        return self._locks.setdefault(agent_id, asyncio.Lock())

    def observe_failure(self, agent_id: str, error: BaseException) -> None:
        """A caller saw ``agent_id`` fail a turn with ``error``; unexpected errors count as a crash."""
        if isinstance(error, AxocoatlError | asyncio.CancelledError):
            return
        self.crash(agent_id, f"{type(error).__name__}: {error}")

    def crash(self, agent_id: str, reason: str) -> None:
        """Record that ``agent_id`` crashed; the loop restarts it after its backoff."""
        state = self.state(agent_id)
        if state.crashed:
            return
        now = self.runtime.clock.now()
        state.crashed = True
        state.last_reason = reason
        state.last_crash_at = now
        if state.consecutive >= self.max_restarts:
            if not state.gave_up:
                log.error(
                    "agent %s crashed again (%s); not restarting it after %d restarts in a row "
                    "(reload the config or restart it by hand: `axocoatl agents restart %s`)",
                    agent_id,
                    reason,
                    state.consecutive,
                    agent_id,
                )
            state.gave_up = True
            state.next_restart_at = None
        else:
            delay = min(self.backoff_base * 2**state.consecutive, self.backoff_max)
            state.next_restart_at = now + delay
            log.warning("agent %s crashed (%s); restarting it in %.1f s", agent_id, reason, delay)
        self._wake.set()

    def _on_event(self, event: RuntimeEvent) -> None:
        if event.type != ev.AGENT_FAILED or not event.agent_id or event.origin:
            return  # another node's agent failing is that node's to supervise
        error = event.payload.get("error")
        if isinstance(error, str) and unexpected_error_text(error):
            self.crash(event.agent_id, error)

    # ------------------------------------------------------------------ restarting

    def manual_restart_done(self, agent_id: str) -> None:
        """A restart by hand clears a pending crash and a give-up."""
        state = self.state(agent_id)
        state.crashed = False
        state.gave_up = False
        state.consecutive = 0
        state.next_restart_at = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.check()
            except Exception:  # supervision must outlive any one bad check
                log.exception("supervision check failed")
            wait = self.poll_secs
            due = [s.next_restart_at for s in self._states.values() if s.crashed and s.next_restart_at is not None]
            if due:
                wait = max(0.0, min(wait, min(due) - self.runtime.clock.now()))
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait)

    async def check(self) -> list[str]:
        """One pass: notice stopped actors, restart what is due, forget old crashes. Returns restarted ids."""
        rt = self.runtime
        now = rt.clock.now()
        restarted = []
        for agent_id, agent in list(rt.agents.items()):
            stats = agent.statistics()
            state = self.state(agent_id)
            if self.lock(agent_id).locked():
                continue
            if stats.crash and not state.crashed:
                # The actor reports its last turn died of an unexpected error.
                self.crash(agent_id, stats.crash)
            if stats.status == "stopped" and not state.crashed:
                # Only the runtime stops actors, and it replaces them first: a stopped actor
                # still registered means its worker is gone.
                self.crash(agent_id, "the actor stopped unexpectedly")
            if state.crashed:
                due = state.next_restart_at is not None and state.next_restart_at <= rt.clock.now()
                if due and not state.gave_up and not await agent_in_use(rt, agent_id):
                    await self._restart(agent_id, state)
                    restarted.append(agent_id)
            elif (
                state.consecutive
                and state.last_restart_at is not None
                and now - state.last_restart_at >= self.stable_secs
                and stats.status != "failed"
            ):
                state.consecutive = 0
        return restarted

    async def _restart(self, agent_id: str, state: SupervisionState) -> None:
        async with self.lock(agent_id):
            try:
                await self.runtime.restart_agent(agent_id)
            except AxocoatlError as exc:  # removed from the config meanwhile
                log.warning("could not restart agent %s: %s", agent_id, exc)
                state.crashed = False
                return
        state.crashed = False
        state.restarts += 1
        state.consecutive += 1
        state.last_restart_at = self.runtime.clock.now()
        state.next_restart_at = None
        log.warning(
            "restarted agent %s from its committed state (restart %d in a row, %d in total; reason: %s)",
            agent_id,
            state.consecutive,
            state.restarts,
            state.last_reason,
        )
        if self._on_restart is not None:
            self._on_restart(agent_id, state)
