"""A config's YAML source: plain data plus the 1-based line of every field path, from one compose pass."""

from __future__ import annotations

import sys
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
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"
_TAG_WORDS = {
    "tag:yaml.org,2002:bool": "true/false",
    "tag:yaml.org,2002:int": "a number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:null": "null",
    "tag:yaml.org,2002:timestamp": "a date",
    "tag:yaml.org,2002:binary": "binary data",
}
_CORE_PREFIX = "tag:yaml.org,2002:"
# Scalars YAML may build for us; any other tag (`!foo`, `!!python/...`, `=`) is refused.
_SCALAR_TAGS = frozenset(_CORE_PREFIX + t for t in ("bool", "int", "float", "null", "timestamp", "binary"))
_TAG_EXAMPLES = {
    "tag:yaml.org,2002:bool": "true or false",
    "tag:yaml.org,2002:int": "a whole number such as 42",
    "tag:yaml.org,2002:float": "a number such as 0.5",
    "tag:yaml.org,2002:timestamp": "a date such as 2024-01-31",
    "tag:yaml.org,2002:binary": "base64 text",
}
_TAG_HINT = "remove the tag: axocoatl.yaml holds plain text, numbers, true/false, lists and mappings"
_GENERIC_HINT = "check the indentation and quoting near this line"
_MAX_NODES = 250_000
_MAX_DEPTH = 100  # far beyond any real config; keeps every later pass (copy, validation) off the recursion limit
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
    unencodable = _unencodable(text, file)
    if unencodable is not None:
        return ConfigSource(None, {}, file), [unencodable]
    loader = _Loader(text)
    builder = _Builder(loader)
    try:
        node = loader.get_single_node()
        data = None if node is None else builder.build(node, ())
    except yaml.reader.ReaderError as exc:
        return ConfigSource(None, {}, file), [_reader_issue(exc, text, file)]
    except yaml.MarkedYAMLError as exc:
        return ConfigSource(None, {}, file), [_syntax_issue(exc, text, file)]
    except yaml.YAMLError as exc:  # pragma: no cover - loading raises only the two kinds above
        issue = ConfigIssue(path=_YAML_PATH, message=f"cannot read YAML: {exc}", hint=_GENERIC_HINT, file=file)
        return ConfigSource(None, {}, file), [issue]
    finally:
        loader.dispose()
    # Named once the data exists, so the paths can use ids like agents[writer].
    issues = [
        ConfigIssue(path=field_path(loc, data, AxocoatlConfig), message=message, hint=hint, file=file, line=line)
        for loc, line, message, hint in builder.problems
    ]
    for loc, first, line in builder.duplicates:
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
    list item its line, without a second parse. A value that cannot be built (a tag, a date that does
    not exist) is recorded as a problem and kept as its text, so every such value is reported at once.
    """

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.lines: dict[Loc, int] = {}
        self.problems: list[tuple[Loc, int, str, str]] = []  # (loc, line, message, hint), named later
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
        if len(loc) > _MAX_DEPTH:
            raise yaml.constructor.ConstructorError(
                None, None, f"values are nested more than {_MAX_DEPTH} levels deep", node.start_mark
            )
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node, loc)
        if id(node) in self._open:
            raise yaml.constructor.ConstructorError(
                None, None, "found a recursive alias (an anchor used inside itself)", node.start_mark
            )
        self._open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, loc)
            if isinstance(node, yaml.SequenceNode):
                self._plain_tag(node, loc, _SEQ_TAG)
                return [self.build(item, (*loc, index)) for index, item in enumerate(node.value)]
        finally:
            self._open.discard(id(node))
        raise yaml.constructor.ConstructorError(None, None, "unsupported YAML node", node.start_mark)

    def _scalar(self, node: yaml.ScalarNode, loc: Loc) -> Any:
        if node.tag == _STR_TAG:
            return node.value
        value = str(node.value)
        # A tag written in the file (`!!int abc`) is explicit; otherwise YAML guessed the type from the text.
        explicit = self.loader.resolve(yaml.ScalarNode, value, (True, False)) != node.tag
        tag = _short_tag(node.tag)
        if node.tag not in _SCALAR_TAGS:
            if explicit:
                self._problem(node, loc, f"YAML tag {tag} is not supported", _TAG_HINT)
            else:  # `=` and `<<` as values: YAML gives them special meanings
                message = f"YAML reads '{_clip(value)}' as a special value, not as text"
                self._problem(node, loc, message, _quote(loc, value))
            return value
        try:
            return self.loader.construct_object(node)
        except (ValueError, LookupError, AttributeError, TypeError, OverflowError, yaml.YAMLError) as exc:
            # PyYAML's constructors raise whatever int(), datetime() or a dict lookup raised.
            kind = _TAG_WORDS.get(node.tag, "a value")
            if node.tag == _TIMESTAMP_TAG and len(value.strip()) > 10:
                kind = "a date and time"
            shown = f"'{_clip(value)}'"
            if explicit:
                example = _TAG_EXAMPLES.get(node.tag, "a plain value")
                self._problem(
                    node, loc, f"{shown} is not {kind}, as its tag {tag} says", f"remove {tag}, or write {example}"
                )
            else:
                reason = _construct_reason(exc, value, kind)
                self._problem(node, loc, f"YAML reads {shown} as {kind}, but {reason}", _quote(loc, value))
            return value

    def _problem(self, node: yaml.Node, loc: Loc, message: str, hint: str) -> None:
        self.problems.append((loc, node.start_mark.line + 1, message, hint))

    def _mapping(self, node: yaml.MappingNode, loc: Loc) -> dict[str, Any]:
        self._plain_tag(node, loc, _MAP_TAG)
        self._report_duplicates(node, loc)
        self.loader.flatten_mapping(node)  # resolves `<<: *anchor` merge keys in place
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self._key(key_node, loc)
            if key is None:
                continue
            child = (*loc, key)
            self.lines[child] = key_node.start_mark.line + 1
            result[key] = self.build(value_node, child)
        return result

    def _key(self, node: yaml.Node, loc: Loc) -> str | None:
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
        self._problem(node, loc, message, hint)  # named by the mapping that holds the key
        return None

    def _plain_tag(self, node: yaml.Node, loc: Loc, expected: str) -> None:
        if node.tag != expected:
            self._problem(node, loc, f"YAML tag {_short_tag(node.tag)} is not supported", _TAG_HINT)

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


def _short_tag(tag: str) -> str:
    return "!!" + tag.removeprefix(_CORE_PREFIX) if tag.startswith(_CORE_PREFIX) else tag


def _clip(value: str, limit: int = 40) -> str:
    if len(value) <= limit:
        return value
    return f"{value[: limit // 2]}…{value[-(limit // 4) :]} ({len(value)} characters)"


def _quote(loc: Loc, value: str) -> str:
    """A hint showing ``value`` quoted as text, under its key when it has one."""
    if len(value) > 80:
        return "put the value in quotes to keep it as text"
    quoted = f'"{value}"'  # only numbers, dates and '=' / '<<' get here: never a quote inside
    key = loc[-1] if loc else None
    if isinstance(key, str):
        return f"quote it: {key}: {quoted}"
    if isinstance(key, int):
        return f"quote it: - {quoted}"
    return f"quote it: {quoted}"


def _construct_reason(exc: BaseException, value: str, kind: str) -> str:
    noun = kind.removeprefix("a ")
    if "Exceeds the limit" in str(exc):  # Python's int-str conversion limit (sys.get_int_max_str_digits)
        digits = sum(c.isdigit() for c in value)
        return f"it has {digits} digits, more than the {sys.get_int_max_str_digits()} digits a number may have"
    if kind.startswith("a date") and isinstance(exc, ValueError):
        return f"it is not a valid {noun} ({exc})"  # datetime's reasons are plain: "day is out of range for month"
    return f"it is not a valid {noun}"


def _unencodable(text: str, file: str) -> ConfigIssue | None:
    """An issue for text that cannot be UTF-8 (lone surrogates, from bytes decoded with surrogateescape)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        line, column = _position(text, exc.start)
        return ConfigIssue(
            path=_YAML_PATH,
            message=f"the text is not valid Unicode at column {column}: {exc.reason} (U+{ord(text[exc.start]):04X})",
            hint="save the file as UTF-8 text",
            file=file,
            line=line,
        )
    return None


def _reader_issue(exc: yaml.reader.ReaderError, text: str, file: str) -> ConfigIssue:
    # libyaml reports a byte offset and the pure-Python reader a character offset: find the character.
    character = chr(exc.character) if isinstance(exc.character, int) else str(exc.character)
    index = text.find(character)
    line, column = _position(text, index) if index >= 0 else (None, None)
    where = f" at column {column}" if column is not None else ""
    code = ord(character)
    kind = "control character" if code < 0x20 or 0x7F <= code < 0xA0 else "character"
    return ConfigIssue(
        path=_YAML_PATH,
        message=f"the file contains the {kind} U+{code:04X}{where}, which YAML does not allow",
        hint=f'remove it, or write it as an escape inside a double-quoted string: "\\x{code:02x}"'
        if code < 0x100
        else "remove it",
        file=file,
        line=line,
    )


def _position(text: str, index: int) -> tuple[int, int]:
    """The 1-based line and column of the character at ``index``."""
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1) + 1


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
    # A constructor error is about what a well-formed document means (a merge of a scalar, a huge expansion).
    what = "YAML error" if isinstance(exc, yaml.constructor.ConstructorError) else "YAML syntax error"
    return ConfigIssue(
        path=_YAML_PATH,
        message=f"{what}{where}: {detail}",
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
    if "recursive alias" in problem:
        return "an anchor (&name) cannot contain its own alias (*name); copy the values instead"
    if "alias" in problem or "anchor" in problem:
        return "define the anchor (&name) before using it as *name"
    if "nest" in problem:
        return "flatten the structure: a config needs only a few levels of nesting"
    if "for merging" in problem:
        return "'<<:' merges a mapping: write <<: *name where &name marks a mapping"
    return _GENERIC_HINT
