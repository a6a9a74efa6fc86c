"""Text at the HTTP and WebSocket edges: what user text must be to get in, and JSON that always gets out.

JSON may carry strings Python can hold but UTF-8 cannot encode: a lone surrogate such as
``"\\ud800"`` is valid JSON. Left in, it fails deep inside (the store, a provider request)
and looks like an agent crash. So every string a client sends is checked where it enters
(``Text`` for request models, ``find_problem`` for WebSocket commands), and every JSON the
server sends is encodable whatever it holds (``json_text``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

MAX_COMMAND_DEPTH = 32  # nesting a WebSocket command may have; real ones use 2 or 3
INVALID_TEXT_HINT = "send UTF-8 text; in JSON, a \\ud800-\\udfff escape is only valid as half of a surrogate pair"
DEPTH_HINT = "commands are flat objects (see the WebSocket section of docs/api.md)"


def unicode_problem(text: str) -> str | None:
    """None when ``text`` is valid Unicode (encodable as UTF-8), else what is wrong with it."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"not valid Unicode text: a lone surrogate \\u{ord(text[exc.start]):04x} at position {exc.start}"
    return None


def _valid_text(value: str) -> str:
    problem = unicode_problem(value)
    if problem is not None:
        raise PydanticCustomError("invalid_unicode", problem)
    return value


Text = Annotated[str, AfterValidator(_valid_text)]
"""A string field of a request body: valid Unicode or a 422 naming the field."""


def shown(text: str) -> str:
    """``text`` safe to put in a message: unencodable characters as ``\\uXXXX`` escapes."""
    return text if unicode_problem(text) is None else text.encode("utf-8", "backslashreplace").decode("utf-8")


@dataclass(frozen=True)
class Problem:
    field: str
    message: str
    hint: str


def find_problem(value: Any, max_depth: int = MAX_COMMAND_DEPTH) -> Problem | None:
    """The first problem in a parsed JSON value: a key or string that is not valid Unicode, or
    nesting deeper than ``max_depth``. Iterative, so hostile nesting cannot overflow it."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        node, path, depth = stack.pop()
        if isinstance(node, str):
            problem = unicode_problem(node)
            if problem is not None:
                return Problem(path or "(the command)", problem, INVALID_TEXT_HINT)
            continue
        if not isinstance(node, dict | list):
            continue
        if depth >= max_depth:
            return Problem(path or "(the command)", f"nested deeper than {max_depth} levels", DEPTH_HINT)
        children: list[tuple[Any, str, int]] = []
        if isinstance(node, dict):
            for key, item in node.items():
                problem = unicode_problem(key)
                name = f"{path}.{shown(key)}" if path else shown(key)
                if problem is not None:
                    return Problem(name, f"key {problem}", INVALID_TEXT_HINT)
                children.append((item, name, depth + 1))
        else:
            children = [(item, f"{path}[{index}]", depth + 1) for index, item in enumerate(node)]
        stack.extend(reversed(children))  # so the first problem in document order is found first
    return None


def json_text(value: Any) -> str:
    """JSON for the wire: UTF-8 as is, unless a string holds what UTF-8 cannot encode (then ``\\u`` escapes)."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    if unicode_problem(text) is None:
        return text
    return json.dumps(value, default=str)


def json_bytes(value: Any) -> bytes:
    return json_text(value).encode("utf-8")
