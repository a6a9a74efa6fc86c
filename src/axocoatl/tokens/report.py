"""The token report: one JSON shape for `axocoatl tokens report --json` and GET /api/tokens/report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from axocoatl.core.ids import iso
from axocoatl.store.records import UsageRow


def token_report_json(rows: Sequence[UsageRow], *, since: float | None, agent: str | None) -> dict[str, Any]:
    """``{since, agent, agents: [{agent_id, input, output, total, calls}], totals: {input, output, total, calls}}``.

    ``since`` is shown as an ISO-8601 UTC time (or null); ``agent`` is the filter asked for (or null).
    """
    agents = [
        {"agent_id": r.agent_id, "input": r.input, "output": r.output, "total": r.total, "calls": r.calls} for r in rows
    ]
    totals = {
        "input": sum(r.input for r in rows),
        "output": sum(r.output for r in rows),
        "total": sum(r.total for r in rows),
        "calls": sum(r.calls for r in rows),
    }
    return {"since": iso(since), "agent": agent, "agents": agents, "totals": totals}
