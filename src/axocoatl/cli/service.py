"""Running a project's daemon at login: a systemd user unit running `axocoatl serve`, and systemctl --user.

Every systemctl call goes through :class:`Systemctl` (the one place the external tool is run), so a machine
without a systemd user session -- a container, WSL, a CI runner -- gets one clear error instead of D-Bus
wording. The unit records the absolute config and data dir it was written for, so `status` can find the
daemon's own ``daemon.json`` even when systemd cannot be asked.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from axocoatl.core.errors import AxocoatlError, NotFound, UsageError

UNAVAILABLE = "no systemd user session: run `axocoatl serve` under your own supervisor; see docs/cli.md#service"
SUPERVISOR_HINT = (
    "systemd user units need a login session with a user manager (`systemctl --user` must work); in a container "
    "or CI, start `axocoatl serve` from your own supervisor (docker, supervisord, runit) instead"
)
_CONFIG_MARK = "# axocoatl-config: "
_DATA_DIR_MARK = "# axocoatl-data-dir: "
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")
# The exit code of `axocoatl serve` for a bad config: restarting cannot fix it, so systemd should not try.
CONFIG_ERROR_EXIT = 2


class SystemdUnavailable(AxocoatlError):
    """``systemctl --user`` cannot reach a user manager (or systemctl is not installed)."""


def unit_dir() -> Path:
    """Where systemd looks for a user's own units: ``$XDG_CONFIG_HOME/systemd/user`` (default ~/.config)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user"


def unit_name(config_path: Path, name: str | None = None) -> str:
    """``axocoatl-<project dir>.service``, or ``--name``'s unit (``.service`` added when missing)."""
    if name is not None:
        if not _NAME.match(name):
            raise UsageError(
                f"{name!r} is not a valid unit name",
                hint="use letters, digits, '-', '_', '.' or '@', starting with a letter or digit",
            )
        return name if name.endswith(".service") else f"{name}.service"
    slug = re.sub(r"[^a-z0-9]+", "-", config_path.absolute().parent.name.lower()).strip("-") or "project"
    return f"axocoatl-{slug}.service"


def systemd_quote(word: str) -> str:
    """One ExecStart word as systemd reads it: ``%`` and ``$`` are its specifiers, spaces and quotes split."""
    word = _specifiers(word).replace("$", "$$")
    if re.fullmatch(r"[A-Za-z0-9_./:@+=,-]+", word):
        return word
    return '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _specifiers(text: str) -> str:
    return text.replace("%", "%%")


def render_unit(*, config: Path, data_dir: Path | None, python: Path, pythonpath: str | None = None) -> str:
    """The unit file text for a project: `python -m axocoatl -c CONFIG [--data-dir DIR] serve`."""
    command = [str(python), "-m", "axocoatl", "-c", str(config)]
    if data_dir is not None:
        command += ["--data-dir", str(data_dir)]
    command.append("serve")
    lines = [
        "# Written by `axocoatl service install`; remove it with `axocoatl service uninstall`.",
        f"{_CONFIG_MARK}{config}",
        *([f"{_DATA_DIR_MARK}{data_dir}"] if data_dir is not None else []),
        "[Unit]",
        f"Description=axocoatl daemon for {_specifiers(str(config))}",
        "",
        "[Service]",
        "Type=simple",
        f"WorkingDirectory={_specifiers(str(config.parent))}",  # a path as written: no quotes, spaces allowed
        f"ExecStart={' '.join(systemd_quote(w) for w in command)}",
        "Restart=on-failure",
        "RestartSec=5",
        f"RestartPreventExitStatus={CONFIG_ERROR_EXIT}",
        "Environment=PYTHONUNBUFFERED=1",
    ]
    if pythonpath:  # axocoatl imported from a checkout: the unit must find it the same way
        lines.append(f"Environment={systemd_quote('PYTHONPATH=' + pythonpath)}")
    lines += ["", "[Install]", "WantedBy=default.target", ""]
    return "\n".join(lines)


@dataclass(frozen=True)
class UnitFile:
    """An installed unit file and the project it was written for."""

    path: Path
    config: Path | None
    data_dir: Path | None

    @classmethod
    def read(cls, path: Path) -> UnitFile | None:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        config = data_dir = None
        for line in text.splitlines():
            if line.startswith(_CONFIG_MARK):
                config = Path(line[len(_CONFIG_MARK) :])
            elif line.startswith(_DATA_DIR_MARK):
                data_dir = Path(line[len(_DATA_DIR_MARK) :])
        return cls(path, config, data_dir)


def installed_unit(name: str, config: Path) -> UnitFile:
    """The unit file ``name`` written for ``config``; NotFound when there is none, UsageError when it is another's."""
    unit = UnitFile.read(unit_dir() / name)
    if unit is None:
        raise NotFound(
            f"no service {name} is installed (looked in {unit_dir()})",
            hint="install it with `axocoatl service install` (pass the same -c CONFIG and --name)",
        )
    check_same_project(unit, name, config)
    return unit


def check_same_project(unit: UnitFile, name: str, config: Path) -> None:
    """A unit of that name written for another project (or not by axocoatl) is never overwritten or driven."""
    hint = "pass --name NAME to give this project a unit of its own, or run the command with that -c CONFIG"
    if unit.config is None:
        raise UsageError(f"the unit file {unit.path} was not written by `axocoatl service install`", hint=hint)
    if unit.config != config:
        raise UsageError(f"the service {name} ({unit.path}) runs {unit.config}, not {config}", hint=hint)


@dataclass
class Systemctl:
    """``systemctl --user``: found on PATH, run with a timeout, its failures in our words."""

    timeout: float = 30.0

    def problem(self) -> str | None:
        """Why ``systemctl --user`` cannot be used here (None when it can)."""
        if shutil.which("systemctl") is None:
            return "systemctl is not installed (not on PATH)"
        result = self._call("show-environment")
        if result.returncode != 0:
            lines = (result.stderr or result.stdout).strip().splitlines()
            return lines[0] if lines else f"`systemctl --user show-environment` exited {result.returncode}"
        return None

    def require(self) -> None:
        problem = self.problem()
        if problem is not None:
            raise SystemdUnavailable(f"{UNAVAILABLE} ({problem})", hint=SUPERVISOR_HINT)

    def run(self, *args: str) -> str:
        """Run ``systemctl --user ARGS``; its stdout, or an error quoting what it said."""
        result = self._call(*args)
        if result.returncode != 0:
            said = (result.stderr or result.stdout).strip() or "no output"
            unit = args[-1] if args else ""
            raise AxocoatlError(
                f"`systemctl --user {' '.join(args)}` failed (exit {result.returncode}): {said}",
                hint=f"see `journalctl --user -u {unit}` and `systemctl --user status {unit}`",
            )
        return result.stdout

    def show(self, name: str) -> dict[str, str]:
        """The unit's state as systemd reports it (ActiveState, SubState, UnitFileState, MainPID, ...)."""
        out = self.run("show", name, "--property=ActiveState,SubState,UnitFileState,MainPID,ExecMainStatus")
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def _call(self, *args: str) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                ["systemctl", "--user", *args], capture_output=True, text=True, timeout=self.timeout, check=False
            )
        except FileNotFoundError:
            raise SystemdUnavailable(f"{UNAVAILABLE} (systemctl is not installed)", hint=SUPERVISOR_HINT) from None
        except subprocess.TimeoutExpired:
            raise AxocoatlError(
                f"`systemctl --user {' '.join(args)}` did not answer within {self.timeout:.0f} s",
                hint="check the user manager with `systemctl --user status`",
            ) from None
