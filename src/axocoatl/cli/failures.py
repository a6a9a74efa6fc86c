"""What the CLI says when something outside axocoatl's own errors goes wrong: an unusable data
directory, an OS error (permissions, a full disk), a damaged or locked database, or a bug.

Each known cause gets a message and a fix; anything else is one line naming the error and how to
see its traceback (``--debug``). Printed without Rich: this path must work when Rich is what failed.
"""

from __future__ import annotations

import errno
import os
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING

from axocoatl.core.errors import AxocoatlError, ConfigError, NotFound, UsageError
from axocoatl.runtime.data_dir import DATA_DIR_HINT, data_dir_problem

if TYPE_CHECKING:
    from typer import BadParameter

__all__ = ["data_dir_problem", "describe", "explain", "report_crash"]

# The exit codes of every command (docs/cli.md lists them): 0 ok, 1 a run failed or a runtime error,
# 2 a usage or config error, 3 an unknown agent, workflow or run id; 130 interrupted (Ctrl-C).
EXIT_RUNTIME = 1
EXIT_USAGE = 2
EXIT_NOT_FOUND = 3


def exit_code_of(exc: AxocoatlError) -> int:
    if isinstance(exc, NotFound) or getattr(exc, "status", None) == 404:  # 404: the daemon's "not found"
        return EXIT_NOT_FOUND
    return EXIT_USAGE if isinstance(exc, ConfigError | UsageError) else EXIT_RUNTIME


def reword_bad_value(exc: BadParameter) -> None:
    """An option value Typer refused through pydantic, said as the config's errors are ("must be at least 1")."""
    from pydantic import ValidationError

    from axocoatl.config.schema_issues import value_words

    cause = exc.__cause__
    errors = cause.errors(include_url=False) if isinstance(cause, ValidationError) else []
    words = value_words(errors[0]) if errors else None
    if words is not None:
        exc.message = words[0]


def describe(exc: AxocoatlError) -> tuple[str, str | None, int]:
    """(message, hint, exit code) of one of axocoatl's own errors."""
    code = exit_code_of(exc)
    # Database errors carry their own fix (store.sqlite.engine.database_error names the file and the cause).
    return (str(exc) if isinstance(exc, ConfigError) else exc.message), exc.hint, code


def explain(exc: BaseException, data_dir: Path | None) -> tuple[str, str | None, int] | None:
    """(message, hint, exit code) for a known cause, or None for a bug."""
    if isinstance(exc, AxocoatlError):
        return describe(exc)
    if isinstance(exc, OSError):
        return _os_error(exc, data_dir)
    if isinstance(exc, UnicodeError):
        return (
            f"text that is not valid UTF-8 reached axocoatl: {exc}",
            "re-encode the input as UTF-8 (for example: iconv -f latin1 -t utf-8 FILE)",
            EXIT_USAGE,
        )
    return None


def _os_error(exc: OSError, data_dir: Path | None) -> tuple[str, str | None, int]:
    name = os.fsdecode(exc.filename) if exc.filename is not None else None
    reason = exc.strerror or str(exc)
    inside = data_dir is not None and name is not None and _within(Path(name), data_dir)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        writing = f" while writing {name}" if name is not None else ""
        return f"no space left on the device{writing} ({reason})", "free some disk space, then run the command again", 1
    about = f"{name} ({reason})" if name is not None else reason
    if isinstance(exc, PermissionError):
        hint = DATA_DIR_HINT if inside else "check the permissions of the file and its directory"
        return f"permission denied: {about}", hint, EXIT_USAGE
    if isinstance(exc, FileExistsError | NotADirectoryError | IsADirectoryError | FileNotFoundError):
        hint = DATA_DIR_HINT if inside else "check that the path exists and is the right kind (file or directory)"
        return f"cannot use {about}", hint, EXIT_USAGE
    return f"the operating system refused: {about}", "check the disk and the paths given to axocoatl", EXIT_RUNTIME


def _within(path: Path, directory: Path) -> bool:
    try:
        return path.absolute().is_relative_to(directory.absolute())
    except (OSError, ValueError):
        return False


def report_crash(exc: BaseException, *, command: str, debug: bool, data_dir: Path | None) -> int:
    """Print what went wrong in at most two lines (the traceback too with ``debug``); the exit code."""
    if debug:
        traceback.print_exception(exc, file=sys.stderr)
    known = explain(exc, data_dir)
    if known is None:
        detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        tail = "" if debug else "; run it again with --debug to see the traceback"
        _write(f"Error: `{command}` failed unexpectedly ({detail}){tail}. This is a bug in axocoatl; please report it.")
        return EXIT_RUNTIME
    message, hint, code = known
    _write(f"Error: {message}" + (f"\n  hint: {hint}" if hint else ""))
    return code


def _write(text: str) -> None:
    try:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass  # stderr itself is gone: the exit code is all that is left
    _quiet_stdout()


def _quiet_stdout() -> None:
    # A stdout that failed (a full disk, a closed pipe) would fail again when Python flushes it at exit.
    try:
        sys.stdout.flush()
    except (OSError, ValueError, AttributeError):
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
