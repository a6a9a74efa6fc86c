"""`axocoatl validate`, `axocoatl init` and `axocoatl config schema`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from axocoatl.cli.common import command_group, console, fail, globals_of, print_json, print_warnings

if TYPE_CHECKING:
    from axocoatl.config.loader import LoadedConfig
    from axocoatl.core.errors import ConfigIssue

config_app = command_group(help="Config utilities.")


def validate(
    ctx: typer.Context,
    path: Path | None = typer.Argument(None, metavar="PATH", help="Config file (default: --config, ./axocoatl.yaml)."),
    as_json: bool = typer.Option(False, "--json", help="Print the verdict, errors and warnings as JSON."),
) -> None:
    """Check a config file and report every problem at once (static checks; `doctor` checks it live)."""
    from rich.markup import escape

    from axocoatl.config.loader import load_config
    from axocoatl.core.errors import AxocoatlError, ConfigError

    g = globals_of(ctx)
    target = path or g.config_path
    try:
        loaded = load_config(target)
    except ConfigError as exc:
        if as_json:
            _validation_json(target, exc.issues, [], None)
        fail(exc, debug=g.debug)
    except AxocoatlError as exc:
        if as_json:
            from axocoatl.core.errors import ConfigIssue

            _validation_json(target, [ConfigIssue("", exc.message, exc.hint, file=str(target))], [], None)
        fail(exc, debug=g.debug)
    found = local_model_issues(loaded)
    warnings = [*loaded.warnings, *(i for i in found if i.severity != "error")]
    errors = [i for i in found if i.severity == "error"]
    if as_json:
        _validation_json(target, errors, warnings, None if errors else loaded)
    print_warnings(warnings)
    if errors:
        fail(ConfigError(errors, file=str(target)), debug=g.debug)
    config = loaded.config
    out = console()
    out.print(f"[green]✓[/] {escape(str(target))} is valid")
    for a in config.agents:
        budget = f"{a.token_budget.per_execution} tokens/exec" if a.token_budget else "unlimited"
        deps = f" ← {', '.join(a.depends_on)}" if a.depends_on else ""
        if a.workflow is not None:  # a sub-workflow step: no model of its own
            out.print(f"  step {a.id} (runs workflow {a.workflow}){deps}", markup=False)
            continue
        out.print(f"  agent {a.id} ({a.provider}/{a.model or 'default'}) [{budget}]{deps}", markup=False)
    out.print(
        f"  {len(config.agents)} agents, {len(config.workflows)} workflows, {len(config.skills)} skills, "
        f"{len(config.mcp_servers)} MCP servers, {len(config.schedules)} schedules"
    )


def _validation_json(
    target: Path, errors: list[ConfigIssue], warnings: list[ConfigIssue], loaded: LoadedConfig | None
) -> None:
    """The --json verdict on stdout; exits 2 when there are errors (as the plain form does)."""
    from dataclasses import asdict

    config = loaded.config if loaded is not None else None
    print_json(
        {
            "file": str(target),
            "valid": not errors,
            "errors": [asdict(i) for i in errors],
            "warnings": [asdict(i) for i in warnings],
            "counts": None
            if config is None
            else {
                "agents": len(config.agents),
                "workflows": len(config.workflows),
                "skills": len(config.skills),
                "mcp_servers": len(config.mcp_servers),
                "schedules": len(config.schedules),
            },
        }
    )
    raise typer.Exit(2 if errors else 0)


def local_model_issues(loaded: LoadedConfig) -> list[ConfigIssue]:
    """Agents on the local provider whose model file does not resolve, found the way the provider finds it.

    Here rather than in the config layer, which must not import providers. A missing file is an error;
    the bundled default model not being installed is a warning (the config is right, the machine lacks it).
    Each model is reported once, where the first agent using it names it.
    """
    from axocoatl.core.errors import ModelNotFound, ProviderError
    from axocoatl.providers.local import resolve_model_path

    config = loaded.config
    found: dict[str, ConfigIssue] = {}
    for index, agent in enumerate(config.agents):
        name = agent.model or config.providers.local.model or ""
        if agent.provider != "local" or name in found:
            continue
        if agent.model:
            loc: tuple[object, ...] = ("agents", index, "model")
        elif config.providers.local.model:
            loc = ("providers", "local", "model")
        else:
            loc = ("agents", index, "provider")
        try:
            resolve_model_path(name, config.providers.local)
        except ModelNotFound as exc:
            found[name] = loaded.issue(loc, exc.message, hint=exc.hint)
        except ProviderError as exc:  # the bundled model is not installed
            found[name] = loaded.issue(loc, exc.message, hint=exc.hint, severity="warning")
        except OSError as exc:
            found[name] = loaded.issue(loc, f"cannot read the local model file: {exc.strerror or exc}")
    return list(found.values())


def init(
    name: str = typer.Argument(..., metavar="NAME", help="Directory to create for the new project."),
    provider: str = typer.Option(
        "local",
        "--provider",
        "-p",
        help="Provider of the starter agents: local, mock, ollama, openai, openrouter, mistral, anthropic or gemini.",
    ),
    template: str = typer.Option(
        "research",
        "--template",
        "-t",
        help="research (two agents, a workflow), assistant (one agent), team (a coordinator) or tools.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON: the files written and the first command."),
) -> None:
    """Create a new project (no questions, no key stored; `onboard` is the guided way)."""
    from rich.markup import escape

    from axocoatl.config.templates import first_command, scaffold_project
    from axocoatl.core.errors import AxocoatlError

    target = Path(name)
    try:
        written = scaffold_project(target, target.name, provider=provider, template=template)
    except AxocoatlError as exc:
        fail(exc)
    if as_json:
        print_json(
            {
                "directory": str(target.absolute()),
                "template": template,
                "provider": provider,
                "files": [str(f.absolute()) for f in written],
                "next": ["axocoatl doctor", f"axocoatl {first_command(template)}"],
            }
        )
        return
    out = console()
    out.print(f"[green]✓[/] created {escape(str(target))}/")
    for file in written:
        out.print(f"  {file}", markup=False)
    out.print("\nnext steps:")
    out.print(f"  cd {target}", markup=False)
    out.print("  axocoatl doctor")
    out.print(f"  axocoatl {first_command(template)}", markup=False)


@config_app.command("schema")
def schema() -> None:
    """Print the JSON Schema of axocoatl.yaml (for editors and CI)."""
    from axocoatl.config.json_schema import config_json_schema

    print_json(config_json_schema())


@config_app.command("show")
def show(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON instead of YAML.")) -> None:
    """Print the effective config: defaults filled in, ${VAR}s resolved, secrets masked."""
    import yaml

    from axocoatl.cli.common import load

    data = load(ctx).config.model_dump(mode="json")  # SecretStr fields dump as "**********"
    if as_json:
        print_json(data)
    else:
        text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=2**31 - 1)
        console().print(text, markup=False, end="")


@config_app.command("path")
def path_command(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="Print JSON with the data dir too.")
) -> None:
    """Print the path of the config file in use (and, with --json, its data dir and .env)."""
    g = globals_of(ctx)
    config = g.config_path.absolute()
    if as_json:
        env_file = config.parent / ".env"
        print_json(
            {
                "config": str(config),
                "exists": config.is_file(),
                "data_dir": str(g.data_dir_path().absolute()),
                "env_file": str(env_file) if env_file.is_file() else None,
            }
        )
    else:
        console().print(str(config), markup=False)
