"""Fuzzing the loader through the public ``axocoatl.load_config``: random bytes, random text and
generated YAML (schema keys, hostile scalars, tags, anchors, huge numbers, invalid Unicode,
``${VAR}`` with hostile values) either load or raise ConfigError. Nothing else, and promptly."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from axocoatl import ConfigError, load_config
from axocoatl.config import AxocoatlConfig

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Keys the schema knows (so documents reach validation), and a few it does not.
KEYS = [
    "agents",
    "workflows",
    "providers",
    "skills",
    "schedules",
    "proactive",
    "server",
    "store",
    "mcp_servers",
    "hooks",
    "webhooks",
    "sandbox",
    "consolidation",
    "web_search",
    "id",
    "name",
    "provider",
    "model",
    "system_prompt",
    "tools",
    "depends_on",
    "role",
    "activation_threshold",
    "activation_decay",
    "timeout_secs",
    "options",
    "token_budget",
    "per_execution",
    "per_call",
    "memory",
    "core",
    "blocks",
    "label",
    "limit",
    "sampling",
    "temperature",
    "agents",
    "entry_point",
    "emits",
    "reacts_to",
    "every",
    "cron",
    "workflow",
    "trigger",
    "type",
    "local",
    "openai",
    "fallback",
    "port",
    "max_body_bytes",
    "reply",
    "latency_ms",
    "tool_calls",
    "<<",
    "1",
    "~",
]
HOSTILE = [
    "2024-02-30",
    "2024-01-01 25:00:00",
    "2024-01-01 10:00:00 +25:00",
    "0x_",
    "0b_",
    "0o",
    "._",
    "=",
    "<<",
    "~",
    "9" * 5000,
    "-" + "9" * 4400,
    "1" + "0" * 400 + ".5",
    ".inf",
    "-.inf",
    ".nan",
    "1e999",
    "1:2:3:4:5",
    "!!int abc",
    "!!float x",
    "!!bool maybe",
    "!!timestamp soon",
    "!!binary '@@'",
    "!!python/object:os.system x",
    "!foo bar",
    "!!set {a}",
    "!!omap [a: 1]",
    "*undefined",
    "&anchor value",
    "${VAR}",
    "${",
    "$${",
    "${VAR:?gone}",
    "${VAR:-[/]}",
    "'unclosed",
    '"unclosed',
    "[unclosed",
    "{a: ",
    "- - -",
    "? complex",
    "\t",
    "\x00",
    "\x01",
    "\ufeff",
    "\x85",
    "\u2028",
    "[/]",
    "[bold]x",
    ":rocket:",
    "mock",
    "local",
    "worker",
    "a",
    "b",
    "true",
    "null",
    "-1",
    "0",
    "1",
    "0.5",
    "3",
    "1h",
    "0s",
    "* * * * *",
]


@st.composite
def scalars(draw: st.DrawFn) -> str:
    return draw(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=12)))


def _node(depth: int) -> st.SearchStrategy[object]:
    if depth <= 0:
        return scalars()
    child = _node(depth - 1)
    return st.one_of(
        scalars(),
        st.lists(child, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), child, max_size=5),
    )


def render(node: object, indent: int, flow: bool) -> list[str]:
    """YAML text for ``node`` with scalars written raw (unquoted, so YAML reads them as typed)."""
    pad = " " * indent
    if isinstance(node, dict):
        if flow or not node:
            return ["{" + ", ".join(f"{k}: {' '.join(render(v, 0, True))}" for k, v in node.items()) + "}"]
        lines = []
        for key, value in node.items():
            body = render(value, indent + 2, flow)
            if isinstance(value, dict | list) and value and not flow:
                lines += [f"{pad}{key}:", *body]
            else:
                lines.append(f"{pad}{key}: {body[0].strip()}")
        return lines
    if isinstance(node, list):
        if flow or not node:
            return ["[" + ", ".join(" ".join(render(v, 0, True)) for v in node) + "]"]
        lines = []
        for item in node:
            body = render(item, indent + 2, flow)
            lines.append(f"{pad}- {body[0].strip()}")
            lines += body[1:]
        return lines
    return [f"{pad}{node}"]


@st.composite
def documents(draw: st.DrawFn) -> str:
    top = draw(st.dictionaries(st.sampled_from(KEYS), _node(3), max_size=5))
    text = "\n".join(render(top, 0, draw(st.booleans()))) + "\n"
    if draw(st.booleans()):  # an anchor and aliases of it, maybe nested, maybe recursive
        text = (
            "x: &a [1, 2]\n"
            + text.replace(": a\n", ": *a\n", 1)
            + draw(st.sampled_from(["", "y: *a\n", "z: &b [*b]\n"]))
        )
    return text


ENV = st.dictionaries(st.sampled_from(["VAR", "OTHER"]), st.one_of(st.sampled_from(HOSTILE), st.text(max_size=8)))


def check(data: bytes, env: Mapping[str, str]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "axocoatl.yaml"
        path.write_bytes(data)
        try:
            loaded = load_config(path, env=dict(env))
        except ConfigError as exc:
            assert exc.issues, "a ConfigError must say what is wrong"
            text = str(exc)
            assert all(issue.message and issue.path for issue in exc.issues), text
        else:
            assert isinstance(loaded.config, AxocoatlConfig)
            for warning in loaded.warnings:
                warning.render()


@FUZZ
@given(st.binary(max_size=400))
def test_random_bytes(data: bytes) -> None:
    check(data, {})


@FUZZ
@given(st.text(max_size=300), ENV)
def test_random_text_including_invalid_unicode(text: str, env: dict[str, str]) -> None:
    check(text.encode("utf-8", "surrogatepass"), env)


@FUZZ
@given(documents(), ENV)
def test_generated_yaml_documents(text: str, env: dict[str, str]) -> None:
    check(text.encode("utf-8", "surrogatepass"), env)


@FUZZ
@given(st.lists(st.sampled_from(HOSTILE), min_size=1, max_size=6), st.sampled_from(KEYS), ENV)
def test_hostile_scalars_in_every_agent_field(values: list[str], key: str, env: dict[str, str]) -> None:
    lines = ["agents:"]
    for index, value in enumerate(values):
        lines += [f"  - id: a{index}", "    provider: mock", f"    {key}: {value}"]
    lines += ["workflows:", "  - id: w", "    agents: [" + ", ".join(f"a{i}" for i in range(len(values))) + "]"]
    check(("\n".join(lines) + "\n").encode("utf-8", "surrogatepass"), env)
