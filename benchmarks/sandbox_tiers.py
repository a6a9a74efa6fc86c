"""What each sandbox tier costs a bash command.

    .venv/bin/python benchmarks/sandbox_tiers.py [--quick] [--podman-rootfs DIR --podman-runtime runc ...]

1. start: `true` through the tier's runner, start to exit (the tier's fixed cost per command).
2. output: a command printing 100 MB, read through the output cap (what a flood costs).
3. choose: picking the tier at runtime start (bubblewrap: one probe command), first call.

podman is measured only when --podman-rootfs or --podman-image is given (and podman is installed).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from axocoatl.config.schema import SandboxConfig
from axocoatl.tools.processes import CommandRunner
from axocoatl.tools.sandbox import choose


def emit(**fields: object) -> None:
    print(json.dumps({"bench": "sandbox_tiers", **fields}), flush=True)


async def timed(runner: CommandRunner, command: str, workspace: Path, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        result = await runner.run(command, cwd=workspace, timeout=120, max_output=120_000)
        samples.append((time.perf_counter() - began) * 1000)
        assert result.exit_code == 0, result.output
    return samples


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "median_ms": round(statistics.median(ordered), 1),
        "p90_ms": round(ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)], 1),
        "n": len(ordered),
    }


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--podman-image")
    parser.add_argument("--podman-rootfs")
    parser.add_argument("--podman-runtime")
    parser.add_argument("--podman-cgroup-manager", choices=["systemd", "cgroupfs"])
    args = parser.parse_args()
    runs = 10 if args.quick else 50
    tiers: dict[str, dict[str, Any]] = {"none": {"tier": "none"}, "bubblewrap": {"tier": "bubblewrap"}}
    if args.podman_image or args.podman_rootfs:
        podman = {
            key: value
            for key, value in {
                "image": args.podman_image,
                "rootfs": args.podman_rootfs,
                "runtime": args.podman_runtime,
                "cgroup_manager": args.podman_cgroup_manager,
            }.items()
            if value
        }
        tiers["podman"] = {"tier": "podman", "podman": podman}
    with tempfile.TemporaryDirectory() as directory:
        workspace = Path(directory)
        for name, data in tiers.items():
            began = time.perf_counter()
            runner, _ = choose(SandboxConfig.model_validate(data))
            emit(tier=name, case="choose", ms=round((time.perf_counter() - began) * 1000, 1))
            emit(tier=name, case="start", **summary(await timed(runner, "true", workspace, runs)))
            flood = "head -c 100000000 /dev/zero | tr '\\0' y"
            emit(tier=name, case="output_100MB", **summary(await timed(runner, flood, workspace, max(2, runs // 10))))


if __name__ == "__main__":
    asyncio.run(main())
