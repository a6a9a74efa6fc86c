"""Reading a server's elicitation request: its form's fields, and the answer its defaults give."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import mcp_types as types


def form_fields(params: types.ElicitRequestParams) -> tuple[dict[str, Any], list[str]]:
    """The form's properties and its required field names (a URL-mode request has neither)."""
    schema: Any = getattr(params, "requested_schema", None) or {}
    if not isinstance(schema, dict):
        schema = schema.model_dump(mode="json", exclude_none=True) if hasattr(schema, "model_dump") else {}
    properties = schema.get("properties") or {}
    return dict(properties), list(schema.get("required") or [])


def schema_defaults(params: types.ElicitRequestParams) -> dict[str, Any]:
    """Every field the form gives a default for, with that default (SEP-1034)."""
    properties, _ = form_fields(params)
    return {
        name: field["default"] for name, field in properties.items() if isinstance(field, dict) and "default" in field
    }


def answerable(params: types.ElicitRequestParams) -> bool:
    """Whether the defaults alone fill every required field (nobody types into our forms)."""
    _, required = form_fields(params)
    defaults = schema_defaults(params)
    return all(name in defaults for name in required)
