"""Conditions on dependency edges, and how a router's or a map's upstream output is read.

A condition looks at the output of the upstream agent of one ``depends_on`` edge: ``contains``,
``equals``, ``matches`` (a regular expression, searched), a JSON-path comparison (``path`` with one
of ``eq ne gt ge lt le exists contains``), or ``branch`` (the named branch a router agent chose).
When it is false the edge is not taken (see the lattice). Map items are the elements of a JSON
array, else the non-empty lines of the text.

Pure: no I/O.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from axocoatl.core.jsonpath import MISSING, lookup, parse_path

ConditionKind = Literal["contains", "equals", "matches", "path", "branch"]
PathOp = Literal["eq", "ne", "gt", "ge", "lt", "le", "exists", "contains"]
CONDITION_KINDS: tuple[ConditionKind, ...] = ("contains", "equals", "matches", "path", "branch")
PATH_OPS: tuple[PathOp, ...] = ("eq", "ne", "gt", "ge", "lt", "le", "exists", "contains")


def parse_json_output(text: str) -> Any:
    """An agent's output as JSON: the whole text, else a fenced ```json block in it; ``MISSING`` if neither."""
    for candidate in (text.strip(), _fenced(text)):
        if candidate:
            try:
                return json.loads(candidate)
            except ValueError:
                continue
    return MISSING


def _fenced(text: str) -> str:
    match = re.search(r"```(?:json)?\s*\n(.*?)```", text, re.DOTALL)
    return match.group(1).strip() if match else ""


@dataclass(frozen=True)
class Condition:
    """One edge condition. ``value`` is the text (or, for ``path``, the JSON value) compared against."""

    kind: ConditionKind
    value: Any = None
    path: str | None = None  # kind "path"
    op: PathOp | None = None  # kind "path"
    branches: tuple[str, ...] = ()  # kind "branch": the router's branches, in its config order

    def __post_init__(self) -> None:
        if self.kind not in CONDITION_KINDS:
            raise ValueError(f"unknown condition kind {self.kind!r}; use one of {', '.join(CONDITION_KINDS)}")
        if self.kind == "path":
            if self.path is None or self.op not in PATH_OPS:
                raise ValueError(f"a path condition needs a path and one of {', '.join(PATH_OPS)}")
            parse_path(self.path)
        elif self.kind == "matches":
            re.compile(str(self.value))
        elif self.kind == "branch" and self.value not in self.branches:
            raise ValueError(f"branch {self.value!r} is not one of the router's branches {list(self.branches)}")

    def holds(self, output: str) -> bool:
        """Whether the edge is taken for the upstream ``output``."""
        if self.kind == "contains":
            return str(self.value) in output
        if self.kind == "equals":
            return output.strip() == str(self.value).strip()
        if self.kind == "matches":
            return re.search(str(self.value), output) is not None
        if self.kind == "branch":
            return bool(chosen_branch(output, self.branches) == self.value)
        document = parse_json_output(output)
        found = MISSING if document is MISSING else lookup(document, parse_path(self.path or "$"))
        return _compare(found, self.op or "exists", self.value)

    def describe(self) -> str:
        if self.kind == "path":
            return f"{self.path} {self.op}" + ("" if self.op == "exists" else f" {json.dumps(self.value)}")
        return f"{self.kind} {json.dumps(self.value)}"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"kind": self.kind, "value": self.value}
        if self.kind == "path":
            data |= {"path": self.path, "op": self.op}
        if self.kind == "branch":
            data["branches"] = list(self.branches)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Condition:
        return cls(
            kind=data["kind"],
            value=data.get("value"),
            path=data.get("path"),
            op=data.get("op"),
            branches=tuple(data.get("branches", ())),
        )


def _compare(found: Any, op: PathOp, value: Any) -> bool:
    if op == "exists":
        return found is not MISSING
    if found is MISSING:
        return False
    if op == "eq":
        return bool(found == value)
    if op == "ne":
        return bool(found != value)
    if op == "contains":
        if isinstance(found, str):
            return isinstance(value, str) and value in found
        return isinstance(found, list | dict) and value in found
    left, right = _number(found), _number(value)
    if left is not None and right is not None:
        return _order(left, right, op)
    if isinstance(found, str) and isinstance(value, str):
        return _order(found, value, op)
    return False


def _order(left: Any, right: Any, op: PathOp) -> bool:
    return bool({"gt": left > right, "ge": left >= right, "lt": left < right, "le": left <= right}[op])


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def chosen_branch(output: str, branches: Sequence[str]) -> str | None:
    """The branch a router's output names.

    The whole answer (trimmed, case-insensitive, quotes and a final period dropped), else a JSON
    object's ``branch`` field, else the branch named earliest in the text as a whole word. None when
    it names none: no branch is taken.
    """
    if not branches:
        return None
    lowered = {b.lower(): b for b in branches}
    answer = output.strip().strip("`'\"*").rstrip(".").strip().lower()
    if answer in lowered:
        return lowered[answer]
    document = parse_json_output(output)
    if isinstance(document, dict) and isinstance(document.get("branch"), str):
        picked = document["branch"].strip().lower()
        if picked in lowered:
            return lowered[picked]
    best: tuple[int, int, str] | None = None
    for position, branch in enumerate(branches):
        match = re.search(rf"(?<![\w-]){re.escape(branch)}(?![\w-])", output, re.IGNORECASE)
        if match is not None and (best is None or (match.start(), position) < best[:2]):
            best = (match.start(), position, branch)
    return best[2] if best else None


def router_instruction(branches: Sequence[str]) -> str:
    """What a router agent is told, after its input, so that its answer names one branch."""
    return (
        f"Choose exactly one branch for this task: {', '.join(branches)}. "
        "Answer with the branch name only, nothing else."
    )


def map_items(output: str) -> list[str]:
    """The items a map runs over: a JSON array's elements (strings as they are, others as JSON),
    else the non-empty lines of the text (trimmed)."""
    document = parse_json_output(output)
    if isinstance(document, list):
        return [item if isinstance(item, str) else json.dumps(item, ensure_ascii=False) for item in document]
    return [line.strip() for line in output.splitlines() if line.strip()]
