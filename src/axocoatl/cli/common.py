"""Shared CLI plumbing: global options, loading the config, running coroutines, printing errors."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer

from axocoatl.core.errors import AxocoatlError, ConfigIssue, UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from axocoatl.config.loader import LoadedConfig
    from axocoatl.config.schema import AxocoatlConfig

T = TypeVar("T")


def command_group(help: str) -> typer.Typer:
    """A command group. Help is plain Click text: Rich-rendered help costs ~100 ms per start."""
    return typer.Typer(help=help, no_args_is_help=True, rich_markup_mode=None, callback=_name_subcommand)


def _name_subcommand(ctx: typer.Context) -> None:
    # So an unexpected error can say which command failed (`axocoatl workflow run`), after Click is done.
    if ctx.invoked_subcommand:
        globals_of(ctx).command.append(ctx.invoked_subcommand)


@dataclass
class Globals:
    config_path: Path
    data_dir: Path | None
    debug: bool
    mock: bool = False
    log_level: str | None = None  # --log-level, -v, -q or $AXOCOATL_LOG; None: the command's default
    command: list[str] = field(default_factory=lambda: ["axocoatl"])  # the words of the command being run
    loaded: LoadedConfig | None = None
    _throwaway: Path | None = None

    def cli_prefix(self) -> str:
        """`axocoatl` with the options that chose this project, for commands the user is told to run next."""
        import shlex

        words = ["axocoatl"]
        if self.config_path != Path("axocoatl.yaml"):
            words += ["-c", str(self.config_path)]
        if self.data_dir is not None:
            words += ["--data-dir", str(self.data_dir)]
        return shlex.join(words)

    def data_dir_path(self) -> Path:
        """Where runs and memory live: --data-dir, else $AXOCOATL_DATA_DIR, else ``.axocoatl`` beside the config
        file (so a project's runs are the same from any working directory); unchecked."""
        if self.data_dir is not None:
            return self.data_dir
        env = os.environ.get("AXOCOATL_DATA_DIR")
        if env:
            return Path(env)
        if self.mock:
            return self._throwaway_dir()
        return self.config_path.parent / ".axocoatl"

    def _throwaway_dir(self) -> Path:
        # A dry run must not write into the project's ledger, memory or run history.
        if self._throwaway is None:
            import atexit
            import shutil
            import tempfile

            self._throwaway = Path(tempfile.mkdtemp(prefix="axocoatl-mock-"))
            atexit.register(shutil.rmtree, self._throwaway, ignore_errors=True)
            err_console().print(
                f"[dim]--mock: a dry run in a throwaway data dir ({self._throwaway}, deleted at exit); "
                "pass --data-dir to keep it[/]",
                markup=True,
            )
        return self._throwaway

    def resolved_data_dir(self) -> Path:
        """The data directory, once it is known to be usable (exit 2 naming the problem otherwise)."""
        from axocoatl.cli.failures import data_dir_problem

        path = self.data_dir_path()
        problem = data_dir_problem(path)
        if problem is not None:
            fail(problem, debug=self.debug)
        return path


_current: Globals | None = None

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def setup_logging(level: str) -> None:
    """Log records to stderr at ``level`` (debug, info, warning, error)."""
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT, "%H:%M:%S"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # uvicorn's own loggers would print a second, differently formatted copy.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True


def begin(globals: Globals) -> None:
    """Called by the root command: what main() reports against if the command fails unexpectedly."""
    global _current
    _current = globals


def current() -> Globals | None:
    return _current


def prefix() -> str:
    """`axocoatl` and the options that chose this project (``-c``, ``--data-dir``): the start of every
    command the user is told to run next, so it acts on the same project from any directory."""
    return _current.cli_prefix() if _current is not None else "axocoatl"


PIPED_WIDTH = 4096
_console: Console | None = None
_err_console: Console | None = None


def console() -> Console:
    global _console
    if _console is None:
        from rich.console import Console

        # emoji=False: a name like "deploy :rocket:" is shown as written. User text is escaped where printed.
        # Piped or redirected output is never wrapped or cut to 80 columns: ids stay whole, code stays code.
        # Not even when COLUMNS is exported (shells and test runners such as pytest-xdist do): it describes
        # a terminal, and this output does not go to one.
        width = None if sys.stdout.isatty() else PIPED_WIDTH
        _console = Console(highlight=False, soft_wrap=False, emoji=False, width=width)
    return _console


def err_console() -> Console:
    global _err_console
    if _err_console is None:
        from rich.console import Console

        # soft_wrap: an error line stays one line (`file:line: field: message`) when piped or
        # captured, instead of being hard-wrapped at 80 columns mid-message.
        _err_console = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
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
    if g.loaded is not None:  # loaded once per command: warnings print once
        return g.loaded
    try:
        loaded = load_config(g.config_path)
    except AxocoatlError as exc:
        fail(exc, debug=g.debug)
    print_warnings(loaded.warnings)
    if g.mock:
        loaded = with_mock_providers(loaded)
    g.loaded = loaded
    return loaded


def print_warnings(warnings: Iterable[ConfigIssue]) -> None:
    from rich.markup import escape

    for warning in warnings:
        err_console().print(f"[yellow]warning:[/] {escape(warning.render())}", markup=True)


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

    from axocoatl.cli.failures import describe

    message, hint, code = describe(exc)
    err_console().print(f"[bold red]Error:[/] {escape(message)}", markup=True)
    if hint:
        err_console().print(f"  [dim]hint:[/] {escape(hint)}", markup=True)
    if debug:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    raise typer.Exit(code)


def input_limit(config: AxocoatlConfig | None) -> int:
    """The most bytes a task or message may have: the daemon's request-body limit, so a task the CLI
    accepts is one the daemon accepts too."""
    from axocoatl.config.schema import ServerConfig

    return (config.server if config is not None else ServerConfig()).max_body_bytes


def read_input(text: str, *, limit: int, option: str = "-i") -> str:
    """The input given as ``option``: UTF-8 text of at most ``limit`` bytes; ``-`` reads it from stdin
    (for long tasks and pipes). Anything else is a usage error naming the position of the problem."""
    if text != "-":
        return check_text(text, what=option, limit=limit)
    what = f"stdin ({option} -)"
    pipe_hint = "pipe the task in: cat task.txt | axocoatl ..."
    if sys.stdin is None:
        fail(UsageError(f"{option} - was given but there is no stdin", hint=pipe_hint))
    # Bytes, decoded here: the text layer's decoding would hide undecodable input in surrogates.
    # One byte past the limit is enough to know the input is too long, without reading all of a huge pipe.
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:  # a replaced stdin (an embedding program): its text is all there is
        return check_text(sys.stdin.read(), what=what, limit=limit)
    data: bytes = stream.read(limit + 1)
    if len(data) > limit:
        fail(_too_long(what, f"more than {limit:,}", limit))
    try:
        decoded = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        problem = f"byte {exc.start + 1} (0x{data[exc.start]:02x}) is not valid UTF-8"
        fail(UsageError(f"{what} is not UTF-8 text: {problem}", hint=_REENCODE_HINT))
    if not decoded.strip():
        fail(UsageError(f"{option} - was given but stdin was empty", hint=pipe_hint))
    return decoded


def check_text(text: str, *, what: str, limit: int) -> str:
    """``text`` when it is valid UTF-8 of at most ``limit`` bytes; else a usage error (exit 2)."""
    problem = text_problem(text, what=what, limit=limit)
    if problem is not None:
        fail(problem)
    return text


def text_problem(text: str, *, what: str, limit: int) -> UsageError | None:
    """What is wrong with ``text`` as an input (not UTF-8, or over ``limit`` bytes), if anything."""
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as exc:
        # The OS decodes bytes that are not UTF-8 into lone surrogates (surrogateescape): U+DCxx was byte 0xxx.
        char = ord(text[exc.start])
        byte = f" (the byte 0x{char - 0xDC00:02x})" if 0xDC80 <= char <= 0xDCFF else f" (U+{char:04X})"
        return UsageError(
            f"{what} is not UTF-8 text: character {exc.start + 1}{byte} is not valid", hint=_REENCODE_HINT
        )
    if size > limit:
        return _too_long(what, f"{size:,}", limit)
    return None


_REENCODE_HINT = "re-encode the text as UTF-8 (for example with: iconv -f latin1 -t utf-8)"


def _too_long(what: str, size: str, limit: int) -> UsageError:
    return UsageError(
        f"{what} is {size} bytes, over the input limit of {limit:,} bytes",
        hint="shorten it, or raise server.max_body_bytes in the config (the daemon's request limit, which the CLI "
        "applies too)",
    )


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
    sys.stdout.flush()
