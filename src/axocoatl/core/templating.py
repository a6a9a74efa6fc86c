"""Input templates of automations: ``{{ name }}`` and ``{{ name.path.0 }}`` filled from a JSON-like value.

Used by inbound triggers (``{{ body }}``, ``{{ body.ref }}``, ``{{ headers.x-github-event }}``) and
proactive entries (``{{ event.payload.error }}``). A path that leads nowhere renders as an empty
string; a dict or list renders as JSON. Nothing else is interpreted: no code, no filters.
"""

from __future__ import annotations

import json
import re
from typing import Any

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][\w-]*(?:\.[\w-]+)*)\s*\}\}")


def lookup(values: dict[str, Any], path: str) -> Any:
    current: Any = values
    for part in path.split("."):
        if isinstance(current, dict):
            current = current.get(part)
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return None
    return current


def show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def render(template: str, values: dict[str, Any]) -> str:
    """``template`` with each ``{{ path }}`` replaced by what the path finds in ``values``."""
    return _PLACEHOLDER.sub(lambda m: show(lookup(values, m.group(1))), template)


def names(template: str) -> list[str]:
    """The first part of every path the template uses (for config checks)."""
    return [m.group(1).split(".")[0] for m in _PLACEHOLDER.finditer(template)]


def stray(template: str) -> list[str]:
    """Text with ``{{`` or ``}}`` that is not a placeholder (``{{ body | upper }}``, an unclosed ``{{ body``):
    it would be sent as written, so config checks report it."""
    rest = _PLACEHOLDER.sub(" ", template)
    return [m.group(0) for m in re.finditer(r"\{\{(?:[^\n]{0,40}?\}\}|[^\n]{0,40})|\}\}", rest)]
