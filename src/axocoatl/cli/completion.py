"""Shell completion: the scripts of `axocoatl completion SHELL`, and the ids offered for arguments.

The completers run while the shell waits for a tab: they read the config and the database
read-only, never raise, and fall back to offering nothing.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

import typer

PROG = "axocoatl"
COMPLETE_VAR = "_AXOCOATL_COMPLETE"
SHELLS = ("bash", "zsh", "fish")


def completion_script(command: Any, shell: str) -> str:
    """The script that, sourced by ``shell``, completes ``axocoatl`` commands, options and ids."""
    from typer._click.shell_completion import get_completion_class
    from typer._completion_classes import completion_init

    # Typer's own classes (registered in its vendored Click), which speak its `complete_bash` protocol.
    completion_init()
    cls = get_completion_class(shell)
    if cls is None:
        raise ValueError(f"no completion for {shell!r}")
    return str(cls(command, {}, PROG, COMPLETE_VAR).source())


def _root_params(ctx: Any) -> dict[str, object]:
    return dict(ctx.find_root().params)


def _config_path(ctx: Any) -> Path:
    value = _root_params(ctx).get("config") or os.environ.get("AXOCOATL_CONFIG") or "axocoatl.yaml"
    return Path(str(value))


def _config(ctx: Any) -> Any:
    from axocoatl.config.loader import load_config

    try:
        return load_config(_config_path(ctx)).config
    except Exception:
        return None


def complete_agents(ctx: typer.Context, incomplete: str) -> list[str]:
    config = _config(ctx)
    return [a.id for a in getattr(config, "agents", []) if a.id.startswith(incomplete)]


def complete_workflows(ctx: typer.Context, incomplete: str) -> list[str]:
    config = _config(ctx)
    return [w.id for w in getattr(config, "workflows", []) if w.id.startswith(incomplete)]


def complete_skills(ctx: typer.Context, incomplete: str) -> list[str]:
    config = _config(ctx)
    return [s.id for s in getattr(config, "skills", []) if s.id.startswith(incomplete)]


def complete_runs(ctx: typer.Context, incomplete: str) -> list[str]:
    params = _root_params(ctx)
    data_dir = params.get("data_dir") or os.environ.get("AXOCOATL_DATA_DIR")
    base = Path(str(data_dir)) if data_dir else _config_path(ctx).parent / ".axocoatl"
    path = base / "axocoatl.db"
    if not path.is_file():
        return []
    try:
        db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=1.0)
        try:
            rows = db.execute(
                "SELECT run_id FROM runs WHERE substr(run_id, 1, ?) = ? ORDER BY started_at DESC LIMIT 50",
                (len(incomplete), incomplete),
            ).fetchall()
        finally:
            db.close()
    except sqlite3.Error:
        return []
    return [str(r[0]) for r in rows]
