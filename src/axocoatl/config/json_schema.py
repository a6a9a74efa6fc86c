"""The JSON Schema of ``axocoatl.yaml``, for editors and ``axocoatl config schema``."""

from __future__ import annotations

from typing import Any

from axocoatl.config.schema import AxocoatlConfig

__all__ = ["config_json_schema"]

_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def config_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of the whole config file, titled and described."""
    schema = AxocoatlConfig.model_json_schema(mode="validation")
    schema["title"] = "axocoatl.yaml"
    schema["description"] = (
        "Configuration of an axocoatl project: agents and their dependencies, workflows, providers, "
        "skills, schedules, MCP servers and the server. Every section is optional."
    )
    return {"$schema": _DIALECT, **schema}
