"""Axocoatl: a runtime for persistent, self-coordinating multi-agent LLM systems.

The user API, imported lazily so `import axocoatl` (and the CLI's start) stays fast::

    from axocoatl import Runtime, load_config
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from axocoatl.config.loader import load_config
    from axocoatl.core.errors import AxocoatlError, ConfigError, UsageError
    from axocoatl.runtime.runtime import Runtime
    from axocoatl.tools.python_tools import tool

__all__ = ["AxocoatlError", "ConfigError", "Runtime", "UsageError", "__version__", "load_config", "tool"]

_LAZY = {
    "Runtime": "axocoatl.runtime.runtime",
    "load_config": "axocoatl.config.loader",
    "AxocoatlError": "axocoatl.core.errors",
    "ConfigError": "axocoatl.core.errors",
    "UsageError": "axocoatl.core.errors",
    "tool": "axocoatl.tools.python_tools",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'axocoatl' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
