"""`axocoatl service install|start|stop|status|uninstall`: the project's daemon as a systemd user unit."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import typer

from axocoatl.cli.common import command_group, console, fail, globals_of, load, print_json

app = command_group(
    help="Run this project's daemon (`axocoatl serve`) at login as a systemd user unit. Without a systemd user "
    "session (containers, CI) run `axocoatl serve` under your own supervisor."
)

_NAME = typer.Option(
    None, "--name", help="The unit's name [default: axocoatl-<project directory>]; for two projects in same-named dirs."
)
_JSON = typer.Option(False, "--json", help="Print JSON: {name, unit_file, action}.")


def _project(ctx: typer.Context) -> tuple[Path, Any]:
    g = globals_of(ctx)
    return g.config_path.absolute(), g


@app.command("install")
def install(
    ctx: typer.Context,
    name: str | None = _NAME,
    now: bool = typer.Option(False, "--now", help="Start it now too, not only at the next login."),
    as_json: bool = _JSON,
) -> None:
    """Write the unit file (the absolute config, this Python, Restart=on-failure), reload systemd and enable it."""
    from axocoatl.cli.service import Systemctl, UnitFile, check_same_project, render_unit, unit_dir, unit_name
    from axocoatl.core.errors import AxocoatlError, UsageError

    config, g = _project(ctx)
    try:
        if g.mock:
            raise UsageError(
                "--mock is a dry run in a throwaway data dir; a service of it would keep nothing",
                hint="install the service without --mock",
            )
        load(ctx)  # a unit for a config that does not load would only restart into the same error
        unit = unit_name(config, name)
        systemctl = Systemctl()
        systemctl.require()
        path = unit_dir() / unit
        existing = UnitFile.read(path)
        if existing is not None:
            check_same_project(existing, unit, config)
        data_dir = g.data_dir.absolute() if g.data_dir is not None else None
        text = render_unit(
            config=config,
            data_dir=data_dir,
            python=Path(sys.executable).absolute(),  # not resolved: a venv's python is a symlink out of the venv
            pythonpath=os.environ.get("PYTHONPATH"),
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        systemctl.run("daemon-reload")
        systemctl.run("enable", *(["--now"] if now else []), unit)
    except AxocoatlError as exc:
        fail(exc, debug=g.debug)
    if as_json:
        print_json({"name": unit, "unit_file": str(path), "action": "installed", "started": now})
        return
    out = console()
    out.print(f"installed {unit}: {path}", markup=False)
    data = f" --data-dir {data_dir}" if data_dir is not None else ""
    out.print(f"  runs: axocoatl -c {config}{data} serve, at login{' and now' if now else ''}", markup=False)
    if not now:
        out.print(f"  start it now: {g.cli_prefix()} service start", markup=False)
    out.print(f"  logs: journalctl --user -u {unit} -f", markup=False)
    out.print("  to keep it running while you are logged out: loginctl enable-linger $USER", markup=False)


def _control(ctx: typer.Context, name: str | None, verb: str, as_json: bool) -> None:
    """``systemctl --user VERB`` the project's installed unit, and say so."""
    from axocoatl.cli.service import Systemctl, installed_unit, unit_name
    from axocoatl.core.errors import AxocoatlError

    config, g = _project(ctx)
    done = {"start": "started", "stop": "stopped"}[verb]
    try:
        unit = unit_name(config, name)
        systemctl = Systemctl()
        systemctl.require()
        found = installed_unit(unit, config)
        systemctl.run(verb, unit)
    except AxocoatlError as exc:
        fail(exc, debug=g.debug)
    if as_json:
        print_json({"name": unit, "unit_file": str(found.path), "action": done})
        return
    follow = f" (follow it: journalctl --user -u {unit} -f)" if verb == "start" else ""
    console().print(f"{done} {unit}{follow}", markup=False)


@app.command("start")
def start(ctx: typer.Context, name: str | None = _NAME, as_json: bool = _JSON) -> None:
    """Start the service now (`systemctl --user start`)."""
    _control(ctx, name, "start", as_json)


@app.command("stop")
def stop(ctx: typer.Context, name: str | None = _NAME, as_json: bool = _JSON) -> None:
    """Stop the service (`systemctl --user stop`); in-flight runs get the daemon's shutdown grace."""
    _control(ctx, name, "stop", as_json)


@app.command("uninstall")
def uninstall(ctx: typer.Context, name: str | None = _NAME, as_json: bool = _JSON) -> None:
    """Stop and disable the service, remove its unit file and reload systemd (runs and memory are kept)."""
    from axocoatl.cli.service import Systemctl, installed_unit, unit_name
    from axocoatl.core.errors import AxocoatlError

    config, g = _project(ctx)
    try:
        unit = unit_name(config, name)
        systemctl = Systemctl()
        systemctl.require()
        found = installed_unit(unit, config)
        systemctl.run("disable", "--now", unit)
        found.path.unlink(missing_ok=True)
        systemctl.run("daemon-reload")
    except AxocoatlError as exc:
        fail(exc, debug=g.debug)
    if as_json:
        print_json({"name": unit, "unit_file": str(found.path), "action": "uninstalled"})
        return
    console().print(f"uninstalled {unit}: removed {found.path}; the data dir is untouched", markup=False)


@app.command("status")
def status(
    ctx: typer.Context,
    name: str | None = _NAME,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """The unit (installed? active? enabled?) and the daemon itself (its daemon.json, whether it answers).
    Works without systemd: then only the daemon's own status is shown."""
    from axocoatl.cli.service import Systemctl, SystemdUnavailable, UnitFile, unit_dir, unit_name
    from axocoatl.core.errors import AxocoatlError

    config, g = _project(ctx)
    try:
        unit = unit_name(config, name)
    except AxocoatlError as exc:
        fail(exc, debug=g.debug)
    found = UnitFile.read(unit_dir() / unit)
    try:
        systemctl = Systemctl()
        problem = systemctl.problem()
        systemd: dict[str, Any] = {"available": problem is None, "problem": problem}
        if problem is None and found is not None:
            state = systemctl.show(unit)
            pid = int(state.get("MainPID", "0") or 0)
            systemd.update(
                active_state=state.get("ActiveState"),
                sub_state=state.get("SubState"),
                unit_file_state=state.get("UnitFileState"),
                main_pid=pid or None,
            )
    except SystemdUnavailable as exc:
        systemd = {"available": False, "problem": exc.message}
    except AxocoatlError as exc:
        fail(exc, debug=g.debug)
    if found is not None and found.data_dir is not None:
        data_dir = found.data_dir
    else:
        data_dir = (g.data_dir or config.parent / ".axocoatl").absolute()
    report = {
        "name": unit,
        "unit_file": str(found.path if found is not None else unit_dir() / unit),
        "installed": found is not None,
        "unit_config": str(found.config) if found is not None and found.config is not None else None,
        "config": str(config),
        "data_dir": str(data_dir),
        "systemd": systemd,
        "daemon": _daemon_status(data_dir),
    }
    if as_json:
        print_json(report)
        return
    _print_status(report)


def _daemon_status(data_dir: Path) -> dict[str, Any]:
    """The daemon owning ``data_dir`` by its own account (daemon.json, a live pid, /health/live)."""
    import httpx

    from axocoatl.runtime.daemon import read_daemon_info

    info = read_daemon_info(data_dir) if data_dir.is_dir() else None
    if info is None:
        return {"running": False}
    try:
        answering = httpx.get(f"{info.url}/health/live", timeout=3.0).status_code == 200
    except httpx.HTTPError:
        answering = False
    return {
        "running": True,
        "pid": info.pid,
        "url": info.url,
        "mode": info.mode,
        "version": info.version,
        "config": info.config,
        "started_at": info.started_at,
        "answering": answering,
    }


def _print_status(report: dict[str, Any]) -> None:
    out = console()
    installed = f"installed at {report['unit_file']}" if report["installed"] else "not installed"
    out.print(f"service  {report['name']}: {installed}", markup=False)
    if report["installed"] and report["unit_config"] != report["config"]:
        out.print(f"         for another config: {report['unit_config']}", markup=False)
    systemd = report["systemd"]
    if not systemd["available"]:
        out.print(f"systemd  unavailable: {systemd['problem']}", markup=False)
    elif "active_state" in systemd:
        pid = f", pid {systemd['main_pid']}" if systemd["main_pid"] else ""
        out.print(
            f"systemd  {systemd['active_state']} ({systemd['sub_state']}), {systemd['unit_file_state']}{pid}",
            markup=False,
        )
    else:
        out.print("systemd  available; the unit is not installed (`axocoatl service install`)", markup=False)
    daemon = report["daemon"]
    if daemon["running"]:
        answers = "answering" if daemon["answering"] else "NOT answering"
        out.print(f"daemon   running: pid {daemon['pid']}, {daemon['url']} ({daemon['mode']}), {answers}", markup=False)
    else:
        out.print(f"daemon   not running (no daemon owns {report['data_dir']})", markup=False)
