"""Helpers shared by the config tests: parse YAML text and pick issues by path."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping

import pytest

from axocoatl.config import LoadedConfig, parse_config_text
from axocoatl.core.errors import ConfigError, ConfigIssue

FILE = "axocoatl.yaml"


def load(text: str, env: Mapping[str, str] | None = None) -> LoadedConfig:
    """Parse dedented ``text``; a ConfigError fails the test with every issue rendered."""
    return parse_config_text(textwrap.dedent(text), file=FILE, env=env or {})


def errors(text: str, env: Mapping[str, str] | None = None) -> list[ConfigIssue]:
    """The issues of the ConfigError ``text`` must raise."""
    with pytest.raises(ConfigError) as caught:
        parse_config_text(textwrap.dedent(text), file=FILE, env=env or {})
    assert caught.value.file == FILE
    return caught.value.issues


def at(issues: list[ConfigIssue], path: str) -> ConfigIssue:
    """The one issue reported at ``path``."""
    found = [i for i in issues if i.path == path]
    assert len(found) == 1, f"expected one issue at {path!r}, got:\n" + "\n".join(i.render() for i in issues)
    return found[0]
