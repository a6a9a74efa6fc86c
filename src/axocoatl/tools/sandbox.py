"""Sandbox tiers: how the commands of the shell tools (bash, bash_background) are contained.

``sandbox:`` in axocoatl.yaml (an agent's own ``sandbox:`` overrides the keys it sets) picks the tier:

- ``bubblewrap``: the command runs in new user, PID, IPC and UTS namespaces (and a network
  namespace with only loopback unless ``network: true``), sees the system read-only (/usr and a
  short list of /etc files), the workspace read-write at its own path, a private /tmp, and
  nothing else of the machine (no home directories, no data dir); every capability dropped,
  killed with the runtime. The rlimits of the ``none`` tier apply inside.
- ``podman``: a container per command with the original's hardening (capabilities dropped,
  no-new-privileges, ``--network none``, memory, CPU and PID limits, read-only root), from an image
  already in local storage (``--pull=never``).
- ``none``: a plain subprocess under rlimits; nothing keeps it from the network or the files your
  user can reach, so the runtime warns at start.

``auto`` is bubblewrap on Linux when ``bwrap`` is installed and works, else none (with the reason).

Processes: RLIMIT_NPROC counts a user's processes but never binds root (the kernel exempts uid 0,
user namespaces included). As root, bubblewrap starts inside one more PID namespace whose
``pid_max`` (per namespace since Linux 6.14) caps how many processes the command can have; the
command cannot raise it, since a namespace's ``pid_max`` is only writable from inside it and the
command lives in a namespace nested below.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from axocoatl.config.schema import AxocoatlConfig, SandboxConfig, SandboxLimitsConfig
from axocoatl.core.errors import SandboxUnavailable
from axocoatl.tools.processes import CommandRunner, Limits, SubprocessRunner

log = logging.getLogger(__name__)

Tier = Literal["bubblewrap", "podman", "none"]
SHELL_TOOLS = ("bash", "bash_background")
PROBE_TIMEOUT_SECS = 15.0
MIB = 1 << 20
# After PIDs wrap the kernel hands out numbers from 300 up again, so a namespace with pid_max N
# always has room for N - 300 processes (and at most N - 1).
RESERVED_PIDS = 300
# The namespace's own processes before the command: the outer bwrap, its init, the shell.
PID_OVERHEAD = 3
PID_MAX_PER_NAMESPACE = (6, 14)  # the Linux version that made pid_max a property of a PID namespace
# The original's list (its podman session sandbox).
CAP_DROP = (
    "SYS_ADMIN",
    "SYS_PTRACE",
    "SYS_MODULE",
    "SYS_RAWIO",
    "SYS_BOOT",
    "SYS_TIME",
    "NET_ADMIN",
    "NET_RAW",
    "DAC_READ_SEARCH",
    "MKNOD",
    "AUDIT_WRITE",
)
# What of /etc a shell, its tools, name resolution and TLS need; the rest (shadow, ssh keys, the
# machine's own configuration) stays out of reach.
ETC_ENTRIES = (
    "alternatives",
    "bash.bashrc",
    "ca-certificates",
    "ca-certificates.conf",
    "crypto-policies",
    "gitconfig",
    "group",
    "host.conf",
    "hosts",
    "inputrc",
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "mime.types",
    "nsswitch.conf",
    "passwd",
    "pki",
    "profile",
    "protocols",
    "resolv.conf",
    "services",
    "ssl",
    "timezone",
)
# Kernel settings under /proc that must not be written from a sandbox.
PROC_READ_ONLY = ("sys", "sysrq-trigger", "irq", "bus", "fs")
# Top-level directories that are part of the system on merged-/usr and classic layouts alike.
SYSTEM_DIRS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


@dataclass(frozen=True)
class TierChoice:
    """The tier commands will run under, why, and what the user should know about it."""

    tier: Tier
    reason: str
    warning: str | None = None
    fix: str | None = None  # how to do without the warning
    network: bool = True  # whether commands can reach the network

    def describe(self, agents: str) -> str:
        """``bubblewrap for coder, tester (auto: Linux with bwrap installed; no network)``."""
        return f"{self.tier} for {agents} ({self.reason}; {'network allowed' if self.network else 'no network'})"


def effective_sandbox(top: SandboxConfig, override: SandboxConfig | None) -> SandboxConfig:
    """``top`` with the keys ``override`` sets (nested ones too) replaced."""
    if override is None:
        return top
    merged = top.model_dump()
    _merge(merged, override.model_dump(exclude_unset=True))
    return SandboxConfig.model_validate(merged)


def _merge(into: dict[str, Any], update: dict[str, Any]) -> None:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def limits_of(config: SandboxLimitsConfig) -> Limits:
    return Limits(
        cpu_secs=config.cpu_secs,
        memory_bytes=config.memory_mb * MIB,
        file_bytes=config.file_size_mb * MIB,
        processes=config.max_processes,
    )


def uses_shell(tools: list[str]) -> bool:
    return any(name in SHELL_TOOLS for name in tools)


# ---------------------------------------------------------------------------------- choosing a tier


def choose(config: SandboxConfig, where: str = "sandbox") -> tuple[CommandRunner, TierChoice]:
    """The runner of ``config``'s tier; SandboxUnavailable when a tier named outright cannot run here."""
    limits = limits_of(config.limits)
    if config.tier == "none":
        return SubprocessRunner(limits), TierChoice("none", f"{where}.tier is none", NONE_WARNING, _none_fix(where))
    if config.tier == "podman":
        return _podman(config, where)
    runner, problem = _bubblewrap(config)
    if runner is not None:
        why = f"{where}.tier is bubblewrap" if config.tier == "bubblewrap" else "auto: Linux with bwrap installed"
        fix = "run axocoatl as an ordinary user" if runner.process_warning else None
        return runner, TierChoice("bubblewrap", why, runner.process_warning, fix, config.network)
    if config.tier == "bubblewrap":
        raise SandboxUnavailable(
            f"{where}.tier is bubblewrap, but {problem}",
            hint="install bubblewrap (apt-get install bubblewrap; scripts/setup.sh does it), "
            f"or set {where}.tier to podman or none",
        )
    fix = "install bubblewrap (apt-get install bubblewrap)" if "not installed" in problem else _none_fix(where)
    return SubprocessRunner(limits), TierChoice("none", f"auto: {problem}", NONE_WARNING, fix)


NONE_WARNING = (
    "bash commands run without a sandbox: they can read and write every file your user can and reach the "
    "network (only rlimits apply)"
)


def _none_fix(where: str) -> str:
    return f"install bubblewrap and set {where}.tier to auto or bubblewrap (or podman)"


def agent_runners(config: AxocoatlConfig) -> tuple[dict[str, CommandRunner], dict[str, TierChoice]]:
    """The runner of each agent that may run commands (bash, bash_background), and its tier choice.

    Agents with the same sandbox share one runner; a tier named outright that cannot run here raises.
    """
    runners: dict[str, CommandRunner] = {}
    choices: dict[str, TierChoice] = {}
    made: dict[str, tuple[CommandRunner, TierChoice]] = {}
    for agent in config.agents:
        if not uses_shell(agent.tool_names) or agent.id in runners:
            continue
        sandbox = effective_sandbox(config.sandbox, agent.sandbox)
        key = sandbox.model_dump_json()
        if key not in made:
            where = f"agents[{agent.id}].sandbox" if agent.sandbox is not None else "sandbox"
            made[key] = choose(sandbox, where)
        runners[agent.id], choices[agent.id] = made[key]
    return runners, choices


def log_choices(choices: dict[str, TierChoice]) -> None:
    """At start: which tier each agent's commands run under, and a warning where it is weak."""
    by_choice: dict[TierChoice, list[str]] = {}
    for agent_id, choice in choices.items():
        by_choice.setdefault(choice, []).append(agent_id)
    for choice, agents in by_choice.items():
        text = choice.describe(", ".join(agents))
        if choice.warning:
            log.warning("sandbox %s: %s; %s", text, choice.warning, choice.fix)
        else:
            log.info("sandbox %s", text)


# -------------------------------------------------------------------------------------- bubblewrap


class BubblewrapRunner(SubprocessRunner):
    """The ``bubblewrap`` tier (see the module's docstring)."""

    name = "bubblewrap"

    def __init__(
        self,
        limits: Limits,
        *,
        bwrap: str,
        network: bool = False,
        features: frozenset[str] = frozenset(),
        pid_cap: tuple[str, int] | None = None,
        process_warning: str | None = None,
    ) -> None:
        super().__init__(limits)
        self.bwrap = bwrap
        self.network = network
        self.features = features
        self.pid_cap = pid_cap  # (the unshare program, the pid_max of the namespace around the sandbox)
        self.process_warning = process_warning

    def argv(self, command: str, cwd: Path) -> list[str]:
        workspace = str(cwd)
        args = [self.bwrap, "--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
        if not self.network:
            args.append("--unshare-net")
        args += ["--die-with-parent", "--new-session", "--cap-drop", "ALL", "--hostname", "axocoatl-sandbox"]
        if "--disable-userns" in self.features:
            args.append("--disable-userns")  # nor can it make namespaces of its own, where it would be root
        args += ["--ro-bind", "/usr", "/usr"]
        for name in SYSTEM_DIRS:
            path = Path("/", name)
            if path.is_symlink():
                args += ["--symlink", os.readlink(path), str(path)]
            elif path.is_dir():
                args += ["--ro-bind", str(path), str(path)]
        for name in ETC_ENTRIES:
            args += ["--ro-bind-try", f"/etc/{name}", f"/etc/{name}"]
        args += ["--proc", "/proc"]
        # A command of a runtime running as root is uid 0 outside its namespace too, and the kernel lets uid 0
        # write global settings (sysctls such as kernel.core_pattern) without any capability: these stay
        # read-only, as in Docker's defaults.
        for name in PROC_READ_ONLY:
            args += ["--ro-bind-try", f"/proc/{name}", f"/proc/{name}"]
        args += ["--dev", "/dev"]
        if "--size" in self.features and self.limits.memory_bytes > 0:
            args += ["--size", str(self.limits.memory_bytes)]  # files in /tmp are memory: no more than the limit
        args += ["--tmpfs", "/tmp", "--bind", workspace, workspace, "--remount-ro", "/", "--chdir", workspace]
        args += ["/bin/bash", "-c", command]
        if self.pid_cap is None:
            return args
        unshare, pid_max = self.pid_cap
        # The shell is PID 1 of a new namespace: it sets that namespace's pid_max, then becomes bwrap.
        cap = 'echo "$0" > /proc/sys/kernel/pid_max && exec "$@"'
        return [unshare, "--pid", "--fork", "--kill-child", "--", "/bin/sh", "-c", cap, str(pid_max), *args]


def _bubblewrap(config: SandboxConfig) -> tuple[BubblewrapRunner | None, str]:
    """The bubblewrap runner, or None and why bubblewrap cannot run here."""
    if not sys.platform.startswith("linux"):
        return None, f"bubblewrap needs Linux (this is {sys.platform})"
    bwrap = shutil.which("bwrap")
    if bwrap is None:
        return None, "bwrap is not installed"
    limits = limits_of(config.limits)
    pid_cap, process_warning = _process_cap(limits.processes)

    def runner(cap: tuple[str, int] | None, warning: str | None) -> BubblewrapRunner:
        features = _bwrap_features(bwrap)
        return BubblewrapRunner(
            limits, bwrap=bwrap, network=config.network, features=features, pid_cap=cap, process_warning=warning
        )

    chosen = runner(pid_cap, process_warning)
    problem = _probe(tuple(chosen.argv("exit 0", Path("/WORKSPACE"))))
    if problem is not None and pid_cap is not None:
        # Capping PIDs can fail where bwrap works (a read-only /proc/sys in a container): run uncapped, and say so.
        uncapped = f"sandbox.limits.max_processes is not enforced: {_ROOT}, and capping PIDs failed ({problem})"
        chosen = runner(None, uncapped)
        problem = _probe(tuple(chosen.argv("exit 0", Path("/WORKSPACE"))))
    if problem is not None:
        return None, f"bwrap does not work here: {problem}"
    return chosen, ""


def _process_cap(processes: int) -> tuple[tuple[str, int] | None, str | None]:
    """How max_processes is enforced: RLIMIT_NPROC for a user, a PID namespace's pid_max for root."""
    if processes <= 0 or os.geteuid() != 0:
        return None, None
    unshare = shutil.which("unshare")
    if unshare is not None and kernel_version() >= PID_MAX_PER_NAMESPACE:
        return (unshare, processes + RESERVED_PIDS + PID_OVERHEAD), None
    why = "unshare (util-linux) is not installed" if unshare is None else "the kernel is older than 6.14"
    return None, f"sandbox.limits.max_processes is not enforced: {_ROOT}, and {why}"


_ROOT = "the runtime runs as root, which RLIMIT_NPROC does not bind"


def kernel_version() -> tuple[int, int]:
    parts = os.uname().release.split(".")
    try:
        return int(parts[0]), int("".join(c for c in parts[1] if c.isdigit()) or 0)
    except (IndexError, ValueError):
        return 0, 0


@functools.cache
def _bwrap_features(bwrap: str) -> frozenset[str]:
    """The optional flags this bwrap knows (older versions lack --disable-userns and --size)."""
    try:
        done = subprocess.run([bwrap, "--help"], capture_output=True, text=True, timeout=PROBE_TIMEOUT_SECS)
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    text = done.stdout + done.stderr
    return frozenset(flag for flag in ("--disable-userns", "--size") if flag in text)


@functools.cache
def _probe(template: tuple[str, ...]) -> str | None:
    """Runs ``exit 0`` in the sandbox once per process: None when it works, else bwrap's complaint."""
    with tempfile.TemporaryDirectory(prefix="axocoatl-probe-") as workspace:
        argv = [part.replace("/WORKSPACE", workspace) for part in template]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=PROBE_TIMEOUT_SECS, cwd=workspace)
        except subprocess.TimeoutExpired:
            return f"a test command did not finish within {PROBE_TIMEOUT_SECS:g} s"
        except OSError as exc:
            return exc.strerror or str(exc)
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip().splitlines()
        return said[-1] if said else f"exit code {done.returncode}"
    return None


# ------------------------------------------------------------------------------------------ podman


class PodmanRunner(SubprocessRunner):
    """The ``podman`` tier: one container per command, removed when the command ends or is stopped."""

    name = "podman"

    def __init__(
        self,
        limits: Limits,
        *,
        podman: str,
        image: str,
        cpus: float,
        network: bool = False,
        rootfs: str | None = None,
        runtime: str | None = None,
        cgroup_manager: str | None = None,
    ) -> None:
        super().__init__(limits)
        self.podman = podman
        self.image = image
        self.cpus = cpus
        self.network = network
        self.rootfs = rootfs
        self.runtime = runtime
        self.cgroup_manager = cgroup_manager
        self._names = itertools.count(1)
        self._containers: dict[int, str] = {}  # pid of the podman client → its container

    def argv(self, command: str, cwd: Path, name: str = "axo-sandbox") -> list[str]:
        workspace = str(cwd)
        args = [*self._global_args(), "run", "--rm", "--pull=never", "--name", name]
        args += ["--security-opt=no-new-privileges", "--read-only", "--tmpfs", "/tmp"]
        for cap in CAP_DROP:
            args += ["--cap-drop", cap]
        if not self.network:
            args += ["--network", "none"]
        limits = self.limits
        if limits.memory_bytes > 0:
            args += ["--memory", f"{limits.memory_bytes // MIB}m"]
        args += ["--cpus", f"{self.cpus:g}"]
        if limits.processes > 0:
            args += ["--pids-limit", str(limits.processes)]
        if limits.cpu_secs > 0:
            args += ["--ulimit", f"cpu={limits.cpu_secs}:{limits.cpu_secs}"]
        if limits.file_bytes > 0:
            args += ["--ulimit", f"fsize={limits.file_bytes}:{limits.file_bytes}"]
        # podman's defaults for open files and processes can exceed what it may grant, and the container then
        # fails to start ("error setting rlimit"): the runtime's own open files, and max_processes.
        for kind, value in _open_files():
            args += ["--ulimit", f"{kind}={value}"]
        if limits.processes > 0:
            args += ["--ulimit", f"nproc={limits.processes}:{limits.processes}"]
        args += ["--volume", f"{workspace}:{workspace}:rw", "--workdir", workspace, "--env", f"HOME={workspace}"]
        source = ["--rootfs", self.rootfs] if self.rootfs else [self.image]
        return [*args, *source, "/bin/sh", "-c", command]

    async def spawn(self, command: str, *, cwd: Path) -> asyncio.subprocess.Process:
        name = f"axo-sandbox-{os.getpid()}-{next(self._names)}"
        process = await asyncio.create_subprocess_exec(
            *self.argv(command, cwd, name),
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
        self._containers[process.pid] = name
        return process

    def remove_orphans(self) -> list[str]:
        """Remove the containers of runtimes that died without removing them (kill -9); returns their names."""
        try:
            listed = subprocess.run(
                [*self._global_args(), "ps", "--all", "--filter", "name=^axo-sandbox-", "--format", "{{.Names}}"],
                capture_output=True,
                text=True,
                timeout=PROBE_TIMEOUT_SECS,
            )
        except (OSError, subprocess.SubprocessError):
            return []
        orphans = []
        for name in listed.stdout.split():
            owner = name.split("-")[2] if name.count("-") >= 3 else ""
            if owner.isdigit() and not _alive(int(owner)):
                orphans.append(name)
        if orphans:
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                subprocess.run(
                    [*self._global_args(), "rm", "--force", "--time", "0", *orphans],
                    capture_output=True,
                    timeout=PROBE_TIMEOUT_SECS,
                )
            log.info("removed the sandbox containers of runtimes that are gone: %s", ", ".join(orphans))
        return orphans

    def _global_args(self) -> list[str]:
        args = [self.podman]
        if self.runtime:
            args += ["--runtime", self.runtime]
        if self.cgroup_manager:
            args.append(f"--cgroup-manager={self.cgroup_manager}")
        return args

    async def stop(self, process: asyncio.subprocess.Process) -> None:
        # Killing the podman client leaves its container running: remove the container itself.
        name = self._containers.pop(process.pid, None)
        if name is not None and process.returncode is None:
            with contextlib.suppress(OSError):
                remover = await asyncio.create_subprocess_exec(
                    *self._global_args(),
                    "rm",
                    "--force",
                    "--time",
                    "0",
                    name,
                    stdout=asyncio.subprocess.DEVNULL,
                    stderr=asyncio.subprocess.DEVNULL,
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(remover.wait(), PROBE_TIMEOUT_SECS)
        await super().stop(process)


def _podman(config: SandboxConfig, where: str) -> tuple[CommandRunner, TierChoice]:
    podman = shutil.which("podman")
    if podman is None:
        raise SandboxUnavailable(
            f"{where}.tier is podman, but podman is not installed",
            hint=f"install podman (apt-get install podman), or set {where}.tier to bubblewrap or none",
        )
    settings = config.podman
    image = settings.image
    if settings.rootfs is not None:
        if not Path(settings.rootfs, "bin", "sh").exists():
            raise SandboxUnavailable(
                f"{where}.podman.rootfs {settings.rootfs!r} has no bin/sh",
                hint="point it at a directory holding a root file system (e.g. busybox-static with its applets)",
            )
    else:
        problem = _image_problem(podman, image)
        if problem is not None:
            raise SandboxUnavailable(
                f"{where}.podman.image {image!r} {problem}",
                hint=f"pull it once beforehand (podman pull {image}); commands never pull images at run time",
            )
    runner = PodmanRunner(
        limits_of(config.limits),
        podman=podman,
        image=image,
        cpus=settings.cpus,
        network=config.network,
        rootfs=settings.rootfs,
        runtime=settings.runtime,
        cgroup_manager=settings.cgroup_manager,
    )
    # One real container: limits the host cannot apply (cgroups not delegated) fail here, not in every command.
    problem = _probe(tuple(runner.argv("exit 0", Path("/WORKSPACE"), f"axo-sandbox-{os.getpid()}-probe")))
    if problem is not None:
        raise SandboxUnavailable(
            f"{where}.tier is podman, but a test container did not run: {problem}",
            hint="run `podman run --rm IMAGE true` to see why (rootless limits need cgroups v2 delegation), "
            f"or set {where}.tier to bubblewrap or none",
        )
    runner.remove_orphans()
    source = f"rootfs {settings.rootfs}" if settings.rootfs else f"image {image}"
    return runner, TierChoice("podman", f"{where}.tier is podman ({source})", network=config.network)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _open_files() -> list[tuple[str, str]]:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return [] if hard == resource.RLIM_INFINITY else [("nofile", f"{soft}:{hard}")]


@functools.cache
def _image_problem(podman: str, image: str) -> str | None:
    try:
        done = subprocess.run(
            [podman, "image", "exists", image], capture_output=True, text=True, timeout=PROBE_TIMEOUT_SECS
        )
    except subprocess.TimeoutExpired:
        return f"could not be looked up: podman did not answer within {PROBE_TIMEOUT_SECS:g} s"
    except OSError as exc:
        return f"could not be looked up: {exc.strerror or exc}"
    if done.returncode == 1:
        return "is not in local storage"
    if done.returncode != 0:
        return f"could not be looked up: {(done.stderr or done.stdout).strip() or done.returncode}"
    return None
