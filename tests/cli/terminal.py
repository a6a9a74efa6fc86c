"""The CLI on a pseudo-terminal, as a person at a keyboard uses it (prompts, Ctrl-C, line editing)."""

from __future__ import annotations

import os
import pty
import select
import sys
import time
from pathlib import Path


class Terminal:
    """`python -m axocoatl ARGS` started on a pty in ``cwd`` with ``env`` added (a None value: removed)."""

    def __init__(self, cwd: Path, *args: str, env: dict[str, str | None]) -> None:
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: the CLI on a terminal
            os.chdir(cwd)
            for name, value in env.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            os.execv(sys.executable, [sys.executable, "-m", "axocoatl", *args])
        self.output = b""

    def read_until(self, marker: bytes, limit: float = 60.0) -> None:
        deadline = time.monotonic() + limit
        while marker not in self.output and time.monotonic() < deadline:
            ready, _, _ = select.select([self.fd], [], [], 0.5)
            if ready:
                try:
                    self.output += os.read(self.fd, 4096)
                except OSError:
                    break
        assert marker in self.output, self.output.decode(errors="replace")

    def write(self, keys: bytes) -> None:
        os.write(self.fd, keys)

    def close(self) -> int:
        """Wait for the program to end; its exit code."""
        _, status = os.waitpid(self.pid, 0)
        os.close(self.fd)
        return os.waitstatus_to_exitcode(status)

    @property
    def text(self) -> str:
        return self.output.decode(errors="replace")
