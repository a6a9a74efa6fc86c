"""`axocoatl chat`: talk to an agent, through the running daemon or in-process when none runs."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import typer

from axocoatl.cli.common import (
    console,
    err_console,
    fail,
    globals_of,
    input_limit,
    load,
    print_json,
    read_input,
    text_problem,
)
from axocoatl.cli.completion import complete_agents
from axocoatl.core.errors import AxocoatlError, UsageError

if TYPE_CHECKING:
    # Imported lazily below: the daemon client pulls in the whole runtime, and every CLI
    # command imports this module (that cost ~1 s on each `axocoatl` invocation).
    from axocoatl.cli.daemon_client import DaemonClient
    from axocoatl.config.schema import AxocoatlConfig

EXIT_COMMANDS = ("/exit", "/quit", "exit", "quit")
HELP = "commands: /reset (start this thread afresh; the old messages stay stored), /exit (or Ctrl-D), /help"
DEFAULT_THREAD = "main"  # memory.session.DEFAULT_THREAD, without importing the runtime at startup

OnEvent = Callable[[str, dict[str, Any]], None]


class ChatBackend(Protocol):
    where: str

    async def turn(self, text: str, on_event: OnEvent) -> dict[str, Any]: ...

    async def reset(self) -> None: ...

    async def aclose(self) -> None: ...


class DaemonChat:
    """Turns over HTTP, streamed as Server-Sent Events."""

    def __init__(self, client: DaemonClient, agent_id: str, thread: str) -> None:
        self.agent_id = agent_id
        self.thread = thread
        self.where = f"daemon {client.url}"
        self._daemon = client
        self._http = client.async_client()

    async def turn(self, text: str, on_event: OnEvent) -> dict[str, Any]:
        from axocoatl.cli.daemon_client import DaemonError, daemon_error

        path = f"/api/agents/{self.agent_id}/execute"
        async for event, data in self._daemon.stream(self._http, path, {"input": text, "thread": self.thread}):
            if event == "done":
                return data
            if event == "error":
                raise daemon_error(str(data.get("error")), hint=data.get("hint"), status=data.get("status"))
            on_event(event, data)
        raise DaemonError("the daemon ended the reply early", hint="check the daemon's log")

    async def reset(self) -> None:
        import httpx

        from axocoatl.cli.daemon_client import daemon_error

        try:
            response = await self._http.post(f"/api/agents/{self.agent_id}/reset", params={"thread": self.thread})
        except httpx.HTTPError as exc:
            raise self._daemon.unreachable(exc) from None
        if not response.is_success:
            body = response.json()
            raise daemon_error(str(body.get("error")), hint=body.get("hint"), status=response.status_code)

    async def aclose(self) -> None:
        await self._http.aclose()


class LocalChat:
    """Turns in this process, on a Runtime of our own."""

    where = "in-process (no daemon running)"

    def __init__(
        self, config: AxocoatlConfig, data_dir: Path, agent_id: str, thread: str, workspace: Path | None = None
    ) -> None:
        from axocoatl.runtime.runtime import Runtime

        self.agent_id = agent_id
        self.thread = thread
        self.workspace = workspace
        self.runtime = Runtime(config, data_dir=data_dir)

    async def start(self) -> None:
        await self.runtime.start()
        self.runtime.agent(self.agent_id)  # unknown agent: a clear error before the first prompt

    async def turn(self, text: str, on_event: OnEvent) -> dict[str, Any]:
        from axocoatl.core.events import AgentStreamEvent, stream_payload

        def sink(event: AgentStreamEvent) -> None:
            on_event(*stream_payload(event))  # what DaemonChat gets from the daemon's SSE

        output = await self.runtime.execute(
            self.agent_id, text, thread=self.thread, sink=sink, workspace=self.workspace
        )
        usage = output.usage
        return {"output": output.content, "usage": {**usage.to_dict(), "total": usage.total}}

    async def reset(self) -> None:
        await self.runtime.agent(self.agent_id).reset_session(self.thread)

    async def aclose(self) -> None:
        await self.runtime.aclose()


@dataclass
class _Printer:
    """Streams a reply to the terminal: tokens inline, tool calls on their own lines."""

    agent_id: str
    color: bool
    at_line_start: bool = True
    streamed: list[str] = field(default_factory=list)

    def style(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def write(self, text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()
        if text:
            self.at_line_start = text.endswith("\n")

    def begin(self) -> None:
        self.streamed.clear()
        self.write(self.style(f"{self.agent_id}> ", "1;36"))
        self.at_line_start = False

    def newline(self) -> None:
        if not self.at_line_start:
            self.write("\n")

    def on_event(self, event: str, data: dict[str, Any]) -> None:
        if event == "token":
            delta = str(data.get("delta", ""))
            self.streamed.append(delta)
            self.write(delta)
        elif event == "tool-start":
            self.newline()
            args = _clip(json.dumps(data.get("arguments", {}), ensure_ascii=False), 80)
            self.write(self.style(f"  ⚙ {data.get('name')}({args})", "2") + "\n")
        elif event == "approval":
            from axocoatl.cli.live import approval_notice

            self.newline()
            self.write(self.style(approval_notice(data), "35") + "\n")
        elif event == "tool-result":
            mark = "✗" if data.get("is_error") else "→"
            self.write(self.style(f"    {mark} {_clip(str(data.get('result', '')), 60)}", "2") + "\n")
            self.write(self.style(f"{self.agent_id}> ", "1;36"))
            self.at_line_start = False

    def finish(self, result: dict[str, Any], total: int) -> None:
        if not self.streamed:
            self.write(str(result.get("output", "")))  # nothing streamed (a provider without streaming)
        self.newline()
        usage = result.get("usage") or {}
        line = f"[tokens: {usage.get('input', 0)} in · {usage.get('output', 0)} out · {total} this chat]"
        self.write(self.style(line, "2") + "\n")


def _clip(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


async def _reader(history_file: Path | None) -> Callable[[], Awaitable[str | None]]:
    """A line reader: prompt_toolkit on a terminal (history, editing), plain lines otherwise."""
    if sys.stdin.isatty() and sys.stdout.isatty():
        try:
            from prompt_toolkit import PromptSession
            from prompt_toolkit.history import FileHistory, InMemoryHistory
        except ImportError:
            pass
        else:
            history = InMemoryHistory()
            if history_file is not None:
                try:
                    history_file.parent.mkdir(parents=True, exist_ok=True)
                    history = FileHistory(str(history_file))  # type: ignore[assignment]
                except OSError:
                    pass
            session: PromptSession[str] = PromptSession(history=history)

            async def prompt() -> str | None:
                while True:
                    try:
                        return await session.prompt_async("you> ")
                    except KeyboardInterrupt:
                        continue  # Ctrl-C clears the line, like a shell
                    except EOFError:
                        return None

            return prompt

    async def read_line() -> str | None:
        if sys.stdin.isatty():
            sys.stdout.write("you> ")
            sys.stdout.flush()
        import asyncio

        line = await asyncio.to_thread(sys.stdin.readline)
        return None if line == "" else line.rstrip("\n")

    return read_line


async def _stoppable(turn: Awaitable[dict[str, Any]]) -> dict[str, Any] | None:
    """The turn's result, or None when Ctrl-C stopped it: in the REPL, Ctrl-C stops the reply, not the chat."""
    import asyncio
    import signal

    task = asyncio.ensure_future(turn)
    loop = asyncio.get_running_loop()
    previous = signal.getsignal(signal.SIGINT)
    try:
        loop.add_signal_handler(signal.SIGINT, task.cancel)
    except (NotImplementedError, RuntimeError, ValueError):  # no signals here (Windows, a thread): Ctrl-C quits
        return await task
    try:
        return await task
    except asyncio.CancelledError:
        if not task.cancelled():
            raise
        current = asyncio.current_task()
        if current is not None and current.cancelling():
            raise  # the chat itself is being cancelled
        return None
    finally:
        loop.remove_signal_handler(signal.SIGINT)
        signal.signal(signal.SIGINT, previous)


async def _chat(
    backend: ChatBackend,
    agent_id: str,
    thread: str,
    message: str | None,
    history_file: Path | None,
    limit: int,
    *,
    as_json: bool = False,
) -> int:
    from rich.markup import escape

    # Colour only on a terminal, and never when the user asked for none (NO_COLOR, TERM=dumb), as Rich does.
    plain = bool(os.environ.get("NO_COLOR")) or os.environ.get("TERM") == "dumb"
    printer = _Printer(agent_id, color=sys.stdout.isatty() and not plain)
    total = 0

    async def one_turn(text: str, *, interruptible: bool = False) -> bool:
        nonlocal total
        printer.begin()
        try:
            if interruptible:
                result = await _stoppable(backend.turn(text, printer.on_event))
                if result is None:
                    printer.newline()
                    err_console().print("[yellow](reply stopped)[/]", markup=True)
                    return False
            else:
                result = await backend.turn(text, printer.on_event)
        except AxocoatlError as exc:
            printer.newline()
            err_console().print(f"[bold red]error:[/] {escape(exc.message)}", markup=True, highlight=False)
            if exc.hint:
                err_console().print(f"  [dim]hint:[/] {escape(exc.hint)}", markup=True, highlight=False)
            return False
        usage = result.get("usage") or {}
        total += int(usage.get("total", 0))
        printer.finish(result, total)
        return True

    if message is not None:
        if not as_json:
            return 0 if await one_turn(message) else 1
        try:
            result = await backend.turn(message, lambda event, data: None)
        except AxocoatlError as exc:
            from axocoatl.cli.failures import exit_code_of

            err_console().print(f"[bold red]Error:[/] {escape(exc.message)}", markup=True)
            if exc.hint:
                err_console().print(f"  [dim]hint:[/] {escape(exc.hint)}", markup=True)
            return exit_code_of(exc)
        print_json({"agent_id": agent_id, "thread": thread, **result})
        return 0

    console().print(
        f"[dim]chatting with {escape(agent_id)} on thread {escape(thread)} via {escape(backend.where)}. {HELP}[/]",
        markup=True,
    )
    read = await _reader(history_file)
    while True:
        line = await read()
        if line is None:
            printer.newline()
            break
        text = line.strip()
        if not text:
            continue
        problem = text_problem(text, what="the message", limit=limit)
        if problem is not None:
            err_console().print(f"[bold red]error:[/] {escape(problem.message)}", markup=True)
            continue
        if text in EXIT_COMMANDS:
            break
        if text == "/help":
            console().print(HELP)
            continue
        if text == "/reset":
            try:
                await backend.reset()
            except AxocoatlError as exc:
                err_console().print(f"[bold red]error:[/] {escape(exc.message)}", markup=True)
                continue
            total = 0
            note = f"new conversation on thread {thread} (the old one stays in the store)"
            console().print(f"[dim]{note}[/]", markup=True)
            continue
        if text.startswith("/"):
            console().print(f"unknown command {text.split()[0]}; {HELP}", markup=False)
            continue
        await one_turn(text, interruptible=True)
    console().print(f"[dim]bye ({total} tokens this chat)[/]", markup=True)
    return 0


def chat(
    ctx: typer.Context,
    agent: str | None = typer.Option(
        None,
        "--agent",
        "-a",
        help="The agent to talk to [default: the only agent, when the config has one].",
        autocompletion=complete_agents,
    ),
    message: str | None = typer.Option(
        None, "--message", "-m", help="Send one message, print the reply, exit; - reads it from stdin."
    ),
    thread: str = typer.Option(
        DEFAULT_THREAD, "--thread", "-t", help="The conversation thread; each is its own session (e.g. customer-42)."
    ),
    local: bool = typer.Option(False, "--local", help="Run in-process even when a daemon runs."),
    as_json: bool = typer.Option(False, "--json", help="With -m: print the reply as JSON (output, usage)."),
    workspace: Path | None = typer.Option(
        None,
        "--workspace",
        "-W",
        help="Directory the agent's tools work in (default: the agent's, else one per thread); runs in-process.",
    ),
) -> None:
    """Chat with an agent on a thread: streams its reply and tool calls; /reset, /exit."""
    g = globals_of(ctx)
    from axocoatl.core.ids import THREAD_HINT, is_thread_name

    if not is_thread_name(thread):
        fail(UsageError(f"--thread {thread!r} is not a thread name", hint=THREAD_HINT), debug=g.debug)
    if workspace is not None and not workspace.is_dir():  # before the prompt, as `workflow run` does
        missing = UsageError(
            f"--workspace: workspace '{workspace.resolve()}' is not a directory",
            hint="create it first, or point at an existing one",
        )
        fail(missing, debug=g.debug)
    config: AxocoatlConfig | None = load(ctx).config if g.config_path.exists() else None
    limit = input_limit(config)
    if as_json and message is None:
        fail(UsageError("--json needs -m MESSAGE", hint="the interactive chat has no JSON form"), debug=g.debug)
    if message is not None:
        message = read_input(message, limit=limit, option="-m")
    if agent is None:
        agent = _only_agent(config, g.config_path)
    data_dir = g.resolved_data_dir()
    from axocoatl.cli.daemon_client import DaemonClient

    # A workspace of the caller's choosing is a directory of this machine: the turn runs in-process.
    client = None if local or workspace is not None else DaemonClient.discover(data_dir, config)

    chosen: str = agent

    async def go() -> int:
        agent = chosen
        backend: ChatBackend
        if client is not None:
            client.get(f"/api/agents/{agent}/status")  # unknown agent: fail before the first prompt
            backend = DaemonChat(client, agent, thread)
        else:
            if config is None:
                raise UsageError(
                    f"no daemon is running and there is no config at {g.config_path}",
                    hint="start one with `axocoatl dev`, or run this in a project directory (or pass --config)",
                )
            local_chat = LocalChat(config, data_dir, agent, thread, workspace.resolve() if workspace else None)
            backend = local_chat
            try:
                await local_chat.start()
            except BaseException:
                await local_chat.aclose()
                raise
        try:
            return await _chat(backend, agent, thread, message, data_dir / "chat_history", limit, as_json=as_json)
        finally:
            await backend.aclose()

    import asyncio

    try:
        code = asyncio.run(go())
    except AxocoatlError as exc:
        fail(exc, debug=g.debug)
    except KeyboardInterrupt:
        sys.stdout.write("\n")
        code = 130
    raise typer.Exit(code)


def _only_agent(config: AxocoatlConfig | None, config_path: Path) -> str:
    """The agent to talk to when -a is not given: the only one there is, or an error listing them."""
    ids = [a.id for a in config.agents] if config is not None else []
    if len(ids) == 1:
        return ids[0]
    if not ids:
        where = f"{config_path} has no agents" if config is not None else f"there is no config at {config_path}"
        raise_usage = UsageError(f"no agent to chat with: {where}", hint="add one under `agents:`, or pass --config")
    else:
        shown = ", ".join(ids[:10]) + (" …" if len(ids) > 10 else "")
        raise_usage = UsageError(f"the config has {len(ids)} agents: {shown}", hint="choose one with -a AGENT")
    fail(raise_usage)
