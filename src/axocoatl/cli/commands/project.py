"""`axocoatl validate`, `axocoatl init` and `axocoatl config schema`."""

from __future__ import annotations

from pathlib import Path

import typer

from axocoatl.cli.common import command_group, console, err_console, fail, globals_of, print_json

config_app = command_group(help="Config utilities.")


def validate(
    ctx: typer.Context,
    path: Path | None = typer.Argument(None, help="Config file (default: --config, ./axocoatl.yaml)."),
) -> None:
    """Check a config file and report every problem at once."""
    from axocoatl.config.loader import load_config
    from axocoatl.core.errors import AxocoatlError

    g = globals_of(ctx)
    target = path or g.config_path
    try:
        loaded = load_config(target)
    except AxocoatlError as exc:
        fail(exc, debug=g.debug)
    config = loaded.config
    for warning in loaded.warnings:
        err_console().print(f"[yellow]warning:[/] {warning.render()}", markup=True)
    out = console()
    out.print(f"[green]✓[/] {target} is valid")
    for a in config.agents:
        budget = f"{a.token_budget.per_execution} tokens/exec" if a.token_budget else "unlimited"
        deps = f" ← {', '.join(a.depends_on)}" if a.depends_on else ""
        out.print(f"  agent {a.id} ({a.provider}/{a.model or 'default'}) [{budget}]{deps}", markup=False)
    out.print(
        f"  {len(config.agents)} agents, {len(config.workflows)} workflows, {len(config.skills)} skills, "
        f"{len(config.mcp_servers)} MCP servers, {len(config.schedules)} schedules"
    )


def init(
    name: str = typer.Argument(..., help="Directory to create for the new project."),
    provider: str = typer.Option("local", "--provider", "-p", help="Provider of the starter agents: local or mock."),
) -> None:
    """Create a new project that runs offline."""
    from axocoatl.config.templates import scaffold_project
    from axocoatl.core.errors import AxocoatlError

    target = Path(name)
    try:
        written = scaffold_project(target, target.name, provider=provider)
    except AxocoatlError as exc:
        fail(exc)
    out = console()
    out.print(f"[green]✓[/] created {target}/")
    for file in written:
        out.print(f"  {file}")
    out.print("\nnext steps:")
    out.print(f"  cd {target}")
    out.print("  axocoatl validate")
    out.print('  axocoatl workflow run research -i "What is a write-ahead log?"')


@config_app.command("schema")
def schema() -> None:
    """Print the JSON Schema of axocoatl.yaml (for editors and CI)."""
    from axocoatl.config.json_schema import config_json_schema

    print_json(config_json_schema())
