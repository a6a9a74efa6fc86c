"""The `axocoatl` command line. Commands import the runtime lazily so --help stays fast."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

from axocoatl import __version__
from axocoatl.cli.commands import (
    a2a,
    agents,
    approvals,
    chat,
    cluster,
    daemon,
    doctor,
    mcp,
    memory,
    onboard,
    project,
    runs,
    schedules,
    service,
    setup,
    skills,
    tokens,
    webhooks,
    workflow,
)
from axocoatl.cli.common import Globals, begin, current, setup_logging


class _RootGroup(TyperGroup):
    """The root command. Typer checks option values with pydantic, whose wording ("Input should be greater
    than or equal to 1") is not ours: a bad value from any command is reworded on its way out."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        with _our_words():
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: Any) -> Any:
        with _our_words():
            return super().invoke(ctx)


@contextlib.contextmanager
def _our_words() -> Iterator[None]:
    try:
        yield
    except typer.BadParameter as exc:
        from axocoatl.cli.failures import reword_bad_value

        reword_bad_value(exc)
        raise


app = typer.Typer(
    cls=_RootGroup,
    name="axocoatl",
    help="Axocoatl: persistent, self-coordinating multi-agent LLM systems. Local by default.\n\n"
    "Global options may come anywhere on the line. Exit codes: 0 ok, 1 a run failed or a runtime error, "
    "2 a usage or config error, 3 an unknown agent, workflow or run id, 130 interrupted.",
    no_args_is_help=True,
    add_completion=False,  # `axocoatl completion SHELL` prints the script instead
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: `axocoatl --help` stays well under 150 ms
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"axocoatl {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Path = typer.Option(
        Path("axocoatl.yaml"), "--config", "-c", envvar="AXOCOATL_CONFIG", help="Config file.", show_default=True
    ),
    data_dir: Path | None = typer.Option(
        None,
        "--data-dir",
        envvar="AXOCOATL_DATA_DIR",
        help="Where runs and memory live [default: .axocoatl beside the config file].",
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks."),
    mock: bool = typer.Option(
        False,
        "--mock",
        help="A dry run: every agent on the deterministic mock provider, in this process, in a throwaway data dir "
        "(deleted at exit) unless --data-dir is given.",
    ),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, help="More log output (-v info, -vv debug)."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Only errors in the log output."),
    log_level: str | None = typer.Option(
        None,
        "--log-level",
        envvar="AXOCOATL_LOG",
        help="debug, info, warning or error [default: warning; info for dev and serve] (env AXOCOATL_LOG).",
    ),
    version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    level = log_level or ("error" if quiet else {0: None, 1: "info"}.get(verbose, "debug"))
    if level is not None and level.lower() not in ("debug", "info", "warning", "error"):
        raise typer.BadParameter(
            f"{level!r} is not a log level; use debug, info, warning or error", param_hint="--log-level"
        )
    ctx.obj = Globals(config_path=config, data_dir=data_dir, debug=debug, mock=mock, log_level=level)
    if ctx.invoked_subcommand:
        ctx.obj.command.append(ctx.invoked_subcommand)
    if ctx.invoked_subcommand not in ("dev", "serve"):  # the daemon sets up its own log, at info by default
        setup_logging(level or "warning")
    begin(ctx.obj)


@app.command("version")
def version_command(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """Print the version of axocoatl and of the Python running it."""
    import platform

    from axocoatl.cli.common import print_json

    if as_json:
        print_json({"version": __version__, "python": platform.python_version(), "platform": platform.platform()})
    else:
        typer.echo(f"axocoatl {__version__} (Python {platform.python_version()}, {platform.platform()})")


@app.command("completion")
def completion_command(
    shell: str = typer.Argument(..., metavar="SHELL", help="bash, zsh or fish."),
) -> None:
    """Print the shell completion script: commands, options, agent, workflow and run ids.

    bash: eval "$(axocoatl completion bash)"   (or save it under ~/.local/share/bash-completion/completions/axocoatl)
    zsh:  eval "$(axocoatl completion zsh)"    fish: axocoatl completion fish > ~/.config/fish/completions/axocoatl.fish
    """
    from axocoatl.cli.common import fail
    from axocoatl.cli.completion import SHELLS, completion_script
    from axocoatl.core.errors import UsageError

    if shell not in SHELLS:
        fail(UsageError(f"shell {shell!r} is not supported", hint=f"choose one of: {', '.join(SHELLS)}"))
    typer.echo(completion_script(typer.main.get_command(app), shell))


app.command("onboard")(onboard.onboard)
app.command("doctor")(doctor.doctor)
app.command("validate")(project.validate)
app.command("init")(project.init)
app.add_typer(project.config_app, name="config")
app.add_typer(workflow.app, name="workflow")
app.add_typer(agents.app, name="agents")
app.add_typer(runs.app, name="runs")
app.command("dev")(daemon.dev)
app.command("serve")(daemon.serve)
app.command("chat")(chat.chat)
app.add_typer(skills.app, name="skills")
app.add_typer(schedules.app, name="schedules")
app.add_typer(tokens.app, name="tokens")
app.add_typer(memory.app, name="memory")
app.add_typer(a2a.app, name="a2a")
app.add_typer(approvals.app, name="approvals")
app.add_typer(service.app, name="service")
app.add_typer(setup.app, name="setup")
app.add_typer(mcp.app, name="mcp")
app.add_typer(webhooks.app, name="webhooks")
app.add_typer(cluster.app, name="cluster")


def hoist_global_options(args: list[str], root: Any) -> list[str]:
    """``args`` with the root's options moved in front of the command, so they work anywhere on the line
    (`axocoatl workflow list -c x.yaml`). A command's own option of the same name stays its own, option
    values are never taken for options, and nothing after ``--`` moves."""
    front: list[str] = []
    rest: list[str] = []
    command = root  # Typer's (vendored) Click commands: looked at by their attributes
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest += args[i:]
            break
        if arg.startswith("-") and len(arg) > 1:
            name = arg.split("=", 1)[0] if arg.startswith("--") else arg[:2]
            own = _option(command, name) if command is not root else None
            target = rest if own is not None else front if _option(root, name) is not None else rest
            option = own or _option(root, name)
            target.append(arg)
            takes_value = option is not None and not option.is_flag and not getattr(option, "count", False)
            attached = "=" in arg if arg.startswith("--") else len(arg) > 2
            if takes_value and not attached and i + 1 < len(args):
                target.append(args[i + 1])
                i += 1
        else:
            rest.append(arg)
            subcommands = getattr(command, "commands", None)
            if subcommands and arg in subcommands:
                command = subcommands[arg]
        i += 1
    return front + rest


def _option(command: Any, name: str) -> Any:
    for param in command.params:
        if param.param_type_name == "option" and (name in param.opts or name in param.secondary_opts):
            return param
    return None


def main() -> None:
    """The entry point: the app, with a last line of defence for errors nothing else caught."""
    try:
        command = typer.main.get_command(app)
        if "_AXOCOATL_COMPLETE" in os.environ:  # a tab press: Typer's completion classes answer it
            from typer._completion_classes import completion_init

            completion_init()
        args = hoist_global_options(sys.argv[1:], command)
        command.main(args=args, prog_name="axocoatl", complete_var="_AXOCOATL_COMPLETE")
    except Exception as exc:
        from axocoatl.cli.failures import report_crash

        g = current()
        sys.exit(
            report_crash(
                exc,
                command=" ".join(g.command) if g is not None else "axocoatl",
                debug=g.debug if g is not None else "--debug" in sys.argv,
                data_dir=g.data_dir_path() if g is not None else None,
            )
        )


if __name__ == "__main__":
    main()
