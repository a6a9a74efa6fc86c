"""Every benchmark runs at a tiny size and emits its JSON fields. Never a timed assertion.

The peers' cases run only when their venv (.cache/bench-peers-venv, made by
`python -m benchmarks`) exists; the test suite never installs them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # benchmarks/ lives at the repository root, beside src/
    sys.path.insert(0, str(ROOT))

from benchmarks.common import expected_chain_output, expected_dag_output, mock_reply  # noqa: E402

from benchmarks import harness, report  # noqa: E402

pytestmark = pytest.mark.slow

PEERS_PRESENT = harness.peer_python().exists()


def options(**overrides: Any) -> harness.Options:
    values: dict[str, Any] = {
        "reps": 1,
        "chain_n": 4,
        "dag_width": 3,
        "idle_n": 50,
        "crash_n": 6,
        "only": None,
        "peers": False,
        "log": lambda _msg: None,
    }
    values.update(overrides)
    return harness.Options(**values)


def test_reference_outputs_follow_the_mock_template() -> None:
    assert mock_reply("a0000", "  some\n text ") == "[a0000] some text"
    assert expected_chain_output(1) == mock_reply("a0000", expected_chain_output.__defaults__[0])  # type: ignore[index]
    assert expected_dag_output(2).startswith("[join] Previous agent outputs: [w0000]: [w0000]")


@pytest.mark.parametrize("durability", ["durable_full", "durable_normal", "nondurable"])
@pytest.mark.parametrize("shape", ["chain", "dag"])
def test_step_workloads_report_their_fields(shape: str, durability: str) -> None:
    args = {"n": 4} if shape == "chain" else {"width": 3}
    result = harness.run_case("axocoatl", shape, {**args, "durability": durability})
    assert result["framework"] == "axocoatl" and result["durability"] == durability
    assert result["mock_calls"] == result["steps"] == (4 if shape == "chain" else 5)
    for key in ("wall_s", "cpu_s", "ms_per_step", "cpu_ms_per_step"):
        assert isinstance(result[key], float) and result[key] > 0


def test_idle_agents_report_bytes_per_agent() -> None:
    for traced in ("0", "1"):
        result = harness.run_case("axocoatl", "idle", {"n": 50, "tracemalloc": traced})
        assert result["n"] == 50 and isinstance(result["rss_bytes_per_agent"], float)
        assert (result["tracemalloc_bytes_per_agent"] is None) == (traced == "0")


def test_crash_and_resume_repeat_only_the_in_flight_call() -> None:
    timing, repeated = harness.bench_crash(options())
    assert timing.samples["axocoatl"][0] > 0
    assert repeated.samples["axocoatl"] == [1]
    assert {"restart_to_done_s", "resume_only_s", "resumed_calls", "calls_total"} <= set(timing.raw["axocoatl"][0])


def test_cold_start_commands_are_timed() -> None:
    workloads = harness.bench_cold(options(only={"cold_cli_help", "cold_import_package"}))
    assert [w.name for w in workloads] == ["cold_cli_help", "cold_import_package"]
    assert all(len(w.samples["axocoatl"]) >= 5 for w in workloads)


def test_recall_and_daemon_cases_emit_their_fields() -> None:
    recall = harness.run_case("axocoatl", "recall", {"n": 200, "queries": 3})
    assert recall["n"] == 200 and recall["ms_per_query"] > 0
    daemon = harness.run_case("axocoatl", "daemon", {"concurrency": 4, "requests": 8, "load": "httpx"})
    assert daemon["requests"] == 8 and daemon["requests_per_s"] > 0 and daemon["p99_ms"] >= daemon["p50_ms"]


@pytest.mark.skipif(not PEERS_PRESENT, reason="the peers' venv is absent (python -m benchmarks creates it)")
@pytest.mark.parametrize("framework", ["langgraph", "crewai"])
def test_peer_cases_pass_the_same_correctness_gate(framework: str) -> None:
    chain = harness.run_case(framework, "chain", {"n": 3, "durability": "durable_normal"})
    assert chain["framework"] == framework and chain["mock_calls"] == 3
    dag = harness.run_case(framework, "dag", {"width": 2, "durability": "nondurable"})
    assert dag["mock_calls"] == 4
    idle = harness.run_case(framework, "idle", {"n": 10, "tracemalloc": "0"})
    assert idle["n"] == 10 and "agent_is" in idle


def test_results_and_document_keep_other_sections(tmp_path: Path) -> None:
    w = harness.Workload("chain_durable_normal", "ms/step", "chain")
    for fw, value in (("axocoatl", 0.2), ("langgraph", 1.4), ("crewai", 9.0)):
        w.add(fw, value)
    pending = harness.Workload("daemon_execute_p99", "ms", "p99", pending="the daemon is not there")
    results = harness.results_json([w, pending])
    assert results["chain_durable_normal"] == {
        "unit": "ms/step",
        "ours": 0.2,
        "peers": {"langgraph": 1.4, "crewai": 9.0},
        "ratio_vs": {"langgraph": pytest.approx(7.0), "crewai": pytest.approx(45.0)},
    }
    assert results["daemon_execute_p99"]["pending"]
    json.dumps(results)
    raw = {"workloads": {w.name: {"summary": {f: w.summary(f) for f in w.samples}}}}
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text("# Benchmarks\n\n## Memory\n\nrecall numbers by the memory layer\n")
    report.write_doc(doc, results, raw, {"machine": {}, "versions": {}, "options": {}})
    first = doc.read_text()
    assert "## Memory\n\nrecall numbers by the memory layer" in first and report.BEGIN in first
    report.write_doc(doc, results, raw, {"machine": {}, "versions": {}, "options": {}})
    assert doc.read_text() == first  # rewriting replaces only the generated block
