"""The `axocoatl` command line. Commands import the runtime lazily so --help stays fast."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from axocoatl import __version__
from axocoatl.cli.commands import agents, chat, daemon, memory, project, runs, schedules, skills, tokens, workflow
from axocoatl.cli.common import Globals, begin, current

app = typer.Typer(
    name="axocoatl",
    help="Axocoatl: persistent, self-coordinating multi-agent LLM systems. Local by default.",
    no_args_is_help=True,
    add_completion=False,
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
        None, "--data-dir", envvar="AXOCOATL_DATA_DIR", help="Where runs and memory live [default: ./.axocoatl]."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks."),
    mock: bool = typer.Option(
        False,
        "--mock",
        help="Run every agent on the deterministic mock provider (a dry run, no model needed); "
        "runs always happen in this process, never in a running daemon.",
    ),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version."),
) -> None:
    ctx.obj = Globals(config_path=config, data_dir=data_dir, debug=debug, mock=mock)
    if ctx.invoked_subcommand:
        ctx.obj.command.append(ctx.invoked_subcommand)
    begin(ctx.obj)


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


def main() -> None:
    """The entry point: the app, with a last line of defence for errors nothing else caught."""
    try:
        app()
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
