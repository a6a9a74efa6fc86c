"""Loading ``axocoatl.yaml``: read, parse once, interpolate ``${VAR}``, validate schema and semantics.
Every problem is raised together in one ConfigError; warnings travel with the loaded config."""

from __future__ import annotations

import copy
import errno
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from axocoatl.config.env import build_environment, interpolate, read_text_file, variable_hint
from axocoatl.config.fieldpath import Loc, field_path
from axocoatl.config.schema import AxocoatlConfig
from axocoatl.config.schema_issues import schema_issues
from axocoatl.config.source import ConfigSource, read_yaml
from axocoatl.config.validation import validate_config
from axocoatl.core.errors import ConfigError, ConfigIssue

__all__ = ["LoadedConfig", "load_config", "parse_config_text"]

_FILE_PATH = "(file)"


@dataclass(frozen=True)
class LoadedConfig:
    """A valid config, the file it came from, and the warnings found while loading it."""

    config: AxocoatlConfig
    path: Path
    warnings: list[ConfigIssue]
    source: ConfigSource = field(default_factory=lambda: ConfigSource(None), repr=False, compare=False)

    def issue(
        self, loc: Sequence[object], message: str, *, hint: str | None = None, severity: str = "error"
    ) -> ConfigIssue:
        """An issue at ``loc`` (e.g. ``("agents", 0, "model")``) named and placed as the loader names its own,
        for checks that need more than the config layer (the CLI checks that local model files exist)."""
        return self.source.issue(loc, message, hint=hint, severity=severity)


def load_config(path: str | Path, *, env: Mapping[str, str] | None = None) -> LoadedConfig:
    """Load and validate ``path``; ``.env`` beside it fills variables missing from ``env`` (default: os.environ).

    Raises ConfigError listing every problem found.
    """
    path = Path(path)
    name = str(path)
    text = _read(path, name)
    environment, env_warnings = build_environment(path.parent, env)
    loaded = parse_config_text(text, file=name, env=environment)
    anchor_paths(loaded.config, path.parent)
    # Providers read their keys from it: OPENAI_API_KEY in .env works without `api_key: ${OPENAI_API_KEY}`.
    loaded.config.set_environment(environment)
    return replace(loaded, warnings=[*env_warnings, *loaded.warnings])


def anchor_paths(config: AxocoatlConfig, base: Path) -> None:
    """Relative paths of the config (workspaces, tools.python, hook files, htn_methods_file, mcp_servers[].cwd)
    are relative to its file: made absolute here."""

    def anchored(value: str) -> str:
        return value if Path(value).is_absolute() else str((base / value).resolve())

    for agent in config.agents:
        if agent.workspace:
            agent.workspace = anchored(agent.workspace)
    for workflow in config.workflows:
        if workflow.workspace:
            workflow.workspace = anchored(workflow.workspace)
        if workflow.htn_methods_file:
            workflow.htn_methods_file = anchored(workflow.htn_methods_file)
    config.tools.python = [anchored(p) for p in config.tools.python]
    for hook in config.hooks:
        if hook.path:
            hook.path = anchored(hook.path)
        if hook.callable:
            target, _, function = hook.callable.rpartition(":")
            if target.endswith(".py"):
                hook.callable = f"{anchored(target)}:{function}"
    for server in config.mcp_servers:
        if server.transport == "stdio":  # a server started from the project runs in it unless told otherwise
            server.cwd = anchored(server.cwd or ".")


def parse_config_text(text: str, *, file: str = "<string>", env: Mapping[str, str] | None = None) -> LoadedConfig:
    """Validate config text; ``env`` (default: os.environ) feeds ``${VAR}``. No ``.env`` is read here."""
    environment: Mapping[str, str] = os.environ if env is None else env
    source, issues = read_yaml(text, file=file)
    if source.data is not None and not isinstance(source.data, dict):
        kind = "a list" if isinstance(source.data, list) else f"a single value ({type(source.data).__name__})"
        issues.append(
            source.issue(
                (),
                f"the top level must be a mapping of sections, not {kind}",
                hint="start the file with section keys such as 'agents:' and 'workflows:' at column 1",
            )
        )
    _raise_errors(issues, file)

    interpolation = _Interpolation(source, environment)
    data = interpolation.tree(source.data or {}, ())
    # An empty section (`agents:` with everything below commented out) means "use the default".
    data = {key: value for key, value in data.items() if value is not None}
    source = replace(source, data=data)
    warnings = list(interpolation.warnings)
    issues = list(interpolation.errors)

    try:
        config = AxocoatlConfig.model_validate(data)
    except ValidationError as exc:
        semantic = _semantic_issues_despite(exc, data, source)
        _raise_errors([*issues, *schema_issues(exc, source), *semantic], file, interpolation.unset_paths)
        raise  # pragma: no cover - _raise_errors always raises when given an error
    issues.extend(validate_config(config, source))
    warnings.extend(i for i in issues if i.severity != "error")
    _raise_errors(issues, file, interpolation.unset_paths)
    return LoadedConfig(config=config, path=Path(file), warnings=warnings, source=source)


# Fields whose removal would make the semantic checks report things that are not wrong
# (an agent without its depends_on looks unreachable): issues about their entity are dropped.
_GRAPH_FIELDS = frozenset(
    {"id", "depends_on", "agents", "entry_point", "role", "activation_threshold", "provider", "options"}
)


def _semantic_issues_despite(exc: ValidationError, data: dict[str, Any], source: ConfigSource) -> list[ConfigIssue]:
    """Run the semantic checks on the file with its schema errors cut out, so one run of
    `axocoatl validate` reports every problem (a typo'd key must not hide a dependency cycle).

    Each offending key is removed (its default applies); when a required value is missing the
    file cannot be completed and only the schema errors are reported. Issues about an entity
    whose graph-shaping field was removed are dropped rather than guessed.
    """
    pruned = copy.deepcopy(data)
    tainted: set[tuple[object, ...]] = set()
    error = exc
    for _ in range(4):
        for details in error.errors():
            loc = tuple(details["loc"])
            parent, key = _owner_of(pruned, loc)
            if parent is None or key not in parent:
                return []
            del parent[key]
            entity = loc[:2] if len(loc) >= 2 and isinstance(loc[1], int) else loc[:1]
            if key in _GRAPH_FIELDS or len(loc) <= 2:
                tainted.add(entity)
        try:
            config = AxocoatlConfig.model_validate(pruned)
        except ValidationError as again:
            error = again
            continue
        prefixes = tuple(field_path(entity, data, AxocoatlConfig) for entity in tainted)
        return [
            issue
            for issue in validate_config(config, source)
            if not any(issue.path == p or issue.path.startswith((f"{p}.", f"{p}[")) for p in prefixes)
        ]
    return []


def _owner_of(data: Any, loc: tuple[object, ...]) -> tuple[dict[str, Any] | None, object]:
    """The mapping holding the deepest key of ``loc`` that can be removed, and that key."""
    owner: dict[str, Any] | None = None
    key: object = None
    node = data
    for part in loc:
        if isinstance(node, dict):
            if part not in node:
                return (node, part) if owner is None or isinstance(part, str) else (owner, key)
            owner, key, node = node, part, node[part]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            break
    return owner, key


def _read(path: Path, name: str) -> str:
    def fail(message: str, hint: str) -> ConfigError:
        return ConfigError([ConfigIssue(path=_FILE_PATH, message=message, hint=hint, file=name)], file=name)

    try:
        return read_text_file(path)
    except FileNotFoundError:
        raise fail(
            f"config file not found: {name}",
            "create a project with `axocoatl init NAME`, or point to a config with `--config PATH`",
        ) from None
    except IsADirectoryError:
        raise fail(f"{name} is a directory, not a config file", f"use --config {path / 'axocoatl.yaml'}") from None
    except UnicodeDecodeError as exc:
        raise fail(f"{name} is not UTF-8 text ({exc.reason})", "save the file as UTF-8") from None
    except OSError as exc:
        if exc.errno == errno.EFBIG:
            raise fail(
                f"{name} is not a config file: {exc.strerror}", "check that --config points at axocoatl.yaml"
            ) from None
        raise fail(f"cannot read {name}: {exc.strerror or exc}", "check the file's permissions") from None


def _raise_errors(issues: list[ConfigIssue], file: str, unset_paths: Mapping[str, list[str]] | None = None) -> None:
    errors = [i for i in issues if i.severity == "error"]
    if not errors:
        return
    if unset_paths:
        errors = [_blame_unset(i, unset_paths.get(i.path)) for i in errors]
    errors.sort(key=lambda i: (i.line is None, i.line or 0))
    raise ConfigError(errors, file=file)


def _blame_unset(issue: ConfigIssue, names: list[str] | None) -> ConfigIssue:
    # An invalid value that came from an unset ${VAR} is best fixed by setting the variable.
    if not names:
        return issue
    refs = ", ".join(f"${{{n}}}" for n in names)
    hint = f"the value came from {refs}, which is not set; {variable_hint(names[0])}"
    return replace(issue, hint=f"{issue.hint}; {hint}" if issue.hint else hint)


class _Interpolation:
    """Applies ``${VAR}`` to every string value (never to keys), collecting what went wrong."""

    def __init__(self, source: ConfigSource, env: Mapping[str, str]) -> None:
        self.source = source
        self.env = env
        self.warnings: list[ConfigIssue] = []
        self.errors: list[ConfigIssue] = []
        self.unset_paths: dict[str, list[str]] = {}

    def tree(self, node: Any, loc: Loc) -> Any:
        if isinstance(node, str):
            return self.string(node, loc)
        if isinstance(node, dict):
            return {key: self.tree(value, (*loc, key)) for key, value in node.items()}
        if isinstance(node, list):
            return [self.tree(item, (*loc, index)) for index, item in enumerate(node)]
        return node

    def string(self, text: str, loc: Loc) -> str:
        if "$" not in text:
            return text
        result = interpolate(text, self.env)
        for message, hint in result.errors:
            self.errors.append(self.source.issue(loc, message, hint=hint))
        for name in dict.fromkeys(result.unset):
            issue = self.source.issue(
                loc,
                f"environment variable {name} is not set; ${{{name}}} became an empty string",
                hint=variable_hint(name),
                severity="warning",
            )
            self.warnings.append(issue)
            self.unset_paths.setdefault(issue.path, []).append(name)
        return result.value
