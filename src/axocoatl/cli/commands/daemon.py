"""`axocoatl dev` and `axocoatl serve`: the runtime, the HTTP/WebSocket API and the dashboard in one process."""

from __future__ import annotations

import typer

from axocoatl.cli.common import fail, globals_of, load, setup_logging, with_mock_providers


def _run(
    ctx: typer.Context,
    mode: str,
    *,
    host: str | None,
    port: int | None,
    grace: float,
    reload: bool,
    node_id: str | None = None,
) -> None:
    import asyncio
    import dataclasses

    from axocoatl.config.loader import LoadedConfig
    from axocoatl.core.errors import AxocoatlError
    from axocoatl.server.serve import DaemonOptions, run_daemon

    g = globals_of(ctx)
    loaded = load(ctx)

    def transform(loaded: LoadedConfig) -> LoadedConfig:
        if g.mock:
            loaded = with_mock_providers(loaded)
        if node_id is not None:  # --node-id names this node over cluster.node_id, in every reloaded config too
            cluster = loaded.config.cluster.model_copy(update={"node_id": node_id})
            loaded = dataclasses.replace(loaded, config=loaded.config.model_copy(update={"cluster": cluster}))
        return loaded

    if node_id is not None:
        loaded = transform(loaded)  # (the mock swap is idempotent)
    setup_logging(g.log_level or "info")  # the global --log-level / -v / -q / $AXOCOATL_LOG
    options = DaemonOptions(
        config_path=g.config_path,
        data_dir=g.resolved_data_dir(),
        mode="dev" if mode == "dev" else "serve",
        host=host,
        port=port,
        grace_secs=grace,
        reload=reload,
        transform=transform if g.mock or node_id is not None else None,
    )
    try:
        code = asyncio.run(run_daemon(options, loaded))
    except AxocoatlError as exc:
        fail(exc, debug=g.debug)
    except KeyboardInterrupt:
        code = 130
    raise typer.Exit(code)


_HOST = typer.Option(None, "--host", help="Listen on this address [default: server.host, 127.0.0.1].")
_PORT = typer.Option(None, "--port", "-p", min=0, max=65535, help="Listen on this port [default: server.port, 8080].")
_GRACE = typer.Option(10.0, "--grace", min=0, help="Seconds in-flight runs get to finish on shutdown.")
_NODE_ID = typer.Option(
    None,
    "--node-id",
    help="This node's name in a cluster (cluster.nats) [default: cluster.node_id, else hostname:pid].",
)


def dev(
    ctx: typer.Context,
    host: str | None = _HOST,
    port: int | None = _PORT,
    grace: float = _GRACE,
    no_reload: bool = typer.Option(False, "--no-reload", help="Do not reload the config when the file changes."),
    node_id: str | None = _NODE_ID,
) -> None:
    """Run the daemon for development: runtime + API + dashboard, reloading the config on change."""
    _run(ctx, "dev", host=host, port=port, grace=grace, reload=not no_reload, node_id=node_id)


def serve(
    ctx: typer.Context,
    host: str | None = _HOST,
    port: int | None = _PORT,
    grace: float = _GRACE,
    node_id: str | None = _NODE_ID,
) -> None:
    """Run the daemon: runtime + API + dashboard (no config reload)."""
    _run(ctx, "serve", host=host, port=port, grace=grace, reload=False, node_id=node_id)
