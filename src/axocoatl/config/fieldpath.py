"""Readable field paths such as ``agents[writer].depends_on[1]`` from raw pydantic locations,
and the schema model or type found at a location."""

from __future__ import annotations

import re
import types
from collections.abc import Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

__all__ = ["ROOT_PATH", "Loc", "data_loc", "field_path", "literal_values", "model_at", "type_at"]

Loc = tuple[object, ...]
ROOT_PATH = "(top level)"  # the path of issues about the whole document

# The key whose value names a list item, in order of preference.
_IDENTITY_KEYS = ("id", "name", "label")
_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_PLAIN_LABEL = re.compile(r"^[^\[\]\s]{1,80}$")


def _strip(tp: Any) -> Any:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def _members(tp: Any) -> list[Any]:
    """The non-None alternatives of a union (or ``[tp]`` for anything else)."""
    tp = _strip(tp)
    if get_origin(tp) in (Union, types.UnionType):
        return [_strip(arg) for arg in get_args(tp) if arg is not type(None)]
    return [tp]


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def literal_values(tp: Any) -> list[object]:
    """The allowed values when ``tp`` is (an optional) ``Literal``, else an empty list."""
    values: list[object] = []
    for member in _members(tp):
        if get_origin(member) is Literal:
            values.extend(get_args(member))
    return values


def _union_label(tp: Any, key: object) -> Any | None:
    """The union member a pydantic location label selects (a class name or a discriminator tag)."""
    models = [m for m in _members(tp) if _is_model(m)]
    if len(models) < 2:
        return None
    for model in models:
        if key == model.__name__:
            return model
        for info in model.model_fields.values():
            if key in literal_values(info.annotation):
                return model
    return None


def _step(tp: Any, key: object) -> Any | None:
    """The type found one level below ``tp`` at ``key``; None when unknown (e.g. ``Any``)."""
    for member in _members(tp):
        origin = get_origin(member)
        if origin in (list, tuple, set, frozenset) and isinstance(key, int):
            return get_args(member)[0] if get_args(member) else None
        if origin is dict:
            args = get_args(member)
            return args[1] if len(args) == 2 else None
        if _is_model(member):
            info = member.model_fields.get(str(key))
            if info is not None:
                return info.annotation
    return None


def type_at(loc: Sequence[object], root: type[BaseModel]) -> Any | None:
    """The annotated type at ``loc`` below ``root``, skipping pydantic's union labels."""
    tp: Any = root
    for key in loc:
        if tp is None:
            return None
        member = _union_label(tp, key)
        tp = member if member is not None else _step(tp, key)
    return tp


def model_at(loc: Sequence[object], root: type[BaseModel]) -> type[BaseModel] | None:
    """The model whose keys live at ``loc`` (for example ``AgentConfig`` at ``('agents', 0)``)."""
    tp = type_at(loc, root)
    if tp is None:
        return None
    models = [m for m in _members(tp) if _is_model(m)]
    return models[0] if len(models) == 1 else None


def _identity(item: object, item_type: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    models = [m for m in _members(item_type) if _is_model(m)] if item_type is not None else []
    if len(models) != 1:
        return None
    key = next((k for k in _IDENTITY_KEYS if k in models[0].model_fields), None)
    value = item.get(key) if key else None
    if isinstance(value, str) and _PLAIN_LABEL.match(value):
        return value
    return None


def data_loc(loc: Sequence[object], data: object, root: type[BaseModel]) -> Loc:
    """``loc`` without pydantic's union labels, i.e. the keys that really exist in the data."""
    kept: list[object] = []
    tp: Any = root
    node: object = data
    for index, key in enumerate(loc):
        present = isinstance(node, dict) and key in node
        member = None if present or tp is None else _union_label(tp, key)
        if member is not None and index < len(loc) - 1:
            tp = member
            continue
        kept.append(key)
        tp = _step(tp, key) if tp is not None else None
        if isinstance(node, dict):
            node = node.get(key)
        elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
            node = node[key]
        else:
            node = None
    return tuple(kept)


def field_path(loc: Sequence[object], data: object, root: type[BaseModel]) -> str:
    """Render ``loc`` for humans: list items are named by their id (or name, label) when they have one."""
    parts: list[str] = []
    tp: Any = root
    node: object = data
    for key in data_loc(loc, data, root):
        next_tp = _step(tp, key) if tp is not None else None
        if isinstance(key, int) and isinstance(node, list):
            item = node[key] if 0 <= key < len(node) else None
            label = _identity(item, next_tp)
            parts.append(f"[{label}]" if label is not None else f"[{key}]")
            node = item
        else:
            text = str(key)
            if _PLAIN_KEY.match(text):
                parts.append(f".{text}" if parts else text)
            else:
                parts.append(f"[{text!r}]")
            node = node.get(key) if isinstance(node, dict) else None
        tp = next_tp
    return "".join(parts) or ROOT_PATH
