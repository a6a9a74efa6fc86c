"""Regenerate docs/cli.md, the CLI reference, from the commands themselves.

.venv/bin/python scripts/gen_cli_docs.py          # rewrite docs/cli.md
.venv/bin/python scripts/gen_cli_docs.py --check  # exit 1 when it is out of date or a help text is missing
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from axocoatl.cli.main import app

DOC = Path(__file__).resolve().parent.parent / "docs" / "cli.md"

HEAD = """\
# CLI reference

Generated from the code by `scripts/gen_cli_docs.py` (a test checks it is current); every
command also answers `-h`.

## Conventions

- **Global options** (the table under `axocoatl`) may come anywhere on the line:
  `axocoatl workflow list -c proj/axocoatl.yaml` is `axocoatl -c proj/axocoatl.yaml workflow list`.
- **The data dir** (database, daemon file, chat history) is `.axocoatl` beside the config file, so a
  project's runs are the same from any working directory. `AXOCOATL_DATA_DIR` or `--data-dir`
  override it. `axocoatl config path --json` shows which one is in use.
- **Read-only commands create nothing**: `runs list|show`, `tokens report`, `memory blocks|search|log`,
  `agents threads`, `doctor` and `validate` never create a data dir or a database.
- **`--mock`** is a dry run: every agent on the mock provider, in this process, in a throwaway data
  dir deleted at exit, unless `--data-dir` (or `AXOCOATL_DATA_DIR`) names one to keep.
- **Run ids** are accepted by unique prefix (`axocoatl runs show run-20261201-1013`); a prefix that
  matches several runs is a usage error listing them.
- **Output**: on a terminal, tables and a live view; piped or redirected, plain text that is never
  cut or wrapped (ids stay whole). `--json` prints the same documents as the HTTP API.
- **Shell completion**: `eval "$(axocoatl completion bash)"` (or `zsh`; for fish,
  `axocoatl completion fish > ~/.config/fish/completions/axocoatl.fish`) completes commands,
  options, and agent, workflow, skill and run ids.

## Exit codes

| code | meaning |
|---|---|
| 0 | ok (a run: it completed) |
| 1 | a run failed, a runtime error, or `doctor` found a failure |
| 2 | a usage or config error (a bad option or value, an invalid config, an ambiguous run id prefix) |
| 3 | not found: an unknown agent, workflow, skill or run id |
| 130 | interrupted (Ctrl-C) |

## Service

`axocoatl service install` runs the project's daemon at login as a systemd **user** unit,
`$XDG_CONFIG_HOME/systemd/user/axocoatl-<project dir>.service` (default `~/.config/systemd/user/`;
`--name` picks another name, for two projects in directories of the same name). The unit runs
`<this python> -m axocoatl -c <absolute config> [--data-dir DIR] serve` in the config's directory
(so `.env` beside the config is read), with `Restart=on-failure` except after exit 2 (a config error:
restarting cannot fix it). `install` writes it, then `systemctl --user daemon-reload` and `enable`
(`--now`: start it too); `start`, `stop` and `uninstall` (disable, remove the file; the data dir stays)
call `systemctl --user`. Logs: `journalctl --user -u axocoatl-<project dir>.service`. To keep it running
after you log out: `loginctl enable-linger $USER`.

`service status [--json]` shows the unit as systemd reports it and the daemon by its own account
(its `daemon.json`, a live pid, whether `/health/live` answers), so it is useful without systemd too.

Without a systemd user session (containers, WSL without systemd, CI runners, a `su` shell) every
command but `status` stops with "no systemd user session": run `axocoatl serve` under your own
supervisor instead (a container's entrypoint, supervisord, runit), for example
`axocoatl -c /srv/proj/axocoatl.yaml serve` with a restart policy.
"""


def _option_row(param: Any) -> str:
    names = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts])
    help_text = " ".join((param.help or "").split())
    if not help_text:
        raise SystemExit(f"an option has no help text: {names}")
    default = param.default
    shown = ""
    if param.show_default and default not in (None, False, (), []) and not callable(default):
        shown = f" [default: {default}]"
    if param.envvar:
        help_text += f" (env `{param.envvar}`)" if f"env {param.envvar}" not in help_text else ""
    cell = help_text.replace("|", "\\|")
    return f"| {names} | {cell}{shown} |"


def _section(path: list[str], command: Any, out: list[str]) -> None:
    ctx_name = " ".join(path)
    help_text = (command.help or "").strip()
    if not help_text:
        raise SystemExit(f"`{ctx_name}` has no help text")
    args = [p for p in command.params if p.param_type_name == "argument"]
    usage = " ".join([ctx_name, *((p.metavar or p.name).upper() for p in args)])
    subcommands = getattr(command, "commands", None)
    out.append(f"\n{'#' * min(len(path) + 1, 4)} `{ctx_name}`\n")
    if not subcommands:
        out.append(f"```\n{usage} [OPTIONS]\n```\n")
    out.append(help_text + "\n")
    for arg in args:
        arg_help = " ".join((getattr(arg, "help", None) or "").split())
        if not arg_help:
            raise SystemExit(f"an argument of `{ctx_name}` has no help text: {arg.name}")
        out.append(f"- `{(arg.metavar or arg.name).upper()}`: {arg_help}")
    options = [p for p in command.params if p.param_type_name == "option"]
    if options:
        out.append("\n| option | what it does |\n|---|---|")
        out.extend(_option_row(p) for p in options)
    for name in sorted(subcommands or {}):
        _section([*path, name], subcommands[name], out)


def render() -> str:
    out = [HEAD.rstrip("\n")]
    _section(["axocoatl"], typer.main.get_command(app), out)
    return "\n".join(out).rstrip("\n") + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if not DOC.exists() or DOC.read_text(encoding="utf-8") != text:
            sys.stderr.write(f"{DOC} is out of date: run scripts/gen_cli_docs.py\n")
            return 1
        return 0
    DOC.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
