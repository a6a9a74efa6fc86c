"""HTN methods files (``htn_methods_file``): their tasks, preconditions and methods, read with file:line errors.

The original format loads unchanged (a list of ``{task_pattern, preconditions: [{key, expected}],
subtasks: [{name, task_type, parameters}]}``); the extensions (globs, ``match:``, operators,
``effects``, ``after:``) are documented in docs/coordinator.md. The planner is coordination/htn.py.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import yaml

from axocoatl.core.errors import ConfigError, ConfigIssue

TaskType = Literal["Primitive", "Compound"]
OPERATORS = ("eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "contains", "exists", "absent", "matches")
_METHOD_KEYS = {"task_pattern", "match", "preconditions", "subtasks", "effects"}
_TASK_KEYS = {"name", "task_type", "parameters", "after", "effects"}
_CONDITION_KEYS = {"key", "expected", "op"}


@dataclass(frozen=True)
class Task:
    name: str
    task_type: TaskType = "Primitive"
    parameters: Mapping[str, Any] = field(default_factory=dict)
    after: tuple[str, ...] = ()  # names of sibling subtasks (of the same method) that must finish first
    effects: Mapping[str, Any] = field(default_factory=dict)

    @property
    def primitive(self) -> bool:
        return self.task_type == "Primitive"

    @property
    def tools(self) -> tuple[str, ...]:
        tools = self.parameters.get("tools")
        return tuple(str(t) for t in tools) if isinstance(tools, list) else ()

    @property
    def description(self) -> str:
        description = self.parameters.get("description")
        return str(description) if description else self.name


@dataclass(frozen=True)
class Condition:
    key: str
    expected: Any = None
    op: str = "eq"

    def holds(self, state: Mapping[str, Any]) -> bool:
        present = self.key in state
        if self.op == "exists":
            return present
        if self.op == "absent":
            return not present
        if not present:
            return self.op in ("ne", "not_in")
        value = state[self.key]
        try:
            if self.op == "eq":
                return bool(value == self.expected)
            if self.op == "ne":
                return bool(value != self.expected)
            if self.op == "lt":
                return bool(value < self.expected)
            if self.op == "le":
                return bool(value <= self.expected)
            if self.op == "gt":
                return bool(value > self.expected)
            if self.op == "ge":
                return bool(value >= self.expected)
            if self.op == "in":
                return value in self.expected
            if self.op == "not_in":
                return value not in self.expected
            if self.op == "contains":
                return self.expected in value
            if self.op == "matches":
                return re.search(str(self.expected), str(value)) is not None
        except TypeError:  # comparing a number with a string: the condition does not hold
            return False
        raise ValueError(f"unknown operator {self.op!r}")


@dataclass(frozen=True)
class Method:
    task_pattern: str
    subtasks: tuple[Task, ...]
    preconditions: tuple[Condition, ...] = ()
    effects: Mapping[str, Any] = field(default_factory=dict)
    match: str | None = None  # a regex over the goal: this method's task is the root (named groups → facts)
    line: int | None = None

    def covers(self, name: str) -> bool:
        return fnmatch.fnmatchcase(name, self.task_pattern)

    def applies(self, state: Mapping[str, Any]) -> bool:
        return all(c.holds(state) for c in self.preconditions)

    def to_json(self) -> dict[str, Any]:
        return {
            "task_pattern": self.task_pattern,
            "match": self.match,
            "preconditions": [{"key": c.key, "op": c.op, "expected": c.expected} for c in self.preconditions],
            "effects": dict(self.effects),
            "subtasks": [
                {
                    "name": t.name,
                    "task_type": t.task_type,
                    "parameters": dict(t.parameters),
                    "after": list(t.after),
                    "effects": dict(t.effects),
                }
                for t in self.subtasks
            ],
            "line": self.line,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Method:
        return cls(
            task_pattern=data["task_pattern"],
            match=data.get("match"),
            preconditions=tuple(
                Condition(c["key"], c.get("expected"), c.get("op", "eq")) for c in data["preconditions"]
            ),
            effects=dict(data.get("effects") or {}),
            subtasks=tuple(
                Task(t["name"], t["task_type"], dict(t["parameters"]), tuple(t["after"]), dict(t["effects"]))
                for t in data["subtasks"]
            ),
            line=data.get("line"),
        )


def parse_methods(text: str, file: str) -> list[Method]:
    """The methods of an HTN methods file (YAML); every problem at once as a ConfigError with file:line."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(
            [ConfigIssue("htn_methods_file", f"not valid YAML: {problem}", "fix the YAML syntax", file, line)],
            file=file,
        ) from None
    parser = _Parser(file)
    methods = parser.methods(node)
    if parser.issues:
        raise ConfigError(parser.issues, file=file)
    return methods


class _Parser:
    def __init__(self, file: str) -> None:
        self.file = file
        self.issues: list[ConfigIssue] = []
        self.loader = yaml.SafeLoader("")

    def issue(self, node: yaml.Node, path: str, message: str, hint: str) -> None:
        self.issues.append(ConfigIssue(path, message, hint, self.file, node.start_mark.line + 1))

    def value(self, node: yaml.Node) -> Any:
        return self.loader.construct_object(node, deep=True)

    def mapping(self, node: yaml.Node, path: str, keys: set[str], what: str) -> dict[str, yaml.Node] | None:
        if not isinstance(node, yaml.MappingNode):
            self.issue(node, path, f"{what} must be a mapping", f"write it as key: value pairs ({sorted(keys)})")
            return None
        found: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = str(self.value(key_node))
            if key not in keys:
                self.issue(key_node, f"{path}.{key}", f"unknown key '{key}' in {what}", f"use one of: {sorted(keys)}")
            else:
                found[key] = value_node
        return found

    def methods(self, node: yaml.Node | None) -> list[Method]:
        if node is None:
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.issue(
                node, "methods", "an HTN methods file must be a list of methods", "start each with '- task_pattern:'"
            )
            return []
        out = []
        for index, item in enumerate(node.value):
            method = self.method(item, f"[{index}]")
            if method is not None:
                out.append(method)
        return out

    def method(self, node: yaml.Node, path: str) -> Method | None:
        fields = self.mapping(node, path, _METHOD_KEYS, "a method")
        if fields is None:
            return None
        start = len(self.issues)
        pattern = self.text(fields.get("task_pattern"), f"{path}.task_pattern", node, required=True)
        match = self.text(fields.get("match"), f"{path}.match", node)
        if match is not None:
            try:
                re.compile(match)
            except re.error as exc:
                self.issue(fields["match"], f"{path}.match", f"not a valid regular expression: {exc}", "fix the regex")
        conditions = []
        if "preconditions" in fields:
            conditions = self.conditions(fields["preconditions"], f"{path}.preconditions")
        effects = self.effects(fields.get("effects"), f"{path}.effects")
        subtasks: list[Task] = []
        sub_node = fields.get("subtasks")
        if sub_node is None or not isinstance(sub_node, yaml.SequenceNode) or not sub_node.value:
            self.issue(
                sub_node or node,
                f"{path}.subtasks",
                "a method needs a non-empty list of subtasks",
                "add subtasks: [...]",
            )
        else:
            parsed: list[tuple[int, Task, yaml.Node]] = []  # with their place in the file (some may not parse)
            for index, item in enumerate(sub_node.value):
                task = self.task(item, f"{path}.subtasks[{index}]")
                if task is not None:
                    subtasks.append(task)
                    parsed.append((index, task, item))
            first: dict[str, int] = {}
            for index, task, _ in parsed:
                first.setdefault(task.name, index)
            for index, task, item in parsed:
                for dep in task.after:
                    if dep not in first or dep == task.name:
                        earlier = [t.name for i, t, _ in parsed if i < index]
                        self.issue(
                            item,
                            f"{path}.subtasks[{index}].after",
                            f"'{dep}' is not an earlier subtask of this method",
                            f"after: names subtasks listed before it: {earlier or '(none)'}",
                        )
                    elif first[dep] > index:
                        self.issue(
                            item,
                            f"{path}.subtasks[{index}].after",
                            f"'{dep}' comes later in this method; a subtask can only wait for earlier ones",
                            "move it before this subtask",
                        )
        if len(self.issues) > start or pattern is None:
            return None
        return Method(pattern, tuple(subtasks), tuple(conditions), effects, match, node.start_mark.line + 1)

    def text(self, node: yaml.Node | None, path: str, parent: yaml.Node, *, required: bool = False) -> str | None:
        if node is None:
            if required:
                self.issue(parent, path, f"{path.rsplit('.', 1)[-1]} is required", "add it (a task name or glob)")
            return None
        value = self.value(node)
        if not isinstance(value, str) or not value.strip():
            self.issue(node, path, "must be a non-empty string", "write a name, e.g. research_*")
            return None
        return value

    def conditions(self, node: yaml.Node, path: str) -> list[Condition]:
        if not isinstance(node, yaml.SequenceNode):
            self.issue(node, path, "preconditions must be a list", "write - {key: k, expected: v}")
            return []
        out = []
        for index, item in enumerate(node.value):
            where = f"{path}[{index}]"
            fields = self.mapping(item, where, _CONDITION_KEYS, "a precondition")
            if fields is None:
                continue
            key = self.text(fields.get("key"), f"{where}.key", item, required=True)
            op = str(self.value(fields["op"])) if "op" in fields else "eq"
            if op not in OPERATORS:
                self.issue(
                    fields["op"], f"{where}.op", f"unknown operator '{op}'", f"use one of: {', '.join(OPERATORS)}"
                )
                continue
            expected = self.value(fields["expected"]) if "expected" in fields else None
            if "expected" not in fields and op not in ("exists", "absent"):
                self.issue(item, f"{where}.expected", f"operator '{op}' needs expected", "add expected: VALUE")
                continue
            if op in ("in", "not_in") and not isinstance(expected, list):
                self.issue(item, f"{where}.expected", f"operator '{op}' needs a list", "write expected: [a, b]")
                continue
            if op == "matches":
                try:
                    re.compile(str(expected))
                except re.error as exc:
                    self.issue(item, f"{where}.expected", f"not a valid regular expression: {exc}", "fix the regex")
                    continue
            if key is not None:
                out.append(Condition(key, expected, op))
        return out

    def effects(self, node: yaml.Node | None, path: str) -> dict[str, Any]:
        if node is None:
            return {}
        value = self.value(node)
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            self.issue(node, path, "effects must be a mapping of state keys to values", "write effects: {key: value}")
            return {}
        return value

    def task(self, node: yaml.Node, path: str) -> Task | None:
        fields = self.mapping(node, path, _TASK_KEYS, "a subtask")
        if fields is None:
            return None
        name = self.text(fields.get("name"), f"{path}.name", node, required=True)
        kind = self.value(fields["task_type"]) if "task_type" in fields else "Primitive"
        if kind not in ("Primitive", "Compound"):
            self.issue(
                fields["task_type"], f"{path}.task_type", f"unknown task_type {kind!r}", "use Primitive or Compound"
            )
            return None
        parameters = self.value(fields["parameters"]) if "parameters" in fields else {}
        if not isinstance(parameters, dict):
            self.issue(
                fields["parameters"], f"{path}.parameters", "parameters must be a mapping", "write {tools: [...]}"
            )
            return None
        tools = parameters.get("tools")
        if tools is not None and (not isinstance(tools, list) or not all(isinstance(t, str) for t in tools)):
            self.issue(fields["parameters"], f"{path}.parameters.tools", "tools must be a list of tool names", "[a, b]")
            return None
        after_value = self.value(fields["after"]) if "after" in fields else []
        if isinstance(after_value, str):
            after_value = [after_value]
        if not isinstance(after_value, list) or not all(isinstance(a, str) for a in after_value):
            self.issue(fields["after"], f"{path}.after", "after must be a list of subtask names", "write after: [a]")
            return None
        effects = self.effects(fields.get("effects"), f"{path}.effects")
        if name is None:
            return None
        task_type: TaskType = "Compound" if kind == "Compound" else "Primitive"
        return Task(name, task_type, parameters, tuple(after_value), effects)
