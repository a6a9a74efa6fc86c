"""Sandbox tiers: choosing one, the commands they build, and the limits they enforce."""

from __future__ import annotations

import asyncio
import os
import resource
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.tools.support import error, ok, pipeline

from axocoatl.config.loader import load_config
from axocoatl.config.schema import AxocoatlConfig, SandboxConfig
from axocoatl.core.errors import ConfigError, SandboxUnavailable
from axocoatl.tools.pipeline import ToolPipeline, ToolServices
from axocoatl.tools.processes import Limits, SubprocessRunner
from axocoatl.tools.sandbox import (
    PID_OVERHEAD,
    RESERVED_PIDS,
    BubblewrapRunner,
    PodmanRunner,
    agent_runners,
    choose,
    effective_sandbox,
)
from axocoatl.tools.shell import limit_note
from axocoatl.tools.workspace import Workspace


def sandbox(**data: object) -> SandboxConfig:
    return SandboxConfig.model_validate(data)


def test_podman_runs_from_an_image_or_a_rootfs_not_both(tmp_path: Path) -> None:
    path = tmp_path / "axocoatl.yaml"
    path.write_text("sandbox:\n  tier: podman\n  podman: {image: alpine, rootfs: /srv/rootfs}\n")
    with pytest.raises(ConfigError) as both:
        load_config(path)
    [issue] = both.value.issues
    assert (issue.path, issue.line) == ("sandbox.podman", 3)
    assert issue.message == "image and rootfs are both set; a command runs from one of them"
    assert issue.hint == "keep image (a local image) or rootfs (a directory), not both"


def test_an_agents_sandbox_overrides_only_the_keys_it_sets() -> None:
    top = sandbox(tier="bubblewrap", limits={"memory_mb": 512, "cpu_secs": 10})
    mine = sandbox(network=True, limits={"cpu_secs": 99})
    merged = effective_sandbox(top, mine)
    assert merged.tier == "bubblewrap" and merged.network is True
    assert (merged.limits.memory_mb, merged.limits.cpu_secs) == (512, 99)
    assert effective_sandbox(top, None) is top


def test_the_podman_command_has_the_originals_hardening() -> None:
    runner = PodmanRunner(
        Limits(cpu_secs=60, memory_bytes=512 << 20, file_bytes=8 << 20, processes=100),
        podman="/usr/bin/podman",
        image="localhost/tools:1",
        cpus=1.5,
    )
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    open_files = [] if hard == resource.RLIM_INFINITY else ["--ulimit", f"nofile={soft}:{hard}"]
    drops = [
        *("--cap-drop", "SYS_ADMIN", "--cap-drop", "SYS_PTRACE", "--cap-drop", "SYS_MODULE"),
        *("--cap-drop", "SYS_RAWIO", "--cap-drop", "SYS_BOOT", "--cap-drop", "SYS_TIME"),
        *("--cap-drop", "NET_ADMIN", "--cap-drop", "NET_RAW", "--cap-drop", "DAC_READ_SEARCH"),
        *("--cap-drop", "MKNOD", "--cap-drop", "AUDIT_WRITE"),
    ]
    assert runner.argv("make test", Path("/src/app"), "axo-sandbox-7-1") == [
        *("/usr/bin/podman", "run", "--rm", "--pull=never", "--name", "axo-sandbox-7-1"),
        *("--security-opt=no-new-privileges", "--read-only", "--tmpfs", "/tmp"),
        *drops,
        *("--network", "none", "--memory", "512m", "--cpus", "1.5", "--pids-limit", "100"),
        *("--ulimit", "cpu=60:60", "--ulimit", f"fsize={8 << 20}:{8 << 20}", *open_files, "--ulimit", "nproc=100:100"),
        *("--volume", "/src/app:/src/app:rw", "--workdir", "/src/app", "--env", "HOME=/src/app"),
        *("localhost/tools:1", "/bin/sh", "-c", "make test"),
    ]
    open_net = PodmanRunner(
        Limits(0, 0, 0, 0),
        podman="podman",
        image="unused",
        cpus=2,
        network=True,
        rootfs="/srv/rootfs",
        runtime="runc",
        cgroup_manager="cgroupfs",
    )
    argv = open_net.argv("true", Path("/w"))
    assert argv[:5] == ["podman", "--runtime", "runc", "--cgroup-manager=cgroupfs", "run"]
    assert "--network" not in argv and "--memory" not in argv and "--pids-limit" not in argv
    assert not any(a.startswith(("cpu=", "fsize=", "nproc=")) for a in argv)
    assert argv[-5:] == ["--rootfs", "/srv/rootfs", "/bin/sh", "-c", "true"] and "unused" not in argv


def test_the_bubblewrap_command_shares_only_the_system_and_the_workspace(tmp_path: Path) -> None:
    runner, choice = choose(sandbox(tier="bubblewrap"))
    assert isinstance(runner, BubblewrapRunner) and choice.tier == "bubblewrap"
    argv = runner.argv("echo hi", tmp_path)
    bwrap = argv[argv.index(runner.bwrap) :]
    for flag in ("--unshare-user", "--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net"):
        assert flag in bwrap
    assert bwrap[bwrap.index("--cap-drop") : bwrap.index("--cap-drop") + 2] == ["--cap-drop", "ALL"]
    assert "--die-with-parent" in bwrap and "--new-session" in bwrap
    assert bwrap[bwrap.index("/usr") - 1 : bwrap.index("/usr") + 2] == ["--ro-bind", "/usr", "/usr"]
    binds = [bwrap[i + 1] for i, a in enumerate(bwrap) if a == "--bind"]
    assert binds == [str(tmp_path)]  # the only place it can write, besides its own /tmp
    assert bwrap[-3:] == ["/bin/bash", "-c", "echo hi"]
    networked, _ = choose(sandbox(tier="bubblewrap", network=True))
    assert isinstance(networked, BubblewrapRunner) and "--unshare-net" not in networked.argv("x", tmp_path)
    if os.geteuid() == 0:  # root: a PID namespace of its own caps the processes (RLIMIT_NPROC would not)
        assert argv[:5] == [argv[0], "--pid", "--fork", "--kill-child", "--"]
        assert argv[8] == str(512 + RESERVED_PIDS + PID_OVERHEAD)


def test_tier_none_warns_and_named_tiers_that_cannot_run_here_are_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner, choice = choose(sandbox(tier="none", limits={"cpu_secs": 5}))
    assert isinstance(runner, SubprocessRunner) and runner.limits.cpu_secs == 5
    assert (choice.tier, choice.reason) == ("none", "sandbox.tier is none")
    assert choice.warning is not None and "without a sandbox" in choice.warning

    monkeypatch.setenv("PATH", str(tmp_path))  # no bwrap, no podman on it
    runner, choice = choose(sandbox())
    assert type(runner) is SubprocessRunner
    assert (choice.tier, choice.reason) == ("none", "auto: bwrap is not installed")
    assert choice.fix == "install bubblewrap (apt-get install bubblewrap)"
    with pytest.raises(SandboxUnavailable) as bubblewrap:
        choose(sandbox(tier="bubblewrap"), "agents[coder].sandbox")
    assert bubblewrap.value.message == "agents[coder].sandbox.tier is bubblewrap, but bwrap is not installed"
    assert bubblewrap.value.hint is not None and "apt-get install bubblewrap" in bubblewrap.value.hint
    with pytest.raises(SandboxUnavailable) as podman:
        choose(sandbox(tier="podman"))
    assert podman.value.message == "sandbox.tier is podman, but podman is not installed"
    assert podman.value.hint == "install podman (apt-get install podman), or set sandbox.tier to bubblewrap or none"


# podman is not installed on every machine that runs the tests: this stand-in records how it is called,
# answers `image exists` for one image, and for `run` prints its arguments and sleeps when told to.
FAKE_PODMAN = """#!/bin/sh
echo "$*" >> "$(dirname "$0")/calls.log"
case "$1" in
  image) [ "$3" = localhost/present ] && exit 0; exit 1 ;;
  rm) exit 0 ;;
  ps) echo axo-sandbox-999999-1; echo "axo-sandbox-$PPID-1"; echo someone-elses ;;
  run) for last; do :; done; echo "container ran: $last"; case "$last" in *sleep*) exec sleep 300 ;; esac ;;
esac
"""


@pytest.mark.slow
async def test_podman_needs_a_local_image_and_a_timeout_removes_the_container(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "podman").write_text(FAKE_PODMAN)
    (bin_dir / "podman").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:/usr/bin:/bin")
    with pytest.raises(SandboxUnavailable) as missing:
        choose(sandbox(tier="podman", podman={"image": "localhost/absent"}))
    assert missing.value.message == "sandbox.podman.image 'localhost/absent' is not in local storage"
    assert missing.value.hint is not None and "podman pull localhost/absent" in missing.value.hint

    with pytest.raises(SandboxUnavailable) as empty:
        choose(sandbox(tier="podman", podman={"rootfs": str(tmp_path)}))
    assert empty.value.message == f"sandbox.podman.rootfs '{tmp_path}' has no bin/sh"

    runner, choice = choose(sandbox(tier="podman", podman={"image": "localhost/present"}))
    assert isinstance(runner, PodmanRunner) and choice.reason == "sandbox.tier is podman (image localhost/present)"
    # The container of a runtime that is gone (no PID 999999) is removed; a live runtime's (ours) is not.
    removed = [c for c in (bin_dir / "calls.log").read_text().splitlines() if c.startswith("rm ")]
    assert removed == ["rm --force --time 0 axo-sandbox-999999-1"]
    tools = pipeline(tmp_path, services=ToolServices(runner=runner))
    assert (await ok(tools, "bash", command="echo hi"))["output"] == "container ran: echo hi\n"
    message = await error(tools, "bash", command="sleep 300", timeout_secs=1)
    assert "did not finish within 1 s and was killed" in message
    calls = (bin_dir / "calls.log").read_text().splitlines()
    [run] = [c for c in calls if c.startswith("run ") and c.endswith("sleep 300")]
    name = run.split("--name ")[1].split()[0]
    assert run == " ".join(runner.argv("sleep 300", tmp_path.resolve(), name)[1:])
    assert calls[-1] == f"rm --force --time 0 {name}"  # the container itself is removed, not only its client


def test_bubblewrap_runs_uncapped_with_a_warning_where_capping_pids_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unshare = tmp_path / "unshare"
    unshare.write_text("#!/bin/sh\necho 'unshare: unshare failed: Operation not permitted' >&2\nexit 1\n")
    unshare.chmod(0o755)
    (tmp_path / "bwrap").symlink_to(shutil.which("bwrap") or "bwrap is not installed")
    monkeypatch.setenv("PATH", str(tmp_path))
    runner, choice = choose(sandbox(tier="bubblewrap"))
    assert isinstance(runner, BubblewrapRunner) and runner.pid_cap is None
    if os.geteuid() == 0:
        assert choice.warning == (
            "sandbox.limits.max_processes is not enforced: the runtime runs as root, which RLIMIT_NPROC does not "
            "bind, and capping PIDs failed (unshare: unshare failed: Operation not permitted)"
        )
        assert choice.fix == "run axocoatl as an ordinary user"
    else:  # an ordinary user: RLIMIT_NPROC caps the processes, unshare is not used
        assert choice.warning is None


def test_each_agent_that_runs_commands_gets_its_own_tier() -> None:
    config = AxocoatlConfig.model_validate(
        {
            "agents": [
                {"id": "a", "tools": ["bash"]},
                {"id": "b", "tools": ["bash_background"]},
                {"id": "c", "tools": ["bash"], "sandbox": {"tier": "none"}},
                {"id": "d", "tools": ["read_file"]},
            ]
        }
    )
    runners, choices = agent_runners(config)
    assert set(runners) == {"a", "b", "c"}  # d runs no command
    assert runners["a"] is runners["b"] and isinstance(runners["a"], BubblewrapRunner)
    assert type(runners["c"]) is SubprocessRunner
    assert choices["c"].reason == "agents[c].sandbox.tier is none"
    services = ToolServices(runners=runners)
    assert services.environment("c", Workspace(Path("/w"))).runner is runners["c"]
    assert services.environment("d", Workspace(Path("/w"))).runner is services.runner


def test_validate_warns_about_tier_none_and_sandboxes_without_commands(tmp_path: Path) -> None:
    path = tmp_path / "axocoatl.yaml"
    path.write_text(
        textwrap.dedent(
            """\
            agents:
              - id: coder
                tools: [bash]
                sandbox: {tier: none}
              - id: reader
                tools: [read_file]
                sandbox: {network: true}
            sandbox:
              limits: {memory_mb: 512}
              podman: {cpus: 1}
            """
        )
    )
    warnings = {(w.path, w.line): w for w in load_config(path).warnings}
    none = warnings[("agents[coder].sandbox.tier", 4)]
    assert none.message == (
        "agent 'coder' runs bash without a sandbox (tier none): its commands can read and write every file your "
        "user can and reach the network"
    )
    inert = warnings[("agents[reader].sandbox", 7)]
    assert inert.message == "sandbox has no effect: agent 'reader' does not run commands (it has no bash tool)"
    assert not any(path == "sandbox" for path, _ in warnings)  # coder runs commands: the section is live
    podman = warnings[("sandbox.podman", 10)]
    assert podman.message == "sandbox.podman has no effect: no agent's commands run under the podman tier"


def test_the_limit_that_stopped_a_command_is_named() -> None:
    assert limit_note(153, "") == "a file reached the size limit (sandbox.limits.file_size_mb)"
    assert limit_note(0, "x: CPU time limit exceeded") == "a process used up its CPU time (sandbox.limits.cpu_secs)"
    assert limit_note(1, "bash: fork: retry: Resource temporarily unavailable") == (
        "the command reached the process limit (sandbox.limits.max_processes)"
    )
    assert limit_note(1, "MemoryError") == "a process may have reached the memory limit (sandbox.limits.memory_mb)"
    assert limit_note(0, "fine") is None


# ------------------------------------------------------------------------ limits, really enforced

FORKS = """\
import os, time
n = 0
while True:
    try:
        pid = os.fork()
    except OSError as exc:
        print("refused after", n, exc.strerror)
        break
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    n += 1
"""


def bubblewrap_tools(root: Path, **limits: int) -> ToolPipeline:
    runner, _ = choose(sandbox(tier="bubblewrap", limits=limits))
    return pipeline(root, services=ToolServices(runner=runner))


@pytest.mark.slow
async def test_processes_are_capped_and_die_with_the_command(tmp_path: Path) -> None:
    (tmp_path / "forks.py").write_text(FORKS)
    tools = bubblewrap_tools(tmp_path, max_processes=16)
    result = await ok(tools, "bash", command="python3 forks.py")
    said = result["output"].split()
    assert said[:2] == ["refused", "after"] and " ".join(said[3:]) == "Resource temporarily unavailable"
    forked = int(said[2])
    # As a user RLIMIT_NPROC (bwrap, bash and python count too), as root the namespace's pid_max.
    assert 16 // 2 <= forked <= 16 + RESERVED_PIDS + PID_OVERHEAD
    # The forked children die with the sandbox's PID namespace.
    await eventually(lambda: not [p for p in Path("/proc").iterdir() if _cmdline(p).endswith("forks.py")])


@pytest.mark.slow
async def test_memory_cpu_time_and_file_size_are_limited(tmp_path: Path) -> None:
    tools = bubblewrap_tools(tmp_path, memory_mb=256, cpu_secs=1, file_size_mb=1)
    grab = await ok(tools, "bash", command="python3 -c 'b = bytearray(1 << 30)'")
    assert grab["exit_code"] == 1 and "MemoryError" in grab["output"] and "memory_mb" in grab["limit"]
    spin = await ok(tools, "bash", command="while :; do :; done")
    assert spin["exit_code"] == 128 + 24 and spin["limit"].endswith("(sandbox.limits.cpu_secs)")
    big = await ok(tools, "bash", command="head -c 5000000 /dev/zero > big; echo $?")
    assert "File size limit exceeded" in big["output"] and (tmp_path / "big").stat().st_size == 1 << 20


@pytest.mark.slow
async def test_background_tasks_run_in_the_sandbox_and_stop_with_everything_they_started(tmp_path: Path) -> None:
    tools = bubblewrap_tools(tmp_path)
    started = await ok(tools, "bash_background", command="echo x > made; sleep 301 & sleep 302")
    await eventually(lambda: (tmp_path / "made").exists() and len(_sleeping(("sleep 301", "sleep 302"))) == 2)
    killed = await ok(tools, "task_kill", task_id=started["task_id"])
    assert killed["killed"] is True
    await eventually(lambda: _sleeping(("sleep 301", "sleep 302")) == [])
    refused = await ok(tools, "bash", command="touch /usr/x")
    assert refused["exit_code"] == 1 and "Read-only file system" in refused["output"]


async def eventually(check: Callable[[], bool], polls: int = 1500) -> None:
    """Polls ``check`` (every 10 ms, for 15 s at most: the machine may be busy) until it holds."""
    for _ in range(polls):
        if check():
            return
        await asyncio.sleep(0.01)
    assert check()


def _cmdline(proc: Path) -> str:
    if not proc.name.isdigit():
        return ""
    try:
        return (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def _sleeping(commands: tuple[str, ...]) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and _cmdline(proc) in commands:
            found.append(_cmdline(proc))
    return found
