"""A workspace: the one directory an agent's file and shell tools may touch.

Every path a model sends is resolved inside the root: an absolute path, a ``..`` that
climbs out, or a symlink (anywhere on the way) that points outside is refused with a
ToolError the model can act on. Paths are checked after resolving symlinks, so a link
created by a command in the workspace cannot open a door out of it either.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from axocoatl.core.errors import ToolError


class Workspace:
    """The directory tools run in; ``resolve`` confines a model-given path to it.

    A default workspace (a fresh directory per run or thread) is made on first use, so a turn
    whose tools never touch it leaves no directory behind."""

    def __init__(self, root: Path) -> None:
        # Resolved on first use, like the directory is made: every turn builds a workspace, and the
        # realpath of a deep path is an lstat per component (most turns call no file tool).
        self._given = Path(os.path.abspath(root))
        self._root: Path | None = None

    @property
    def root(self) -> Path:
        if self._root is None:
            real = Path(os.path.realpath(self._given))
            real.mkdir(parents=True, exist_ok=True)
            self._root = real
        return self._root

    def __repr__(self) -> str:
        return f"Workspace({str(self._root or self._given)!r})"

    def resolve(self, path: object, *, what: str = "path") -> Path:
        """The real path of ``path`` (relative to the root), refused when it leaves the workspace."""
        if path is None or path == "":
            path = "."
        if not isinstance(path, str):
            raise ToolError(f"'{what}' must be a string path relative to the workspace")
        if "\x00" in path:
            raise ToolError(f"'{what}' contains a NUL byte")
        given = Path(path)
        if given.is_absolute():
            raise ToolError(
                f"'{path}' is an absolute path; tools only reach the workspace: give a path relative to it "
                "(for example 'src/main.py')"
            )
        real = Path(os.path.realpath(self.root / given))
        if real != self.root and self.root not in real.parents:
            via = "a symlink that points" if ".." not in given.parts else "'..' that climbs"
            raise ToolError(
                f"'{path}' leaves the workspace (through {via} outside it); only paths inside the workspace are allowed"
            )
        return real

    def relative(self, path: Path) -> str:
        """How a path inside the workspace is shown to the model."""
        try:
            rel = path.relative_to(self.root)
        except ValueError:
            return str(path)
        return str(rel) or "."


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, timeout=60, env=_git_env(), check=False
    )


def _git_env() -> dict[str, str]:
    return {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GIT_OPTIONAL_LOCKS": "0", "LC_ALL": "C"}


def git_baseline(root: Path) -> str | None:
    """The commit HEAD points at when ``root`` is inside a git work tree with a commit; None otherwise."""
    if shutil.which("git") is None:
        return None
    try:
        inside = _git(root, "rev-parse", "--is-inside-work-tree")
        if inside.returncode != 0 or inside.stdout.strip() != "true":
            return None
        head = _git(root, "rev-parse", "--verify", "-q", "HEAD")
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() or None if head.returncode == 0 else None


def git_diff(root: Path, baseline: str) -> str:
    """What changed in ``root`` since ``baseline``: tracked changes (committed or not) and new untracked files."""
    diff = _git(root, "diff", "--no-color", "--no-ext-diff", baseline, "--", ".")
    if diff.returncode != 0:
        raise ToolError(f"git diff in {root} failed: {diff.stderr.strip()}")
    parts = [diff.stdout]
    untracked = _git(root, "ls-files", "--others", "--exclude-standard", "-z", "--", ".")
    for name in filter(None, untracked.stdout.split("\0")):
        added = _git(root, "diff", "--no-color", "--no-index", "--", "/dev/null", name)
        parts.append(added.stdout)
    return "".join(parts)
