"""benchmarks/scale_out.py at a tiny size: every mode (SQLite, PostgreSQL, PostgreSQL + NATS) runs its runs to
completion and reports its JSON fields. Never a timed assertion."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # benchmarks/ lives at the repository root, beside src/
    sys.path.insert(0, str(ROOT))

from benchmarks import scale_out  # noqa: E402

pytestmark = pytest.mark.slow


def test_every_mode_completes_its_runs_and_reports_them() -> None:
    results = list(scale_out.run(4, 0, [1, 2], sqlite=True, nats=True))
    assert [(r["store"], r["nodes"]) for r in results] == [
        ("sqlite", 1),
        ("postgres", 1),
        ("postgres+nats", 1),
        ("postgres", 2),
        ("postgres+nats", 2),
    ]
    for r in results:
        assert r["bench"] == "scale_out" and r["runs"] == 4 and r["latency_ms"] == 0
        assert float(r["seconds"]) > 0 and float(r["runs_per_s"]) > 0  # type: ignore[arg-type]
