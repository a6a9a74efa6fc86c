"""`axocoatl doctor`: is this machine and this project ready to run? Each finding with its fix."""

from __future__ import annotations

import typer

from axocoatl.cli.common import console, globals_of, print_json

MARKS = {"ok": "[green]✓[/]", "warn": "[yellow]![/]", "fail": "[red]✗[/]"}


def doctor(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="Print the findings as JSON."),
    timeout: float = typer.Option(10.0, "--timeout", min=0.1, help="Seconds each provider gets to answer."),
) -> None:
    """Check Python, the config, the data dir and database, every provider an agent uses, the sandbox tier
    of agents' commands, the port and the daemon; print each finding (ok / warn / fail) with the fix. Exit 1
    when anything fails."""
    from rich.markup import escape

    from axocoatl.cli.doctor import DoctorInputs, run_checks

    g = globals_of(ctx)
    findings = run_checks(DoctorInputs(config_path=g.config_path, data_dir=g.data_dir_path(), timeout=timeout))
    failed = sum(1 for f in findings if f.status == "fail")
    warned = sum(1 for f in findings if f.status == "warn")
    if as_json:
        findings_json = [f.to_json() for f in findings]
        print_json({"ok": failed == 0, "failed": failed, "warnings": warned, "findings": findings_json})
    else:
        out = console()
        for f in findings:
            out.print(f"{MARKS[f.status]} {escape(f.check)}: {escape(f.message)}", markup=True)
            if f.fix and f.status != "ok":
                out.print(f"    fix: {f.fix}", markup=False)
        verdict = "[green]ready[/]" if failed == 0 else f"[red]{failed} problem{'s' * (failed != 1)}[/]"
        out.print(f"\n{verdict}, {warned} warning{'s' * (warned != 1)}", markup=True)
    if failed:
        raise typer.Exit(1)
