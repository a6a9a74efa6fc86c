"""Fitting a tool's JSON result into the output cap (tools.max_output_chars) by cutting its long text field.

The pipeline cuts any result at the cap from its end; for a JSON object whose long text comes first, that
would drop the fields after it (bash's ``limit``, http_fetch's ``truncated``) and the JSON itself. A tool
with one long field cuts that field instead, so the model sees every other field and how much was left out.
"""

from __future__ import annotations

import json
from typing import Any


def encoded(result: dict[str, Any]) -> str:
    """``result`` as the pipeline encodes it."""
    return json.dumps(result, ensure_ascii=False, default=str)


def fit_field(result: dict[str, Any], key: str, limit: int, not_kept: str | None = None) -> dict[str, Any]:
    """``result`` with ``result[key]`` cut (and marked) so its JSON is at most ``limit`` characters.

    ``not_kept`` says what the tool already left out before (``12 more bytes of output not kept``); it is
    added to the mark, and marks the text even when nothing more had to be cut.
    """
    text: str = result[key]
    if not_kept is None and len(encoded(result)) <= limit:
        return result

    def cut(n: int) -> dict[str, Any]:
        more = [f"{len(text) - n} more characters not shown (limit {limit})"] if n < len(text) else []
        if not_kept:
            more.append(not_kept)
        return {**result, key: f"{text[:n]}\n[truncated: {', and '.join(more)}]"}

    # The longest head of the text whose result still fits (a character encodes to one or more).
    low, high = 0, min(len(text), limit)
    while low < high:
        middle = (low + high + 1) // 2
        if len(encoded(cut(middle))) <= limit:
            low = middle
        else:
            high = middle - 1
    return cut(low)
