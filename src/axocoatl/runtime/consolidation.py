"""The sleep-time consolidation loop of a long-running Runtime (the daemon).

Every tick it asks each agent that has new activity, has been idle for
``idle_threshold_secs`` and was not consolidated within ``interval_secs`` to run one
consolidation pass (memory.consolidation). Nothing runs at shutdown (exit stays O(1));
`axocoatl memory consolidate` runs a pass on demand. One-shot CLI commands never start
the loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection, Iterable

from axocoatl.agents.actor import Agent
from axocoatl.config.schema import ConsolidationConfig
from axocoatl.core.ids import Clock
from axocoatl.memory.consolidation import ConsolidationResult

log = logging.getLogger(__name__)

MAX_TICK_SECS = 60.0
MIN_TICK_SECS = 0.05


class ConsolidationLoop:
    def __init__(
        self,
        agents: Callable[[], Iterable[Agent]],
        config: ConsolidationConfig,
        clock: Clock,
        *,
        tick_secs: float | None = None,
    ) -> None:
        self._agents = agents
        self.config = config
        self._clock = clock
        # Short intervals (tests, demos) need a tick finer than the default minute.
        self.tick_secs = tick_secs or max(MIN_TICK_SECS, min(MAX_TICK_SECS, config.interval_secs / 2))

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.tick_secs)
            try:
                await self.run_once()
            except Exception:  # the loop must outlive a bad pass (a database hiccup)
                log.exception("consolidation pass failed")

    async def run_once(self, *, force: bool = False) -> dict[str, ConsolidationResult]:
        """One sweep over the agents; returns the passes that ran (not the skipped ones).

        ``force``: ignore the interval and the idle threshold (an on-demand pass). One agent's
        failing pass never stops the others.
        """
        results: dict[str, ConsolidationResult] = {}
        for agent in list(self._agents()):
            if agent.memory is None or agent.status == "stopped":
                continue
            try:
                await agent.restore()
                state = agent.memory.state
                now = self._clock.now()
                recent = (
                    state.last_consolidated is not None and now - state.last_consolidated < self.config.interval_secs
                )
                if (recent and not force) or not agent.memory.has_new_activity():
                    continue
                idle = 0.0 if force else self.config.idle_threshold_secs
                result = await agent.consolidate(idle_threshold_secs=idle)
            except Exception as exc:
                log.exception("consolidation of agent %s failed", agent.id)
                result = ConsolidationResult("failed", reason=f"{type(exc).__name__}: {exc}")
            if result.status != "skipped":
                results[agent.id] = result
                log.info("consolidated agent %s: %s", agent.id, result.to_json())
        return results

    async def run_now(self, agent_ids: Collection[str] | None = None) -> dict[str, ConsolidationResult]:
        """One pass now for each agent (or those of ``agent_ids``), ignoring interval and idle threshold.

        Unlike run_once, every agent gets a result, a skipped one with its reason
        (`axocoatl memory consolidate`). One agent's failing pass never stops the others.
        """
        results: dict[str, ConsolidationResult] = {}
        for agent in list(self._agents()):
            if agent_ids is not None and agent.id not in agent_ids:
                continue
            if agent.status == "stopped":
                results[agent.id] = ConsolidationResult("skipped", reason="the agent is stopped")
                continue
            try:
                results[agent.id] = await agent.consolidate(idle_threshold_secs=0.0)
            except Exception as exc:
                log.exception("consolidation of agent %s failed", agent.id)
                results[agent.id] = ConsolidationResult("failed", reason=f"{type(exc).__name__}: {exc}")
        return results
