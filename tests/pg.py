"""A private PostgreSQL cluster for tests: initdb into a temp dir, pg_ctl on a free loopback port.

initdb refuses to run as root; as root the cluster runs as the ``postgres`` user (runuser).
A missing initdb fails the test that needs it (scripts/setup.sh installs PostgreSQL).
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
from pathlib import Path

import psycopg

# Ports handed out below Linux's ephemeral range (32768+), so no outgoing connection's local port takes
# one between the check and the server's bind, and in a block of its own per xdist worker, so two
# workers' servers never get the same port (a NATS client port that another worker's cluster took as
# its route port failed a cluster's start).
_PORT_BLOCK = 1000
_PORT_BASE = 20_000 + (int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0) % 12) * _PORT_BLOCK
_port_numbers = itertools.count()


def free_port() -> int:
    for _ in range(_PORT_BLOCK):
        port = _PORT_BASE + next(_port_numbers) % _PORT_BLOCK
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue  # in use (or a test's earlier server still in TIME_WAIT): the next one
            return port
    raise RuntimeError(f"no free loopback port in {_PORT_BASE}-{_PORT_BASE + _PORT_BLOCK - 1}")


def _binary(tool: str) -> str:
    """A PostgreSQL server tool: on PATH, or where Debian's packages put it."""
    found = shutil.which(tool) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{tool}"), reverse=True)), None)
    if found is None:
        raise RuntimeError(f"{tool} is not installed: install PostgreSQL (scripts/setup.sh does it)")
    return found


class PostgresCluster:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.user = "axocoatl"
        self._names = itertools.count(1)

    def _cmd(self, tool: str, *args: str) -> list[str]:
        command = [_binary(tool), *args]
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *command]
        return command

    def start(self) -> None:
        for tool in ("initdb", "pg_ctl"):
            _binary(tool)
        self.root.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            entry = pwd.getpwnam("postgres")
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-A", "trust", "-U", self.user, "-D", str(self.data))
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "start")

    def _run(self, *args: str) -> None:
        done = subprocess.run(self._cmd(*args), capture_output=True, text=True, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stderr or done.stdout}")

    def stop(self) -> None:
        subprocess.run(
            self._cmd("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop"),
            capture_output=True,
            cwd=self.root,
        )

    def dsn(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """The DSN of a fresh, empty database."""
        name = f"t{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.dsn(name)
