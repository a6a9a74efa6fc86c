"""Helpers for the runtime tests: build mock-provider configs from plain data, inspect runs."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import yaml

from axocoatl.config.loader import parse_config_text
from axocoatl.config.schema import AxocoatlConfig
from axocoatl.store import RunRecord, StepRecord


def mock_agent(agent_id: str, depends_on: Sequence[str] = (), **fields: Any) -> dict[str, Any]:
    """One mock agent; ``options=`` takes MockOptions, other keywords are agent fields."""
    data: dict[str, Any] = {"id": agent_id, "provider": "mock"}
    if depends_on:
        data["depends_on"] = list(depends_on)
    data.update(fields)
    return data


def build_config(
    agents: Iterable[dict[str, Any]],
    *,
    workflow: str = "wf",
    members: Sequence[str] | None = None,
    **extra: Any,
) -> AxocoatlConfig:
    """A validated config with one workflow over ``agents`` (all of them unless ``members``)."""
    agents = list(agents)
    workflow_fields = extra.pop("workflow_fields", {})
    data: dict[str, Any] = {
        "agents": agents,
        "workflows": [{"id": workflow, "agents": list(members or [a["id"] for a in agents]), **workflow_fields}],
        **extra,
    }
    return parse_config_text(yaml.safe_dump(data, sort_keys=False), file="test.yaml", env={}).config


def steps(run: RunRecord) -> dict[str, StepRecord]:
    return {s.agent_id: s for s in run.steps}


def overlap(a: StepRecord, b: StepRecord) -> bool:
    """Whether two steps ran at the same time (their [started, finished] intervals intersect)."""
    assert a.started_at is not None and a.finished_at is not None
    assert b.started_at is not None and b.finished_at is not None
    return a.started_at < b.finished_at and b.started_at < a.finished_at


def assert_after(run: RunRecord, later: str, *earlier: str) -> None:
    """``later`` started only once every step in ``earlier`` had finished."""
    by_id = steps(run)
    start = by_id[later].started_at
    assert start is not None, f"{later} never started"
    for agent in earlier:
        finished = by_id[agent].finished_at
        assert finished is not None, f"{agent} never finished"
        assert start >= finished, f"{later} started at {start} before {agent} finished at {finished}"


T0 = 1_750_000_000.0  # a fixed moment: times are computed from the clock, never from time.time()


class FakeClock:
    """A clock that moves only when told (``advance``): schedules and cooldowns under test control."""

    def __init__(self, now: float = T0) -> None:
        self.at = now

    def now(self) -> float:
        return self.at

    def monotonic(self) -> float:
        return self.at

    def advance(self, seconds: float) -> None:
        self.at += seconds
