"""Hooks from ``hooks:``: run before a call (allow, deny, transform its arguments) and after it (transform
its result), in config order, each filtered by tool and agent and bounded by its timeout.

Each hook sees the call as JSON (``HookCall.to_json``) and answers with an action:
``{"action": "allow"}`` (or nothing), ``{"action": "deny", "reason": "..."}``, or
``{"action": "transform", "arguments": {...}}`` before / ``{"action": "transform", "result": "..."}`` after.
The pre chain stops at the first deny; a transform feeds the next hook. Hooks fail closed: a pre hook
that times out, fails or answers nonsense denies the call; a post hook that does withholds the result.
"""

from __future__ import annotations

import asyncio
import fnmatch
import importlib
import inspect
import json
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from axocoatl.config.schema import HookConfig, HookPhase
from axocoatl.core.errors import ToolError
from axocoatl.core.messages import ToolCall
from axocoatl.tools.arguments import check_arguments
from axocoatl.tools.context import ToolContext
from axocoatl.tools.registry import Tool

log = logging.getLogger("axocoatl.hooks")


@dataclass(frozen=True)
class HookCall:
    """What a hook is told about one call (``result``: after it, the text the model will see)."""

    hook: str
    phase: HookPhase
    agent_id: str
    tool: str
    source: str
    effect: str
    call_id: str
    arguments: dict[str, Any]
    run_id: str | None = None
    thread: str | None = None
    result: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = {
            "hook": self.hook,
            "phase": self.phase,
            "agent_id": self.agent_id,
            "run_id": self.run_id,
            "thread": self.thread,
            "tool": self.tool,
            "source": self.source,
            "effect": self.effect,
            "call_id": self.call_id,
            "arguments": self.arguments,
        }
        if self.phase == "post":
            data["result"] = self.result
        return data


class HookFailed(Exception):
    """A hook that could not decide (its error, a bad answer); the pipeline fails closed."""


Action = dict[str, Any] | None


class Hook:
    """One configured hook."""

    def __init__(self, config: HookConfig) -> None:
        self.config = config
        self.name = config.name
        self._patterns = [re.compile(p) for p in config.patterns]
        self._function: Callable[[dict[str, Any]], Any] | None = None

    def applies(self, phase: HookPhase, tool: str, agent_id: str) -> bool:
        c = self.config
        if phase not in c.phases or (c.agent_id is not None and c.agent_id != agent_id):
            return False
        return not c.tools or any(fnmatch.fnmatchcase(tool, pattern) for pattern in c.tools)

    async def decide(self, call: HookCall) -> Action:
        kind = self.config.type
        if kind == "deny_list":
            return self._deny_list(call)
        if kind == "arg_size_limit":
            size = len(json.dumps(call.arguments, ensure_ascii=False).encode())
            limit = self.config.max_bytes or 0
            if size > limit:
                why = self.config.reason or f"its arguments are {size} bytes, more than the {limit} allowed"
                return {"action": "deny", "reason": why}
            return None
        if kind == "log":
            self._log(call)
            return None
        if kind == "http":
            return await self._http(call)
        return await self._python(call)

    def _deny_list(self, call: HookCall) -> Action:
        if not self._patterns:
            return {"action": "deny", "reason": self.config.reason or f"'{call.tool}' is not allowed"}
        for text in _strings(call.arguments):
            for pattern in self._patterns:
                if pattern.search(text):
                    reason = self.config.reason or f"its arguments match the denied pattern {pattern.pattern!r}"
                    return {"action": "deny", "reason": reason}
        return None

    def _log(self, call: HookCall) -> None:
        line = json.dumps({"ts": time.time(), **call.to_json()}, ensure_ascii=False, default=str)
        if self.config.path is None:
            log.info("%s", line)
            return
        try:
            path = Path(self.config.path)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        except OSError as exc:
            raise HookFailed(f"cannot write {self.config.path}: {exc.strerror}") from None

    async def _http(self, call: HookCall) -> Action:
        headers = {k: v.get_secret_value() for k, v in self.config.headers.items()}
        url = self.config.url or ""
        try:
            async with httpx.AsyncClient(timeout=self.config.timeout_secs) as client:
                response = await client.post(url, json=call.to_json(), headers=headers)
        except httpx.HTTPError as exc:
            raise HookFailed(f"POST {url} failed: {type(exc).__name__}: {exc}") from None
        if not response.is_success:
            raise HookFailed(f"POST {url} answered {response.status_code}")
        if not response.content.strip():
            return None
        try:
            answer = response.json()
        except ValueError:
            raise HookFailed(f"POST {url} answered something that is not JSON") from None
        return _action(answer)

    async def _python(self, call: HookCall) -> Action:
        function = self._function or self._load()
        try:
            if inspect.iscoroutinefunction(function):
                answer = await function(call.to_json())
            else:  # in a thread: a slow function still meets the hook's timeout
                answer = await asyncio.to_thread(function, call.to_json())
        except Exception as exc:
            raise HookFailed(f"{self.config.callable} raised {type(exc).__name__}: {exc}") from exc
        return _action(answer)

    def _load(self) -> Callable[[dict[str, Any]], Any]:
        self._function = load_callable(self.config.callable or "")
        return self._function


def load_callable(target: str) -> Callable[[dict[str, Any]], Any]:
    """The function ``target`` names: 'package.module:function' or '/path/file.py:function'."""
    where, _, name = target.rpartition(":")
    try:
        if where.endswith(".py"):
            from axocoatl.tools.python_tools import import_file

            module: object = import_file(Path(where), where)
        else:
            module = importlib.import_module(where)
    except Exception as exc:
        raise HookFailed(f"cannot import {where}: {type(exc).__name__}: {exc}") from None
    function = getattr(module, name, None)
    if not callable(function):
        raise HookFailed(f"{where} has no function '{name}'")
    return function  # type: ignore[no-any-return]


def _action(answer: Any) -> Action:
    if answer is None:
        return None
    if not isinstance(answer, dict) or answer.get("action", "allow") not in ("allow", "deny", "transform"):
        raise HookFailed(f'answered {str(answer)[:200]!r}, not {{"action": "allow" | "deny" | "transform", ...}}')
    return answer


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


class ConfiguredHooks:
    """The ``hooks:`` of the live config as the pipeline's CallHooks (rebuilt when the config changes)."""

    def __init__(self, hooks: Callable[[], Sequence[HookConfig]]) -> None:
        self._source = hooks
        self._built: tuple[Sequence[HookConfig], list[Hook]] | None = None

    def _hooks(self) -> list[Hook]:
        configs = self._source()
        if self._built is None or self._built[0] is not configs:
            self._built = (configs, [Hook(c) for c in configs])
        return self._built[1]

    async def before(self, tool: Tool, call: ToolCall, ctx: ToolContext) -> ToolCall:
        for hook in self._hooks():
            if not hook.applies("pre", tool.name, ctx.agent_id):
                continue
            action = await self._run(hook, _hook_call(hook, "pre", tool, call, ctx), "pre")
            if action is None or action.get("action", "allow") == "allow":
                continue
            if action["action"] == "deny":
                raise ToolError(f"hook '{hook.name}' denied the call: {action.get('reason') or 'no reason given'}")
            arguments = action.get("arguments")
            if not isinstance(arguments, dict):
                raise ToolError(f"hook '{hook.name}' answered transform without an arguments object")
            try:
                check_arguments(tool.name, tool.parameters, arguments)
            except ToolError as exc:
                raise ToolError(
                    f"hook '{hook.name}' transformed the arguments into ones the tool refuses: {exc}"
                ) from None
            call = ToolCall(call.id, call.name, arguments)
        return call

    async def after(self, tool: Tool, call: ToolCall, ctx: ToolContext, result: str) -> str:
        for hook in self._hooks():
            if not hook.applies("post", tool.name, ctx.agent_id):
                continue
            action = await self._run(hook, _hook_call(hook, "post", tool, call, ctx, result), "post")
            if action is None or action.get("action", "allow") == "allow":
                continue
            if action["action"] == "deny":
                reason = action.get("reason") or "no reason given"
                raise ToolError(f"hook '{hook.name}' withheld the result: {reason}")
            new = action.get("result")
            result = new if isinstance(new, str) else json.dumps(new, ensure_ascii=False, default=str)
        return result

    async def _run(self, hook: Hook, hook_call: HookCall, phase: HookPhase) -> Action:
        effect = "denied the call" if phase == "pre" else "withheld the result"
        try:
            async with asyncio.timeout(hook.config.timeout_secs):
                return await hook.decide(hook_call)
        except TimeoutError:
            raise ToolError(
                f"hook '{hook.name}' did not answer within {hook.config.timeout_secs:g} s, so it {effect}"
            ) from None
        except HookFailed as exc:
            log.warning("hook %s failed: %s", hook.name, exc)
            raise ToolError(f"hook '{hook.name}' failed ({exc}), so it {effect}") from None


def _hook_call(
    hook: Hook, phase: HookPhase, tool: Tool, call: ToolCall, ctx: ToolContext, result: str | None = None
) -> HookCall:
    return HookCall(
        hook=hook.name,
        phase=phase,
        agent_id=ctx.agent_id,
        tool=tool.name,
        source=tool.source,
        effect=tool.effect,
        call_id=call.id,
        arguments=dict(call.arguments),
        run_id=ctx.run_id,
        thread=ctx.thread,
        result=result,
    )
