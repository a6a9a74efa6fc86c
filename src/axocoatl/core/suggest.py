""" "Did you mean" hints for a name that matched nothing: the closest known name, else the known names."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence

__all__ = ["closest", "did_you_mean", "listing"]

CUTOFF = 0.6  # difflib's similarity ratio: 0.6 catches one or two typos in a short name
SHOWN = 20


def closest(word: str, choices: Iterable[str], *, cutoff: float = CUTOFF) -> str | None:
    """The choice most similar to ``word``, when one is similar enough."""
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return found[0] if found else None


def listing(choices: Sequence[str], *, shown: int = SHOWN) -> str:
    """``'a', 'b', 'c'``, cut after ``shown`` names with the number left out."""
    text = ", ".join(f"'{c}'" for c in choices[:shown])
    return text + (f" (and {len(choices) - shown} more)" if len(choices) > shown else "")


def did_you_mean(
    word: str,
    choices: Sequence[str],
    *,
    noun: str,
    known: bool = False,
    none: str | None = None,
    cutoff: float = CUTOFF,
    shown: int = SHOWN,
) -> str:
    """``did you mean 'x'?`` when a choice is close; else the choices (``valid keys: ...``, or
    ``known agents: ...`` with ``known``); else ``none`` (default: there is no NOUN to choose from)."""
    close = closest(word, choices, cutoff=cutoff)
    if close is not None:
        return f"did you mean '{close}'?"
    if not choices:
        return none or f"there is no {noun} to choose from"
    return f"{'known' if known else 'valid'} {noun}s: {listing(choices, shown=shown)}"
