"""The top-level package exposes the user API lazily and nothing else."""

from __future__ import annotations

import subprocess
import sys

import pytest

import axocoatl


def test_the_user_api_is_importable_from_the_package() -> None:
    from axocoatl import AxocoatlError, ConfigError, Runtime, UsageError, load_config

    assert Runtime.__name__ == "Runtime" and callable(load_config)
    assert issubclass(ConfigError, AxocoatlError) and issubclass(UsageError, AxocoatlError)
    assert sorted(axocoatl.__all__) == axocoatl.__all__


def test_unknown_names_raise_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        axocoatl.Nope  # noqa: B018


def test_importing_the_package_loads_nothing_heavy() -> None:
    heavy = ("pydantic", "asyncio", "typer", "numpy")
    code = f"import sys, axocoatl; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
