"""Which agents and workflows an interop surface (the OpenAI endpoint, A2A) offers to outside clients.

An ``expose`` list names agents by id and workflows as ``workflow/ID``; unset means all of
them, agents first, in config order. The same reference is the OpenAI model id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from axocoatl.config.schema import AxocoatlConfig

WORKFLOW_PREFIX = "workflow/"


@dataclass(frozen=True)
class Target:
    """An agent or a workflow, as outside clients address it."""

    kind: Literal["agent", "workflow"]
    id: str
    name: str
    description: str

    @property
    def ref(self) -> str:
        return self.id if self.kind == "agent" else WORKFLOW_PREFIX + self.id


def all_targets(config: AxocoatlConfig) -> list[Target]:
    # Never the system prompt: an A2A agent card is public.
    agents = [Target("agent", a.id, a.display_name, f"The axocoatl agent {a.display_name}.") for a in config.agents]
    workflows = [
        Target("workflow", w.id, w.display_name, (w.description or f"runs {', '.join(w.agents)}").strip())
        for w in config.workflows
    ]
    return agents + workflows


def resolve(config: AxocoatlConfig, ref: str) -> Target | None:
    """The agent or workflow ``ref`` names, exposed or not."""
    return next((t for t in all_targets(config) if t.ref == ref), None)


def exposed_targets(config: AxocoatlConfig, expose: list[str] | None) -> list[Target]:
    """What ``expose`` offers, in its order (unknown entries are left out: validate reports them)."""
    targets = all_targets(config)
    if expose is None:
        return targets
    by_ref = {t.ref: t for t in targets}
    return [by_ref[ref] for ref in dict.fromkeys(expose) if ref in by_ref]


def unknown_refs(config: AxocoatlConfig, expose: list[str] | None) -> list[tuple[int, str, list[str]]]:
    """Entries of ``expose`` that name nothing: (index, entry, the known refs) for error messages."""
    if expose is None:
        return []
    known = [t.ref for t in all_targets(config)]
    return [(index, ref, known) for index, ref in enumerate(expose) if ref not in known]
