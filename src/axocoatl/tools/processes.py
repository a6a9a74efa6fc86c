"""Running commands for the shell tools: the command runner (the sandbox tier) and background tasks.

``CommandRunner`` is the seam of the sandbox tiers: a tier decides how a command is started
(bubblewrap, podman, or a plain subprocess; see tools/sandbox.py). The plain tier,
``SubprocessRunner``, is the base of the others: the command runs in the workspace, in a session
of its own (so a timeout kills all it started), under rlimits on CPU time, address space, file
size and core dumps, with its output read continuously and kept only up to a cap (a 1 GB output
costs the time to read it, never the memory). A tier changes the argv that starts the command.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

READ_CHUNK = 65536
KILL_GRACE_SECS = 2.0
CPU_GRACE_SECS = 5


@dataclass(frozen=True)
class Limits:
    """rlimits of one command (0: not limited)."""

    cpu_secs: int = 600
    memory_bytes: int = 4 << 30
    file_bytes: int = 1 << 30
    processes: int = 512  # more than the user runs now (RLIMIT_NPROC counts all their processes)


@dataclass
class CommandResult:
    exit_code: int | None  # None: killed (timeout) before it exited
    output: str
    timed_out: bool = False
    truncated_bytes: int = 0  # output bytes read but not kept


class CommandRunner(Protocol):
    """How commands are started (a sandbox tier)."""

    name: str

    async def run(self, command: str, *, cwd: Path, timeout: float, max_output: int) -> CommandResult: ...

    async def spawn(self, command: str, *, cwd: Path) -> asyncio.subprocess.Process: ...

    async def stop(self, process: asyncio.subprocess.Process) -> None:
        """Kill a spawned command and everything it started, and wait for it."""
        ...


def _preexec(limits: Limits) -> Callable[[], None] | None:
    if sys.platform == "win32":  # pragma: no cover - POSIX only
        return None
    import resource

    extra_processes = limits.processes

    def apply() -> None:
        def cap(kind: int, value: int, grace: int = 0) -> None:
            if value <= 0:
                return
            _, hard = resource.getrlimit(kind)
            if hard != resource.RLIM_INFINITY:
                value = min(value, hard)
            new_hard = value + grace if hard == resource.RLIM_INFINITY else hard
            with contextlib.suppress(ValueError, OSError):
                resource.setrlimit(kind, (value, new_hard))

        # SIGXCPU at the soft limit says why the command stopped; SIGKILL at the hard one, a little later,
        # ends a command that ignores it.
        cap(resource.RLIMIT_CPU, limits.cpu_secs, grace=CPU_GRACE_SECS)
        cap(resource.RLIMIT_AS, limits.memory_bytes)
        cap(resource.RLIMIT_FSIZE, limits.file_bytes)
        cap(resource.RLIMIT_CORE, 1)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if extra_processes > 0:
            cap(resource.RLIMIT_NPROC, _user_processes() + extra_processes)
        _die_with_parent()

    return apply


def _die_with_parent() -> None:
    """Linux: the command is killed when the runtime dies (kill -9 included), instead of running on
    unobserved; its outcome is then "unknown" to the resumed step (see tools/journal.py)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


def _user_processes() -> int:
    uid = os.getuid()
    count = 0
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    if entry.stat(follow_symlinks=False).st_uid == uid:
                        count += 1
    return count


def kill_group(process: asyncio.subprocess.Process) -> None:
    """Kill the command and everything it started (its session)."""
    if process.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        process.kill()


class SubprocessRunner:
    """The ``none`` tier: a plain subprocess with rlimits (no namespaces, no network isolation)."""

    name = "none"

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()

    def argv(self, command: str, cwd: Path) -> list[str]:
        """What is executed to run ``command`` in ``cwd``."""
        return ["/bin/bash", "-c", command]

    async def spawn(self, command: str, *, cwd: Path) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            *self.argv(command, cwd),
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_preexec(self.limits),
            env=_command_env(cwd),
        )

    async def run(self, command: str, *, cwd: Path, timeout: float, max_output: int) -> CommandResult:
        process = await self.spawn(command, cwd=cwd)
        kept = bytearray()
        dropped = 0
        assert process.stdout is not None

        async def read() -> None:
            nonlocal dropped
            assert process.stdout is not None
            while chunk := await process.stdout.read(READ_CHUNK):
                room = max_output - len(kept)
                if room > 0:
                    kept.extend(chunk[:room])
                dropped += max(0, len(chunk) - max(room, 0))
            await process.wait()

        timed_out = False
        try:
            await asyncio.wait_for(read(), timeout)
        except TimeoutError:
            timed_out = True
        finally:
            await self.stop(process)  # also whatever it left running in the background
        text = kept.decode("utf-8", errors="replace")
        return CommandResult(None if timed_out else process.returncode, text, timed_out, dropped)

    async def stop(self, process: asyncio.subprocess.Process) -> None:
        kill_group(process)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(process.wait(), KILL_GRACE_SECS)


def _command_env(cwd: Path) -> dict[str, str]:
    keep = ("PATH", "LANG", "LC_ALL", "TERM", "TZ")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    # The runtime's secrets (API keys in the environment) are not passed to the commands a model writes.
    env.update(HOME=str(cwd), PWD=str(cwd))
    return env


@dataclass
class BackgroundTask:
    task_id: str
    agent_id: str
    command: str
    process: asyncio.subprocess.Process
    output: bytearray = field(default_factory=bytearray)
    read_upto: int = 0
    dropped: int = 0
    reader: asyncio.Task[None] | None = None
    runner: CommandRunner | None = None  # the tier that started it, which knows how to stop it


class BackgroundTasks:
    """Commands started with bash_background, per runtime; each agent sees only its own."""

    def __init__(self, max_buffer: int = 1 << 20, max_tasks: int = 32) -> None:
        self._tasks: dict[str, BackgroundTask] = {}
        self._ids = itertools.count(1)
        self.max_buffer = max_buffer
        self.max_tasks = max_tasks

    def running(self, agent_id: str) -> int:
        return sum(1 for t in self._tasks.values() if t.agent_id == agent_id and t.process.returncode is None)

    def add(
        self, agent_id: str, command: str, process: asyncio.subprocess.Process, runner: CommandRunner | None = None
    ) -> BackgroundTask:
        task = BackgroundTask(f"task-{os.getpid()}-{next(self._ids)}", agent_id, command, process, runner=runner)
        task.reader = asyncio.get_running_loop().create_task(self._read(task))
        self._tasks[task.task_id] = task
        return task

    def get(self, agent_id: str, task_id: str) -> BackgroundTask | None:
        task = self._tasks.get(task_id)
        return task if task is not None and task.agent_id == agent_id else None

    def ids(self, agent_id: str) -> list[str]:
        return [t.task_id for t in self._tasks.values() if t.agent_id == agent_id]

    async def _read(self, task: BackgroundTask) -> None:
        stream = task.process.stdout
        assert stream is not None
        while chunk := await stream.read(READ_CHUNK):
            task.output.extend(chunk)
            over = len(task.output) - self.max_buffer
            if over > 0:  # keep the newest output; what was never read is counted as dropped
                unread_lost = max(0, over - max(0, task.read_upto))
                del task.output[:over]
                task.read_upto = max(0, task.read_upto - over)
                task.dropped += unread_lost
        await task.process.wait()

    async def aclose(self) -> None:
        """Kill every background task (the runtime is closing)."""
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            kill_group(task.process)
        for task in tasks:
            if task.runner is not None:  # a tier may have more to stop than the process group (a container)
                await task.runner.stop(task.process)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(task.process.wait(), KILL_GRACE_SECS)
            if task.reader is not None:  # ends at the pipe's end; a grandchild holding it open is cut off
                with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(task.reader, KILL_GRACE_SECS)
