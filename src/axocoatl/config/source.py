"""A config's YAML source: plain data plus the 1-based line of every field path, from one compose pass."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from pydantic import BaseModel

from axocoatl.config.fieldpath import Loc, field_path
from axocoatl.config.schema import AxocoatlConfig
from axocoatl.core.errors import ConfigIssue

__all__ = ["ConfigSource", "read_yaml"]

_YAML_PATH = "(yaml)"
_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_TAG_WORDS = {
    "tag:yaml.org,2002:bool": "true/false",
    "tag:yaml.org,2002:int": "a number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:null": "null",
}
_MAX_NODES = 250_000
# libyaml's C parser is ~10x faster; the pure-Python one gives the same nodes and marks.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class ConfigSource:
    """Parsed config data and where each of its field paths sits in the file."""

    data: Any
    lines: Mapping[Loc, int] = field(default_factory=dict)
    file: str | None = None

    def line_of(self, loc: Sequence[object]) -> int | None:
        """The line of ``loc`` or of its nearest ancestor present in the file (missing keys)."""
        path = tuple(loc)
        while True:
            line = self.lines.get(path)
            if line is not None or not path:
                return line
            path = path[:-1]

    def issue(
        self,
        loc: Sequence[object],
        message: str,
        *,
        hint: str | None = None,
        severity: str = "error",
        root: type[BaseModel] = AxocoatlConfig,
    ) -> ConfigIssue:
        return ConfigIssue(
            path=field_path(loc, self.data, root),
            message=message,
            hint=hint,
            file=self.file,
            line=self.line_of(loc),
            severity=severity,
        )


def read_yaml(text: str, *, file: str) -> tuple[ConfigSource, list[ConfigIssue]]:
    """Parse one YAML document; syntax errors come back as issues (and ``data`` None)."""
    loader = _Loader(text)
    builder = _Builder(loader, file)
    try:
        node = loader.get_single_node()
        data = None if node is None else builder.build(node, ())
    except yaml.MarkedYAMLError as exc:
        return ConfigSource(None, {}, file), [_syntax_issue(exc, text, file)]
    except yaml.YAMLError as exc:
        issue = ConfigIssue(
            path=_YAML_PATH, message=f"cannot read YAML: {exc}", hint="the file must be UTF-8 text", file=file
        )
        return ConfigSource(None, {}, file), [issue]
    finally:
        loader.dispose()
    issues = builder.issues
    for loc, first, line in builder.duplicates:
        # Named once the data exists, so the path can use ids like agents[writer].
        issues.append(
            ConfigIssue(
                path=field_path(loc, data, AxocoatlConfig),
                message=f"duplicate key '{loc[-1]}' (first used on line {first})",
                hint="YAML keeps only the last one; merge the two into one entry",
                file=file,
                line=line,
            )
        )
    return ConfigSource(data, builder.lines, file), issues


class _Builder:
    """Turns composed nodes into dicts, lists and scalars, recording lines as it goes.

    Building from the node tree ourselves (instead of ``yaml.safe_load``) is what gives every key and
    list item its line, without a second parse.
    """

    def __init__(self, loader: Any, file: str) -> None:
        self.loader = loader
        self.file = file
        self.lines: dict[Loc, int] = {}
        self.issues: list[ConfigIssue] = []
        self.duplicates: list[tuple[Loc, int, int]] = []  # (loc, first line, repeated line)
        self._open: set[int] = set()  # collection nodes being built: a repeat means a recursive alias
        self._count = 0

    def build(self, node: yaml.Node, loc: Loc) -> Any:
        self.lines.setdefault(loc, node.start_mark.line + 1)
        self._count += 1
        if self._count > _MAX_NODES:
            # Aliases are expanded, so nested anchors could otherwise blow up exponentially.
            raise yaml.constructor.ConstructorError(
                None, None, f"the document expands to more than {_MAX_NODES} values", node.start_mark
            )
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _STR_TAG:
                return node.value
            return self.loader.construct_object(node)
        if id(node) in self._open:
            raise yaml.constructor.ConstructorError(
                None, None, "found a recursive alias (an anchor used inside itself)", node.start_mark
            )
        self._open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, loc)
            if isinstance(node, yaml.SequenceNode):
                self._plain_tag(node, _SEQ_TAG)
                return [self.build(item, (*loc, index)) for index, item in enumerate(node.value)]
        finally:
            self._open.discard(id(node))
        raise yaml.constructor.ConstructorError(None, None, "unsupported YAML node", node.start_mark)

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[str, Any]:
        self._plain_tag(node, _MAP_TAG)
        self._report_duplicates(node, loc)
        self.loader.flatten_mapping(node)  # resolves `<<: *anchor` merge keys in place
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node)
            if key is None:
                continue
            child = (*loc, key)
            self.lines[child] = key_node.start_mark.line + 1
            result[key] = self.build(value_node, child)
        return result

    def _key(self, node: yaml.Node) -> str | None:
        if isinstance(node, yaml.ScalarNode) and node.tag == _STR_TAG:
            return str(node.value)
        if isinstance(node, yaml.ScalarNode):
            # `1:`, `true:` or `~:` would otherwise become non-text keys nobody can look up.
            kind = _TAG_WORDS.get(node.tag, f"a {node.tag.rsplit(':', 1)[-1]}")
            message = f"the key '{node.value}' is not text: YAML reads it as {kind}"
            hint = f"quote it: '{node.value}'" if node.value else "give the key a name"
        else:
            message = "a key must be plain text, not a list or mapping"
            hint = "use 'name: value'; a '?' or '[' at the start of a key makes it complex"
        self.issues.append(
            ConfigIssue(path=_YAML_PATH, message=message, hint=hint, file=self.file, line=node.start_mark.line + 1)
        )
        return None

    def _plain_tag(self, node: yaml.Node, expected: str) -> None:
        if node.tag != expected:
            raise yaml.constructor.ConstructorError(
                None, None, f"YAML tag {node.tag!r} is not supported here", node.start_mark
            )

    def _report_duplicates(self, node: yaml.MappingNode, loc: Loc) -> None:
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE_TAG:
                continue
            line = key_node.start_mark.line + 1
            if key_node.value in seen:
                self.duplicates.append(((*loc, key_node.value), seen[key_node.value], line))
            else:
                seen[key_node.value] = line


def _syntax_issue(exc: yaml.MarkedYAMLError, text: str, file: str) -> ConfigIssue:
    mark = exc.problem_mark or exc.context_mark
    if "quoted scalar" in (exc.context or "") and exc.context_mark is not None:
        mark = exc.context_mark  # the unclosed quote, not the end of the file where it was noticed
    problem = (exc.problem or "invalid YAML").strip()
    line = mark.line + 1 if mark is not None else None
    where = f" at column {mark.column + 1}" if mark is not None else ""
    # PyYAML splits messages into a context ("while scanning a quoted scalar") and the problem.
    context = (exc.context or "").strip()
    if context and exc.context_mark is not None and exc.context_mark.line + 1 != line:
        context += f" (from line {exc.context_mark.line + 1})"
    detail = f"{context}, {problem}" if context else problem
    return ConfigIssue(
        path=_YAML_PATH,
        message=f"YAML syntax error{where}: {detail}",
        hint=_syntax_hint(problem, exc, text, line),
        file=file,
        line=line,
    )


def _syntax_hint(problem: str, exc: yaml.MarkedYAMLError, text: str, line: int | None) -> str:
    lines = text.splitlines()
    source_line = lines[line - 1] if line is not None and 0 < line <= len(lines) else ""
    context = (exc.context or "").lower()
    if "\t" in source_line[: len(source_line) - len(source_line.lstrip())] or "'\\t'" in problem:
        return "YAML does not allow tabs for indentation; indent with spaces"
    if "single document" in context:
        return "an axocoatl.yaml holds one document; remove the extra '---'"
    if "quoted scalar" in context:
        return "a quote is never closed; close it or escape the quote inside the value"
    if "mapping values are not allowed" in problem:
        return "a value containing ': ' must be quoted, or this line is indented deeper than its key"
    if "could not find expected ':'" in problem:
        return "each key needs ': ' after it; check this line and the one above"
    if "expected ',' or" in problem:
        return "a [ ... ] or { ... } is not closed, or two items lack a ',' between them"
    if "expected <block end>" in problem or "expected '-' indicator" in problem:
        return "this line's indentation does not match its siblings; align it with the keys around it"
    if "expands to more than" in problem:
        return "anchors (&name) used through many levels of aliases (*name) multiply; simplify them"
    if "alias" in problem or "anchor" in problem:
        return "define the anchor (&name) before using it as *name"
    return "check the indentation and quoting near this line"
