"""Shared CLI plumbing: global options, loading the config, running coroutines, printing errors."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer

from axocoatl.core.errors import AxocoatlError, ConfigError, UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from axocoatl.config.loader import LoadedConfig

T = TypeVar("T")

EXIT_RUNTIME = 1
EXIT_USAGE = 2


def command_group(help: str) -> typer.Typer:
    """A command group. Help is plain Click text: Rich-rendered help costs ~100 ms per start."""
    return typer.Typer(help=help, no_args_is_help=True, rich_markup_mode=None)


@dataclass
class Globals:
    config_path: Path
    data_dir: Path | None
    debug: bool
    mock: bool = False

    def resolved_data_dir(self) -> Path:
        if self.data_dir is not None:
            return self.data_dir
        env = os.environ.get("AXOCOATL_DATA_DIR")
        if env:
            return Path(env)
        return Path(".axocoatl")


_console: Console | None = None
_err_console: Console | None = None


def console() -> Console:
    global _console
    if _console is None:
        from rich.console import Console

        _console = Console(highlight=False, soft_wrap=False)
    return _console


def err_console() -> Console:
    global _err_console
    if _err_console is None:
        from rich.console import Console

        # soft_wrap: an error line stays one line (`file:line: field: message`) when piped or
        # captured, instead of being hard-wrapped at 80 columns mid-message.
        _err_console = Console(stderr=True, highlight=False, soft_wrap=True)
    return _err_console


def globals_of(ctx: typer.Context) -> Globals:
    root = ctx.find_root()
    obj = root.obj
    if not isinstance(obj, Globals):
        obj = Globals(Path("axocoatl.yaml"), None, False)
        root.obj = obj
    return obj


def load(ctx: typer.Context) -> LoadedConfig:
    from axocoatl.config.loader import load_config

    g = globals_of(ctx)
    try:
        loaded = load_config(g.config_path)
    except AxocoatlError as exc:
        fail(exc, debug=g.debug)
    for warning in loaded.warnings:
        err_console().print(f"[yellow]warning:[/] {warning.render()}", markup=True)
    if g.mock:
        loaded = with_mock_providers(loaded)
    return loaded


def with_mock_providers(loaded: LoadedConfig) -> LoadedConfig:
    """Every agent on the mock provider: a dry run of the orchestration, no model needed."""
    import dataclasses

    agents = [
        a if a.provider == "mock" else a.model_copy(update={"provider": "mock", "model": None, "options": {}})
        for a in loaded.config.agents
    ]
    return dataclasses.replace(loaded, config=loaded.config.model_copy(update={"agents": agents}))


def run(coro: Coroutine[Any, Any, T], *, debug: bool = False) -> T:
    """Run a coroutine; turn axocoatl errors into a clear message and an exit code."""
    import asyncio

    try:
        return asyncio.run(coro)
    except AxocoatlError as exc:
        fail(exc, debug=debug)


def fail(exc: AxocoatlError, *, debug: bool = False) -> NoReturn:
    from rich.markup import escape

    code = EXIT_USAGE if isinstance(exc, ConfigError | UsageError) else EXIT_RUNTIME
    if isinstance(exc, ConfigError):
        err_console().print(f"[bold red]Error:[/] {escape(str(exc))}", markup=True)
    else:
        err_console().print(f"[bold red]Error:[/] {escape(exc.message)}", markup=True)
        if exc.hint:
            err_console().print(f"  [dim]hint:[/] {escape(exc.hint)}", markup=True)
    if debug:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    raise typer.Exit(code)


def read_input(text: str) -> str:
    """``-`` means: read the input from stdin (for long tasks and pipes)."""
    if text != "-":
        return text
    data = sys.stdin.read()
    if not data.strip():
        fail(UsageError("-i - was given but stdin was empty", hint="pipe the task in: cat task.txt | axocoatl ..."))
    return data


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()
