"""Hooks from `hooks:` through the Python API: config order, filters, deny / transform, timeouts, and an
http hook against a loopback server."""

from __future__ import annotations

import json
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from axocoatl.config.schema import AxocoatlConfig
from axocoatl.runtime.runtime import Runtime
from axocoatl.tools.journal import run_tool_calls

HOOKS_PY = """
import asyncio

def shout(call):
    if call["phase"] == "pre":
        args = dict(call["arguments"])
        args["content"] = args["content"].upper()
        return {"action": "transform", "arguments": args}
    return {"action": "transform", "result": call["result"] + " (checked)"}

async def slow(call):
    await asyncio.sleep(30)

def broken(call):
    return "yes please"

def mangle(call):
    return {"action": "transform", "arguments": {"path": 5}}
"""


def _config(
    tmp_path: Path, calls: list[dict[str, Any]], hooks: str, *, tools: str = "[write_file, read_file]"
) -> AxocoatlConfig:
    (tmp_path / "hooks.py").write_text(HOOKS_PY)
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    text = textwrap.dedent(
        f"""\
        agents:
          - id: worker
            provider: mock
            tools: {tools}
            options: {{tool_calls: {json.dumps(calls)}, reply: "saw {{tool_result}}"}}
          - id: other
            provider: mock
            tools: {tools}
            options: {{tool_calls: {json.dumps(calls)}, reply: "saw {{tool_result}}"}}
        workflows:
          - id: job
            agents: [worker]
            workspace: {work}
          - id: job2
            agents: [other]
            workspace: {work}
        """
    )
    hooks = hooks.replace("HOOKS", str(tmp_path / "hooks.py")).replace("LOG", str(tmp_path / "audit.jsonl"))
    return AxocoatlConfig.model_validate(yaml.safe_load(text + textwrap.dedent(hooks)))


async def _calls(tmp_path: Path, config: AxocoatlConfig, workflow: str = "job") -> list[dict[str, Any]]:
    async with Runtime(config, data_dir=tmp_path / "data") as rt:
        run = await rt.run_workflow(workflow, "go")
        assert run.status == "completed", run.error
        return await run_tool_calls(rt.store, run.run_id)


def _error(call: dict[str, Any]) -> str:
    assert call["is_error"], call
    return str(json.loads(call["result"])["error"])


WRITE = {"name": "write_file", "arguments": {"path": "a.txt", "content": "hello"}}


async def test_hooks_run_in_config_order_and_transform_arguments_and_results(tmp_path: Path) -> None:
    hooks = """\
    hooks:
      - {name: before, type: log, path: LOG}
      - {name: shout, type: python, callable: "HOOKS:shout", tools: [write_*]}
      - {name: after, type: log, path: LOG}
    """
    [call] = await _calls(tmp_path, _config(tmp_path, [WRITE], hooks))
    assert (tmp_path / "work" / "a.txt").read_text() == "HELLO"  # the transformed arguments ran
    assert call["arguments"] == {"path": "a.txt", "content": "HELLO"}  # and were journaled
    assert json.loads(call["result"].removesuffix(" (checked)"))["ok"] is True
    lines = [json.loads(line) for line in (tmp_path / "audit.jsonl").read_text().splitlines()]
    seen = [(entry["hook"], entry["phase"], entry["arguments"]["content"]) for entry in lines]
    # pre: before sees the model's arguments, after sees shout's; post: in config order again.
    assert seen == [
        ("before", "pre", "hello"),
        ("after", "pre", "HELLO"),
        ("before", "post", "HELLO"),
        ("after", "post", "HELLO"),
    ]
    assert lines[2]["result"] == lines[3]["result"].removesuffix(" (checked)")
    assert lines[3]["result"].endswith(" (checked)")
    assert {entry["agent_id"] for entry in lines} == {"worker"} and lines[0]["tool"] == "write_file"


async def test_deny_list_and_arg_size_limit_deny_before_the_call(tmp_path: Path) -> None:
    calls = [
        {"name": "write_file", "arguments": {"path": "secret.txt", "content": "x"}},
        {"name": "write_file", "arguments": {"path": "big.txt", "content": "y" * 500}},
        {"name": "read_file", "arguments": {"path": "a.txt"}},
        {"name": "write_file", "arguments": {"path": "fine.txt", "content": "z"}},
    ]
    hooks = """\
    hooks:
      - {name: no-secrets, type: deny_list, patterns: ["secret", "^/etc"], tools: [write_file]}
      - {name: small, type: arg_size_limit, max_bytes: 200}
      - {name: no-reads, type: deny_list, tools: [read_*], reason: "reading is off today"}
    """
    secret, big, read, fine = await _calls(tmp_path, _config(tmp_path, calls, hooks))
    assert _error(secret) == "hook 'no-secrets' denied the call: its arguments match the denied pattern 'secret'"
    assert "hook 'small' denied the call: its arguments are 5" in _error(big)
    assert _error(read) == "hook 'no-reads' denied the call: reading is off today"
    assert not fine["is_error"]
    assert sorted(p.name for p in (tmp_path / "work").iterdir()) == ["fine.txt"]


async def test_hooks_are_filtered_by_agent(tmp_path: Path) -> None:
    hooks = """\
    hooks:
      - {name: only-worker, type: deny_list, agent_id: worker}
    """
    config = _config(tmp_path, [WRITE], hooks)
    [denied] = await _calls(tmp_path, config, "job")
    assert _error(denied).startswith("hook 'only-worker' denied the call")
    [allowed] = await _calls(tmp_path, config, "job2")
    assert not allowed["is_error"]


async def test_a_pre_hook_that_times_out_or_answers_nonsense_denies(tmp_path: Path) -> None:
    calls = [WRITE, {"name": "read_file", "arguments": {"path": "a.txt"}}]
    hooks = """\
    hooks:
      - {name: slow, type: python, callable: "HOOKS:slow", timeout_secs: 0.2, tools: [write_file]}
      - {name: broken, type: python, callable: "HOOKS:broken", tools: [read_file]}
    """
    write, read = await _calls(tmp_path, _config(tmp_path, calls, hooks))
    assert _error(write) == "hook 'slow' did not answer within 0.2 s, so it denied the call"
    assert _error(read).startswith("hook 'broken' failed (answered 'yes please', not {\"action\"")
    assert not (tmp_path / "work" / "a.txt").exists()


async def test_transformed_arguments_are_checked_against_the_schema_again(tmp_path: Path) -> None:
    hooks = """\
    hooks:
      - {name: mangle, type: python, callable: "HOOKS:mangle", phase: [pre]}
    """
    [call] = await _calls(tmp_path, _config(tmp_path, [WRITE], hooks))
    assert _error(call).startswith("hook 'mangle' transformed the arguments into ones the tool refuses: ")
    assert not (tmp_path / "work" / "a.txt").exists()


async def test_a_post_hook_that_times_out_withholds_the_result(tmp_path: Path) -> None:
    hooks = """\
    hooks:
      - {name: slow, type: python, callable: "HOOKS:slow", timeout_secs: 0.2, phase: [post]}
    """
    [call] = await _calls(tmp_path, _config(tmp_path, [WRITE], hooks))
    assert _error(call) == "hook 'slow' did not answer within 0.2 s, so it withheld the result"
    assert (tmp_path / "work" / "a.txt").read_text() == "hello"  # the pre phase was not hooked


class _Decider(BaseHTTPRequestHandler):
    received: list[dict[str, Any]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        body["auth"] = self.headers.get("x-token")
        _Decider.received.append(body)
        if body["phase"] == "pre" and body["arguments"].get("path") == "no.txt":
            answer: Any = {"action": "deny", "reason": "the server said no"}
        elif body["phase"] == "post":
            answer = {"action": "transform", "result": {"redacted": True}}
        else:
            answer = {"action": "allow"}
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def decider() -> Iterator[str]:
    _Decider.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Decider)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/decide"
    finally:
        server.shutdown()
        server.server_close()


async def test_an_http_hook_decides_with_its_json_answer(tmp_path: Path, decider: str) -> None:
    calls = [{"name": "write_file", "arguments": {"path": "no.txt", "content": "x"}}, WRITE]
    hooks = f"""\
    hooks:
      - {{name: remote, type: http, url: "{decider}", headers: {{x-token: s3cret}}}}
    """
    denied, allowed = await _calls(tmp_path, _config(tmp_path, calls, hooks))
    assert _error(denied) == "hook 'remote' denied the call: the server said no"
    assert json.loads(allowed["result"]) == {"redacted": True}
    assert (tmp_path / "work" / "a.txt").read_text() == "hello"
    phases = [(b["phase"], b["arguments"]["path"], b["auth"]) for b in _Decider.received]
    assert phases == [("pre", "no.txt", "s3cret"), ("pre", "a.txt", "s3cret"), ("post", "a.txt", "s3cret")]
    post = _Decider.received[2]
    assert post["hook"] == "remote" and post["agent_id"] == "worker" and json.loads(post["result"])["ok"] is True


async def test_an_http_hook_that_cannot_be_reached_denies(tmp_path: Path, decider: str) -> None:
    hooks = """\
    hooks:
      - {name: gone, type: http, url: "http://127.0.0.1:9/nothing", timeout_secs: 5}
    """
    [call] = await _calls(tmp_path, _config(tmp_path, [WRITE], hooks))
    assert _error(call).startswith("hook 'gone' failed (POST http://127.0.0.1:9/nothing failed: ConnectError")
    assert not (tmp_path / "work" / "a.txt").exists()


def test_hook_config_errors_name_the_field(tmp_path: Path) -> None:
    (tmp_path / "hooks.py").write_text(HOOKS_PY)
    text = textwrap.dedent(
        """\
        hooks:
          - {name: a, type: http}
          - {name: b, type: deny_list, patterns: ["("]}
          - {name: c, type: deny_list, phase: [post]}
        """
    )
    (tmp_path / "axocoatl.yaml").write_text(text)
    from axocoatl.config.loader import load_config
    from axocoatl.core.errors import ConfigError

    with pytest.raises(ConfigError) as raised:
        load_config(tmp_path / "axocoatl.yaml")
    messages = [(i.path, i.message) for i in raised.value.issues]
    assert ("hooks[a]", "a http hook needs url") in messages
    assert any(p == "hooks[b]" and "pattern '(' is not a regular expression" in m for p, m in messages)
    assert ("hooks[c]", "a deny_list hook decides before the call: use phase: [pre]") in messages


def test_validate_imports_python_hooks_and_checks_tool_names(tmp_path: Path) -> None:
    from axocoatl.config.loader import load_config
    from axocoatl.core.errors import ConfigError

    (tmp_path / "hooks.py").write_text(HOOKS_PY)
    config = tmp_path / "axocoatl.yaml"
    config.write_text(
        textwrap.dedent(
            """\
            hooks:
              - {name: d, type: python, callable: "nowhere.module:fn"}
              - {name: e, type: python, callable: "hooks.py:missing"}
            """
        )
    )
    with pytest.raises(ConfigError) as raised:
        load_config(config)
    issues = {i.path: i.message for i in raised.value.issues}
    assert issues["hooks[d].callable"].startswith("importing 'nowhere.module' failed: ModuleNotFoundError")
    assert issues["hooks[e].callable"] == "'hooks.py' has no function 'missing'"

    config.write_text(
        textwrap.dedent(
            """\
            hooks:
              - {name: f, type: log, tools: [writ_file]}
              - {name: g, type: python, callable: "hooks.py:shout"}
            """
        )
    )
    loaded = load_config(config)
    assert [(w.path, w.message) for w in loaded.warnings] == [
        ("hooks[f].tools[0]", "hook 'f' applies to 'writ_file', which names no tool")
    ]  # and no "hooks has no effect": they are live
    assert loaded.config.hooks[1].callable == f"{tmp_path / 'hooks.py'}:shout"  # anchored to the config file
