"""`axocoatl onboard`: from nothing to a checked project in one command.

Under a terminal it asks (questionary); otherwise, or with ``--yes``, every answer comes from
flags, for scripts and CI. Either way: pick a provider, store its key in ``.env`` (mode 0600,
never in axocoatl.yaml), scaffold a template, test the provider live, run doctor, print next steps.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import typer

from axocoatl.cli.common import console, fail, globals_of
from axocoatl.core.errors import UsageError

# The order the wizard offers them in: offline first, the dry run last.
PROVIDERS = ("local", "ollama", "openai", "anthropic", "gemini", "mistral", "openrouter", "mock")
PROVIDER_LABELS = {
    "local": "local: a small model in-process, offline (no key)",
    "ollama": "ollama: models served by Ollama on this machine",
    "openai": "openai (needs OPENAI_API_KEY)",
    "anthropic": "anthropic (needs ANTHROPIC_API_KEY)",
    "gemini": "gemini (needs GEMINI_API_KEY)",
    "mistral": "mistral (needs MISTRAL_API_KEY)",
    "openrouter": "openrouter (needs OPENROUTER_API_KEY)",
    "mock": "mock: deterministic replies, a dry run with no model",
}
NON_INTERACTIVE_HINT = (
    "without a terminal, give every answer as a flag: "
    "axocoatl onboard --yes --provider mock --template assistant --dir my-agents"
)


@dataclass
class Answers:
    provider: str
    template: str
    directory: Path
    model: str | None
    api_key: str | None
    base_url: str | None
    first_run: bool = False


def onboard(
    ctx: typer.Context,
    yes: bool = typer.Option(False, "--yes", "-y", help="Ask nothing: take every answer from the flags."),
    provider: str | None = typer.Option(None, "--provider", "-p", help=f"One of: {', '.join(PROVIDERS)}."),
    template: str | None = typer.Option(
        None, "--template", "-t", help="assistant (one agent), research (a pipeline), team (a coordinator) or tools."
    ),
    directory: Path | None = typer.Option(None, "--dir", "-d", help="The new project's directory."),
    model: str | None = typer.Option(None, "--model", "-m", help="The model [default: the provider's]."),
    api_key: str | None = typer.Option(
        None, "--api-key", help="The provider's key [default: its environment variable, e.g. OPENAI_API_KEY]."
    ),
    base_url: str | None = typer.Option(
        None, "--base-url", help="Another server for the provider (a proxy, a compatible API)."
    ),
) -> None:
    """Set up a new project: provider and key, template, a live connection test, doctor, next steps."""
    from axocoatl.config.templates import TEMPLATES, key_env_of

    g = globals_of(ctx)
    interactive = not yes and sys.stdin.isatty() and sys.stdout.isatty()
    if not interactive and not yes:
        fail(UsageError("onboard asks questions, but this is not a terminal", hint=NON_INTERACTIVE_HINT))
    if provider is not None and provider not in PROVIDERS:
        fail(UsageError(f"unknown provider '{provider}'", hint=f"choose one of: {', '.join(PROVIDERS)}"))
    if template is not None and template not in TEMPLATES:
        fail(UsageError(f"unknown template '{template}'", hint=f"choose one of: {', '.join(TEMPLATES)}"))
    if interactive:
        answers = _ask(provider, template, directory, model, api_key, base_url)
    else:
        chosen = provider or "local"
        env = key_env_of(chosen)
        key = api_key or (os.environ.get(env) if env else None)
        if env and not key:
            fail(UsageError(f"the {chosen} provider needs a key", hint=f"set {env}, or pass --api-key"))
        answers = Answers(chosen, template or "assistant", directory or Path("my-agents"), model, key, base_url)
    code = _set_up(answers, debug=g.debug)
    raise typer.Exit(code)


def _ask(
    provider: str | None,
    template: str | None,
    directory: Path | None,
    model: str | None,
    api_key: str | None,
    base_url: str | None,
) -> Answers:
    import questionary

    from axocoatl.config.templates import TEMPLATES, key_env_of

    def answer(question: questionary.Question) -> object:
        value = question.ask()  # None when the user pressed Ctrl-C
        if value is None:
            console().print("onboarding cancelled; nothing was written")
            raise typer.Exit(130)
        return value

    if provider is None:
        choices = [questionary.Choice(PROVIDER_LABELS[p], value=p) for p in PROVIDERS]
        provider = str(answer(questionary.select("Which model provider?", choices=choices, use_shortcuts=True)))
    env = key_env_of(provider)
    if env and not api_key:
        present = os.environ.get(env)
        if present and answer(questionary.confirm(f"Use the {env} from your environment?", default=True)):
            api_key = present
        else:
            api_key = str(answer(questionary.password(f"{env} (stored in .env, mode 0600):"))).strip() or None
    if template is None:
        choices = [questionary.Choice(f"{name}: {text}", value=name) for name, text in TEMPLATES.items()]
        template = str(answer(questionary.select("Which template?", choices=choices, use_shortcuts=True)))
    if directory is None:
        directory = Path(str(answer(questionary.text("Project directory:", default="my-agents"))).strip())
    if model is None and provider not in ("mock", "local"):
        typed = str(answer(questionary.text("Model (empty: the provider's default):", default=""))).strip()
        model = typed or None
    first_run = bool(answer(questionary.confirm("Send a first message once it is set up?", default=True)))
    return Answers(provider, template, directory, model, api_key, base_url, first_run)


def _set_up(answers: Answers, *, debug: bool) -> int:
    """Scaffold, store the key, test live, run doctor; 0 when doctor found no failure."""
    from rich.markup import escape

    from axocoatl.cli.commands.doctor import MARKS
    from axocoatl.cli.doctor import DoctorInputs, run_checks
    from axocoatl.config.templates import first_command, key_env_of, scaffold_project
    from axocoatl.core.errors import AxocoatlError

    target = answers.directory
    try:
        written = scaffold_project(
            target,
            target.name or "project",
            provider=answers.provider,
            template=answers.template,
            model=answers.model,
            base_url=answers.base_url,
        )
    except AxocoatlError as exc:
        fail(exc, debug=debug)
    out = console()
    out.print(f"[green]✓[/] created {escape(str(target))}/ ({answers.template}, {answers.provider})", markup=True)
    for file in written:
        out.print(f"  {file}", markup=False)
    env = key_env_of(answers.provider)
    if env and answers.api_key:
        _write_env(target / ".env", env, answers.api_key)
        out.print(f"  {target / '.env'} ({env}, readable by you only)", markup=False)

    out.print("\nchecking the project (axocoatl doctor):")
    config_path = target / "axocoatl.yaml"
    findings = run_checks(DoctorInputs(config_path=config_path, data_dir=target / ".axocoatl"))
    for f in findings:
        out.print(f"{MARKS[f.status]} {escape(f.check)}: {escape(f.message)}", markup=True)
        if f.fix and f.status != "ok":
            out.print(f"    fix: {f.fix}", markup=False)
    failed = [f for f in findings if f.status == "fail"]
    provider_checks = [f for f in findings if f.check.startswith("provider ")]
    if provider_checks and all(f.status == "ok" for f in provider_checks):
        out.print(f"\n[green]the {answers.provider} provider answered: connection and model work[/]", markup=True)
    elif provider_checks:
        out.print(f"\n[red]the {answers.provider} provider did not pass the live test[/] (see the fix above)")
    if answers.first_run and not failed:
        _first_run(config_path, answers.template)
    out.print("\nnext steps:")
    out.print(f"  cd {target}", markup=False)
    if failed:
        out.print("  fix the problems above, then: axocoatl doctor", markup=False)
    out.print("  axocoatl dev          # the runtime, the API and the dashboard", markup=False)
    out.print(f"  axocoatl {first_command(answers.template)}", markup=False)
    return 1 if failed else 0


def _write_env(path: Path, name: str, value: str) -> None:
    # Created 0600 from the start: the key is never readable by others, not even for a moment.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(f"# Secrets for this project; never commit this file (.gitignore lists it).\n{name}={value}\n")
    os.chmod(path, 0o600)


def _first_run(config_path: Path, template: str) -> None:
    import shlex
    import subprocess

    from axocoatl.config.templates import first_command

    words = shlex.split(first_command(template))
    if words == ["chat"]:
        words += ["-m", "Hello! What can you do?"]
    console().print(f"\nfirst run: axocoatl {shlex.join(words)}", markup=False)
    subprocess.run([sys.executable, "-m", "axocoatl", "-c", str(config_path), *words], check=False)
