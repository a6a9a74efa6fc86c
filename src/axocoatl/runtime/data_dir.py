"""The data dir: where a project's database and daemon file live, and why a path cannot be one."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from axocoatl.core.errors import UsageError

DATA_DIR_HINT = "point --data-dir (or AXOCOATL_DATA_DIR) at a directory you can write; it is created when missing"


def data_dir_problem(path: Path) -> UsageError | None:
    """Why ``path`` cannot be the data directory (a file in the way, no write access), if it cannot."""
    if path.exists():
        if not path.is_dir():
            return UsageError(f"the data directory {path} is a file, not a directory", hint=DATA_DIR_HINT)
        if not os.access(path, os.W_OK | os.X_OK):
            return UsageError(f"the data directory {path} is not writable", hint=DATA_DIR_HINT)
        return None
    parent = path.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return UsageError(f"the data directory {path} cannot be created: {parent} is a file", hint=DATA_DIR_HINT)
    if not os.access(parent, os.W_OK | os.X_OK):
        return UsageError(f"the data directory {path} cannot be created in {parent}: not writable", hint=DATA_DIR_HINT)
    return None


def prepare_data_dir(data_dir: Path) -> None:
    """Create the data dir (private to this user), or say clearly why it cannot be used."""
    problem = data_dir_problem(data_dir)
    if problem is not None:
        raise problem
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"the data directory {data_dir} cannot be created: {exc.strerror}", hint=DATA_DIR_HINT
        ) from None
    with contextlib.suppress(OSError):
        data_dir.chmod(0o700)
