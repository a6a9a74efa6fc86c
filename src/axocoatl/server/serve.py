"""The daemon process: runtime + supervision + HTTP/WebSocket server, reload and graceful shutdown.

Start-up: check exposure (fail closed), bind the socket (a clear error if the port is
taken), start the runtime (which resumes interrupted runs), serve, then write
``daemon.json``. On SIGTERM/SIGINT: stop accepting, give in-flight runs ``grace_secs``
to finish, then stop; a run still going is left ``running`` with this process as its
owner, so it is ``interrupted`` once we exit and resumes at the next start. A second
signal skips the grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import inspect
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import uvicorn

from axocoatl import __version__
from axocoatl.config.loader import LoadedConfig, load_config
from axocoatl.config.schema import AxocoatlConfig, ServerConfig
from axocoatl.core.errors import AxocoatlError, ConfigError, SandboxUnavailable, UsageError
from axocoatl.runtime.cluster import node_id_of
from axocoatl.runtime.daemon import (
    ConfigReloader,
    DaemonInfo,
    read_daemon_info,
    remove_daemon_info,
    write_daemon_info,
)
from axocoatl.runtime.fanout import EventFanout, NatsSubjects, events_prefix
from axocoatl.runtime.nodes import NodePresence
from axocoatl.runtime.runtime import Runtime
from axocoatl.runtime.supervision import SupervisionState, Supervisor
from axocoatl.server.app import create_app
from axocoatl.server.auth import check_exposure
from axocoatl.server.middleware import RedactSecrets
from axocoatl.server.routes.ws import MAX_FRAME_BYTES
from axocoatl.server.state import LiveSettings, ServerState

log = logging.getLogger("axocoatl.daemon")

DEFAULT_GRACE_SECS = 10.0
RELOAD_POLL_SECS = 1.0
# How long an idle keep-alive connection stays open. uvicorn's default (5 s) equals httpx's pool
# expiry: a client that reads an answer late (a busy event loop) and reuses the connection at once
# sends its next request just as the daemon closes the connection, and loses it unread (a reset,
# httpx.ReadError). The server must outlive its clients' idle timeouts (httpx 5 s, aiohttp 15 s,
# nginx's upstream default 60 s), so that the client is the one that closes an idle connection.
KEEP_ALIVE_SECS = 75
DRAIN_MARK_TIMEOUT_SECS = 3.0  # marking the node draining in a database that does not answer must not eat the grace


@dataclass
class DaemonOptions:
    config_path: Path
    data_dir: Path
    mode: Literal["dev", "serve"] = "serve"
    host: str | None = None
    port: int | None = None
    grace_secs: float = DEFAULT_GRACE_SECS
    reload: bool = False
    reload_poll_secs: float = RELOAD_POLL_SECS
    # Applied to every (re)loaded config, e.g. the CLI's --mock dry run.
    transform: Callable[[LoadedConfig], LoadedConfig] | None = None


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the daemon decides how to shut down."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def server_settings(config: AxocoatlConfig, options: DaemonOptions) -> ServerConfig:
    update: dict[str, Any] = {}
    if options.host is not None:
        update["host"] = options.host
    if options.port is not None:
        update["port"] = options.port
    return config.server.model_copy(update=update)


def bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket ourselves: clear errors, and port 0 picks a free port."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UsageError(f"cannot listen on {host!r}: {exc.strerror}", hint="set server.host to an address") from None
    family, _, _, _, address = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise UsageError(
                f"{host}:{port} is already in use (another daemon, or another program)",
                hint="stop it, or pick another port with server.port in axocoatl.yaml or --port",
            ) from None
        raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror}", hint="check server.host") from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _ws_protocol() -> str:
    # The sans-I/O implementation avoids the websockets legacy API (deprecated upstream).
    try:
        import uvicorn.protocols.websockets.websockets_sansio_impl  # noqa: F401
    except ImportError:
        return "auto"
    return "websockets-sansio"


def _runtime_kwargs() -> dict[str, Any]:
    # The daemon runs background work (memory consolidation) when the runtime offers it.
    params = inspect.signature(Runtime).parameters
    return {"background": True} if "background" in params else {}


def _redact_library_logs() -> None:
    redactor = RedactSecrets()
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(redactor)


async def run_daemon(options: DaemonOptions, loaded: LoadedConfig) -> int:
    """Run until a signal; returns the exit code."""
    _redact_library_logs()
    config = loaded.config
    server = server_settings(config, options)
    check_exposure(server)
    running = read_daemon_info(options.data_dir)
    if running is not None:
        raise UsageError(
            f"a daemon is already running for {options.data_dir} (pid {running.pid}, {running.url})",
            hint="stop it first (Ctrl-C in its terminal, or kill -TERM <pid>), or use another --data-dir",
        )
    sock = bind(server.host, server.port)
    port = int(sock.getsockname()[1])
    stop = asyncio.Event()
    signals = _SignalHandlers(stop)
    signals.install()
    runtime = Runtime(config, data_dir=options.data_dir, auto_resume=True, **_runtime_kwargs())
    node_id = node_id_of(config.cluster)
    # Listening before the runtime starts: the events of the runs it resumes reach the other nodes too.
    events = EventFanout(runtime.bus, node_id=node_id, prefix=events_prefix(config.cluster))
    started = False
    try:
        await runtime.start()  # with cluster.nats it connects to NATS (runtime.cluster), or fails naming the urls
        started = True
        if runtime.cluster is not None:
            await events.start(NatsSubjects(runtime.cluster.connection))
    except BaseException:
        await events.aclose()
        if started:  # (a failed start has closed what it opened)
            await runtime.aclose()
        sock.close()
        signals.remove()
        raise
    if runtime.cluster is None:
        await events.aclose()  # a single node (or nodes on PostgreSQL alone): the bus stays in-process
    nats = runtime.cluster.connection if runtime.cluster is not None else None
    state = ServerState(runtime=runtime, settings=LiveSettings.from_config(server), mode=options.mode, nats=nats)

    def on_restart(agent_id: str, _: SupervisionState) -> None:
        status = state.agent_status(agent_id)
        if status is not None:
            state.hub.broadcast([{"kind": "agent-status", "agent_id": agent_id, "agent": status}])

    supervisor = Supervisor(runtime, on_restart=on_restart)
    state.supervisor = supervisor
    supervisor.start()
    state.hub.attach(runtime.bus.subscribe)
    app = create_app(state, server)
    uv_config = uvicorn.Config(
        app,
        log_config=None,
        access_log=False,  # our access log leaves out query strings (they may carry ?token=)
        lifespan="off",
        timeout_graceful_shutdown=max(1, int(options.grace_secs)),
        ws=_ws_protocol(),
        ws_max_size=MAX_FRAME_BYTES,
        server_header=False,
        timeout_keep_alive=KEEP_ALIVE_SECS,
    )
    uv = _Server(uv_config)
    signals.server = uv
    serve_task = asyncio.create_task(uv.serve(sockets=[sock]), name="http")
    assert state.mcp_endpoint is not None
    mcp_task = asyncio.create_task(state.mcp_endpoint.run(), name="mcp-sessions")
    reloader = ConfigReloader(runtime, on_swap=supervisor.manual_restart_done)
    watcher: asyncio.Task[None] | None = None
    info = DaemonInfo(
        pid=os.getpid(),
        host=server.host,
        port=port,
        started_at=time.time(),
        version=__version__,
        config=str(options.config_path.resolve()),
        mode=options.mode,
    )
    try:
        while not uv.started and not serve_task.done():
            await asyncio.sleep(0.02)
        if serve_task.done():
            await serve_task  # re-raises why the server could not start
            return 1
        runtime.presence = NodePresence(
            runtime.store, runtime.clock, node_id=node_id, owner=runtime.owner, version=__version__, url=info.url
        )
        await runtime.presence.join()
        write_daemon_info(options.data_dir, info)
        _banner(options, info, runtime, state)
        if options.reload:
            apply = _Reload(options, state, supervisor, reloader, server)
            watcher = asyncio.create_task(apply.watch(), name="config-reload")
        stop_wait = asyncio.create_task(stop.wait())
        await asyncio.wait({serve_task, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        stop_wait.cancel()
        await _shutdown(options, state, uv, serve_task, signals)
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        state.draining = True
        mcp_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await mcp_task
        await supervisor.aclose()
        state.hub.detach()
        await state.cancel_detached()
        with contextlib.suppress(Exception):  # A2A tasks still streaming, push deliveries (before the store closes)
            await app.state.a2a.aclose()
        left = runtime.active_run_ids()
        if runtime.presence is not None:
            with contextlib.suppress(Exception):  # the database may be gone: the row then goes stale
                await runtime.presence.leave()
        await runtime.aclose()
        await events.aclose()
        for provider in reloader.retired:
            with contextlib.suppress(Exception):
                await provider.aclose()
        if left:
            log.warning("left %d run(s) to resume at the next start: %s", len(left), ", ".join(sorted(left)))
        remove_daemon_info(options.data_dir, os.getpid())
        signals.remove()
        sock.close()
    log.info("stopped")
    return 0


async def _shutdown(
    options: DaemonOptions, state: ServerState, uv: _Server, serve_task: asyncio.Task[None], signals: _SignalHandlers
) -> None:
    state.draining = True
    runtime = state.runtime
    runtime.stop_adopting()
    if runtime.presence is not None:
        try:
            await asyncio.wait_for(runtime.presence.drain(), DRAIN_MARK_TIMEOUT_SECS)
        except Exception:  # the database may be gone: draining goes on without telling it
            log.warning("could not mark this node draining in the database", exc_info=True)
    active = runtime.active_run_ids()
    if active:
        log.info(
            "shutting down: giving %d run(s) up to %.0f s to finish (Ctrl-C again to stop now)",
            len(active),
            options.grace_secs,
        )
    else:
        log.info("shutting down")
    uv.should_exit = True  # stop accepting; open requests get the grace period too
    deadline = asyncio.create_task(asyncio.sleep(options.grace_secs))
    waits = {
        asyncio.create_task(runtime.wait_for_runs(options.grace_secs)),
        asyncio.create_task(state.wait_detached(options.grace_secs)),
    }
    forced = asyncio.create_task(signals.forced.wait())
    pending = set(waits)
    while pending and not forced.done() and not deadline.done():
        _, pending = await asyncio.wait(pending | {forced, deadline}, return_when=asyncio.FIRST_COMPLETED)
        pending -= {forced, deadline}
    for task in (*waits, forced, deadline):
        task.cancel()
    if forced.done() or signals.force:
        uv.force_exit = True
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await asyncio.wait_for(serve_task, timeout=options.grace_secs + 5)


class _SignalHandlers:
    """First SIGTERM/SIGINT: graceful shutdown. Second: stop now."""

    def __init__(self, stop: asyncio.Event) -> None:
        self.stop = stop
        self.forced = asyncio.Event()
        self.force = False
        self.server: _Server | None = None
        self._installed: list[signal.Signals] = []

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._handle, sig)
                self._installed.append(sig)

    def remove(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in self._installed:
            with contextlib.suppress(Exception):
                loop.remove_signal_handler(sig)
        self._installed.clear()

    def _handle(self, sig: signal.Signals) -> None:
        if self.stop.is_set():
            log.warning("second %s: stopping now; unfinished runs resume at the next start", sig.name)
            self.force = True
            self.forced.set()
            if self.server is not None:
                self.server.force_exit = True
            return
        log.info("received %s", sig.name)
        self.stop.set()


def _banner(options: DaemonOptions, info: DaemonInfo, runtime: Runtime, state: ServerState) -> None:
    config = runtime.config
    auth = "on" if state.settings.credentials.enabled else "off (loopback only)"
    log.info(
        "axocoatl %s %s: %s  (dashboard /, API docs /docs, WebSocket /ws; auth %s)",
        options.mode,
        __version__,
        info.url,
        auth,
    )
    log.info(
        "%d agent(s), %d workflow(s); data in %s%s",
        len(config.agents),
        len(config.workflows),
        options.data_dir,
        "; reloading on config changes" if options.reload else "",
    )


# ------------------------------------------------------------------------------------ reloading


def _fingerprint(path: Path) -> str:
    digest = hashlib.sha256()
    for candidate in (path, path.parent / ".env"):
        try:
            digest.update(candidate.read_bytes())
        except OSError:
            digest.update(b"\0missing\0")
    return digest.hexdigest()


class _Reload:
    """Watches the config file (and the .env beside it) and applies valid changes."""

    def __init__(
        self,
        options: DaemonOptions,
        state: ServerState,
        supervisor: Supervisor,
        reloader: ConfigReloader,
        bound: ServerConfig,
    ) -> None:
        self.options = options
        self.state = state
        self.supervisor = supervisor
        self.reloader = reloader
        self.bound = bound  # the server section the socket was opened with

    async def watch(self) -> None:
        path = self.options.config_path
        last = _fingerprint(path)
        while True:
            await asyncio.sleep(self.options.reload_poll_secs)
            try:
                current = _fingerprint(path)
                if current != last:
                    last = current
                    await self.apply()
                swapped = await self.reloader.poll()
                if swapped:
                    log.info("agents now running their new config: %s", ", ".join(swapped))
            except asyncio.CancelledError:
                raise
            except Exception:  # a reload bug must not take the daemon down
                log.exception("config reload failed unexpectedly; still running the previous config")

    async def apply(self) -> None:
        path = self.options.config_path
        try:
            loaded = await asyncio.to_thread(load_config, path)
            if self.options.transform is not None:
                loaded = self.options.transform(loaded)
        except ConfigError as exc:
            head = exc.message.split("\n", 1)[0].rstrip(":")
            issues = "\n".join("  " + issue.render().replace("\n", "\n  ") for issue in exc.issues)
            log.error("config reload failed (%s); still running the previous config:\n%s", head, issues)
            return
        except AxocoatlError as exc:
            log.error("config reload failed; still running the previous config: %s", exc)
            return
        new = loaded.config
        server = server_settings(new, self.options).model_copy(
            update={"host": self.bound.host, "port": self.bound.port}
        )
        try:
            check_exposure(server)  # never drop to no auth while listening beyond loopback
        except UsageError as exc:
            log.error("config reload refused; still running the previous config: %s (%s)", exc.message, exc.hint)
            return
        for warning in loaded.warnings:
            log.warning("config: %s", warning.render())
        changed_socket = [
            name
            for name in ("host", "port", "cors_origins")
            if getattr(server_settings(new, self.options), name) != getattr(self.bound, name)
        ]
        try:
            report = await self.reloader.apply(new)
        except SandboxUnavailable as exc:
            log.error("config reload refused; still running the previous config: %s (%s)", exc.message, exc.hint)
            return
        self.state.settings = LiveSettings.from_config(server)
        self.supervisor.reset()
        log.info("config reloaded from %s: %s", path, report.summary())
        for name in changed_socket + report.restart_needed:
            log.warning("config: %s changed; restart the daemon to apply it", name)
