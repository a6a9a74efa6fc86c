"""A small JSON path: ``$``, ``.key``, ``[index]`` and ``['key']`` steps, for conditions on agent outputs. Pure."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

MISSING: Any = object()
"""What ``lookup`` returns where the path leads nowhere."""

_PATH_STEP = re.compile(r"""\.([A-Za-z_][\w-]*)|\[(\d+)\]|\[(?:'([^']*)'|"([^"]*)")\]""")


class PathError(ValueError):
    """A JSON path that cannot be parsed."""


def parse_path(path: str) -> tuple[str | int, ...]:
    """``$.a.b[0]['c d']`` as its steps; raises PathError naming where it stops making sense."""
    text = path.strip()
    if not text.startswith("$"):
        raise PathError(f"JSON path {path!r} must start with '$' (the whole output), e.g. $.score or $.items[0]")
    steps: list[str | int] = []
    pos = 1
    while pos < len(text):
        match = _PATH_STEP.match(text, pos)
        if match is None:
            raise PathError(f"JSON path {path!r}: cannot read {text[pos:]!r} (use .key, [index] or ['key'])")
        key, index, single, double = match.groups()
        if index is not None:
            steps.append(int(index))
        else:
            steps.append(next(v for v in (key, single, double) if v is not None))
        pos = match.end()
    return tuple(steps)


def lookup(document: Any, steps: Sequence[str | int]) -> Any:
    """The value at ``steps`` in ``document``, or ``MISSING``."""
    value = document
    for step in steps:
        if isinstance(step, int):
            if not isinstance(value, list) or step >= len(value):
                return MISSING
            value = value[step]
        else:
            if not isinstance(value, dict) or step not in value:
                return MISSING
            value = value[step]
    return value
