"""The CLI boundary as a user meets it (`python -m axocoatl` in a subprocess): whatever goes wrong
ends in a message and an exit code, never a traceback unless --debug asks for one."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

CONFIG = """\
agents:
  - id: a
    provider: mock
workflows:
  - id: w
    agents: [a]
"""


def run(
    *args: str | bytes, cwd: Path, stdin: bytes | None = None, stdout: int | None = subprocess.PIPE
) -> subprocess.CompletedProcess[bytes]:
    """Bytes in, bytes out: the arguments and stdin may be anything a shell can pass."""
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", "AXOCOATL_EMBEDDER": "hashed"}
    env.pop("AXOCOATL_DATA_DIR", None)
    env.pop("AXOCOATL_CONFIG", None)
    return subprocess.run(
        [sys.executable, "-m", "axocoatl", *args],
        cwd=cwd,
        env=env,
        input=stdin,
        stdout=stdout,
        stderr=subprocess.PIPE,
        timeout=120,
    )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "axocoatl.yaml").write_text(CONFIG, encoding="utf-8")
    return tmp_path


def test_binary_stdin_is_a_usage_error(project: Path) -> None:
    result = run("workflow", "run", "w", "-i", "-", cwd=project, stdin=b"\x89PNG\r\n\x1a\n\x00\x00")
    assert result.returncode == 2
    assert b"stdin (-i -) is not UTF-8 text: byte 1 (0x89) is not valid UTF-8" in result.stderr
    assert b"Traceback" not in result.stderr


def test_latin1_argument_is_a_usage_error(project: Path) -> None:
    result = run("workflow", "run", "w", "-i", b"caf\xe9 cr\xe8me", cwd=project)
    assert result.returncode == 2
    assert b"-i is not UTF-8 text: character 4 (the byte 0xe9) is not valid" in result.stderr
    assert b"iconv -f latin1 -t utf-8" in result.stderr
    assert b"Traceback" not in result.stderr


def test_data_dir_that_cannot_be_used(project: Path) -> None:
    (project / "taken").write_text("a file")
    as_file = run("--data-dir", "taken", "workflow", "run", "w", "-i", "x", cwd=project)
    assert as_file.returncode == 2
    assert as_file.stderr.decode().startswith("Error: the data directory taken is a file, not a directory\n")
    below_file = run("--data-dir", "taken/sub", "runs", "list", cwd=project)
    assert below_file.returncode == 2
    assert b"cannot be created:" in below_file.stderr and b"taken is a file" in below_file.stderr
    # /sys refuses new directories to everyone, root included (EPERM or EACCES).
    denied = run("--data-dir", "/sys/axocoatl-test", "workflow", "run", "w", "-i", "x", cwd=project)
    assert denied.returncode == 2
    assert b"/sys" in denied.stderr
    assert b"hint: point --data-dir (or AXOCOATL_DATA_DIR) at a directory you can write" in denied.stderr
    assert b"Traceback" not in denied.stderr
    missing_parents = run("--data-dir", "new/deeper/data", "workflow", "run", "w", "-i", "x", cwd=project)
    assert missing_parents.returncode == 0, missing_parents.stderr
    assert (project / "new" / "deeper" / "data" / "axocoatl.db").exists()


def test_config_that_cannot_be_read(project: Path) -> None:
    directory = run("--config", str(project), "validate", cwd=project)
    assert directory.returncode == 2
    assert f"{project} is a directory, not a config file".encode() in directory.stderr
    (project / "latin1.yaml").write_bytes(b"agents:\n  - id: caf\xe9\n")
    latin1 = run("--config", "latin1.yaml", "workflow", "list", cwd=project)
    assert latin1.returncode == 2
    assert b"latin1.yaml is not UTF-8 text" in latin1.stderr and b"save the file as UTF-8" in latin1.stderr
    missing = run("--config", "nope.yaml", "workflow", "list", cwd=project)
    assert missing.returncode == 2 and b"config file not found: nope.yaml" in missing.stderr


def test_damaged_and_locked_databases(project: Path) -> None:
    (project / "data").mkdir()
    (project / "data" / "axocoatl.db").write_bytes(b"this is not SQLite" * 300)
    damaged = run("--data-dir", "data", "runs", "list", cwd=project)
    assert damaged.returncode == 1
    assert b"data/axocoatl.db is not an SQLite database" in damaged.stderr
    assert b"hint: move it away" in damaged.stderr

    assert run("--data-dir", "fresh", "workflow", "run", "w", "-i", "x", cwd=project).returncode == 0
    holder = sqlite3.connect(project / "fresh" / "axocoatl.db", isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        locked = run("--data-dir", "fresh", "workflow", "run", "w", "-i", "x", cwd=project)
    finally:
        holder.close()
    assert locked.returncode == 1
    assert b"database is locked" in locked.stderr
    assert b"hint: another process held the database" in locked.stderr


def test_full_disk(project: Path) -> None:
    # A data dir on a tiny filesystem: the database fills it (the tests run as root, as CI does).
    small = project / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=400k", "tmpfs", str(small)], check=True)
    try:
        task = "fill the disk " * 11000  # about 150 KB: stored in the run, its step and its memory
        database = run("--data-dir", str(small), "workflow", "run", "w", "-i", "-", cwd=project, stdin=task.encode())
    finally:
        subprocess.run(["umount", str(small)], check=True)
    assert database.returncode == 1, database.stderr
    # Depending on which write hits the limit: the command's error, or the failed step in the run's summary.
    said = b" ".join((database.stdout + database.stderr).split())
    assert b"disk is full" in said and b"the disk is full: free some space" in said, said
    assert b"Traceback" not in said
    # /dev/full fails every write with ENOSPC: as stdout.
    with open("/dev/full", "wb") as full:
        stdout = run("config", "schema", cwd=project, stdout=full.fileno())
    assert stdout.returncode == 1
    assert stdout.stderr.decode() == (
        "Error: no space left on the device (No space left on device)\n"
        "  hint: free some disk space, then run the command again\n"
    )


def _crash(project: Path, body: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Run the CLI entry point with a fault planted inside axocoatl (how else would a bug show?)."""
    script = textwrap.dedent(body) + "\nfrom axocoatl.cli.main import main\nmain()\n"
    return subprocess.run(
        [sys.executable, "-c", script, *args], cwd=project, capture_output=True, timeout=120, env={**os.environ}
    )


FAULT = """\
import axocoatl.config.loader as loader
def broken(*args, **kwargs):
    raise ValueError("planted fault")
loader.load_config = broken
"""


def test_an_unexpected_error_is_one_line_naming_the_command_and_the_way_to_the_traceback(project: Path) -> None:
    result = _crash(project, FAULT, "workflow", "list")
    assert result.returncode == 1
    assert result.stderr.decode() == (
        "Error: `axocoatl workflow list` failed unexpectedly (ValueError: planted fault); run it again with --debug "
        "to see the traceback. This is a bug in axocoatl; please report it.\n"
    )
    debug = _crash(project, FAULT, "--debug", "workflow", "list")
    assert debug.returncode == 1
    err = debug.stderr.decode()
    assert err.startswith("Traceback (most recent call last):")
    assert ", in broken\nValueError: planted fault\n" in err
    assert err.endswith("(ValueError: planted fault). This is a bug in axocoatl; please report it.\n")


def test_interrupt_keeps_exit_130(project: Path) -> None:
    result = _crash(project, FAULT.replace('ValueError("planted fault")', "KeyboardInterrupt"), "workflow", "list")
    assert result.returncode == 130
    assert b"Traceback" not in result.stderr
