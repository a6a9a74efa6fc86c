"""Every benchmark runs at a tiny size and emits its JSON fields. Never a timed assertion.

The peers' cases need their venv (.cache/bench-peers-venv): the fixture creates it from the
pinned benchmarks/peers-requirements.txt when it is missing (as `python -m benchmarks` does),
and the test fails, naming the venv and how to make it, when it cannot be had.
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

from benchmarks import defaults, harness, report  # noqa: E402

pytestmark = pytest.mark.slow


# Whichever of these tests runs first builds the peers' venv from PyPI (3 min here, longer on a slow
# link): the suite's 300 s hang guard would cut that install short.
PEER_VENV_TIMEOUT = pytest.mark.timeout(1200)


@pytest.fixture(scope="session")
def peers_venv() -> None:
    messages: list[str] = []
    if not harness.ensure_peer_venv(messages.append):
        pytest.fail(
            f"the peers' venv {harness.PEER_VENV} could not be created ({'; '.join(messages)}); "
            "run `python -m benchmarks --quick --only tokens` with network access to PyPI to create it"
        )


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
        "steady_runs": 2,
        "concurrent_runs": 4,
        "local_tokens": 4,
        "daemon_connections": (4,),
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


@PEER_VENV_TIMEOUT
@pytest.mark.parametrize("framework", ["langgraph", "crewai"])
def test_peer_cases_pass_the_same_correctness_gate(framework: str, peers_venv: None) -> None:
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


@PEER_VENV_TIMEOUT
def test_default_path_workloads_report_their_fields(peers_venv: None) -> None:
    opts = options(chain_n=3, peers=True)
    (cli,) = defaults.bench_cli_chain(opts)
    assert set(cli.samples) == {"axocoatl", "langgraph", "crewai"}
    assert {"t1_s", "t3_s"} <= set(cli.raw["axocoatl"][0])
    time_ratio, token_ratio = defaults.bench_steady(opts)
    runs = time_ratio.raw["axocoatl"][0]["runs"]
    assert len(runs) == 2 and all(r["steps"] == 3 and r["tokens_in"] > 0 for r in runs)
    assert token_ratio.samples["axocoatl"][0] > 0
    wall, rss = defaults.bench_concurrent(opts)
    assert wall.name == "concurrent_4_wall" and set(wall.samples) == {"axocoatl", "langgraph", "crewai"}
    assert all(r["runs"] == 4 and r["ideal_s"] == pytest.approx(0.3) for r in wall.raw["axocoatl"])
    assert all(v > 0 for v in rss.samples["axocoatl"])


@PEER_VENV_TIMEOUT
def test_tokens_per_call_compare_the_same_task(peers_venv: None) -> None:
    per_call, memory_off, overhead = defaults.bench_tokens(options(peers=True))
    ours, off = per_call.samples["axocoatl"][0], memory_off.samples["axocoatl"][0]
    assert ours > off > 0 and overhead.samples["axocoatl"][0] == ours - overhead.raw["axocoatl"][0]["bare"]
    for peer in ("langgraph", "crewai"):
        assert per_call.raw[peer][0]["messages"][-1]["content"].startswith("Summarise the trade-offs")


def test_local_provider_and_raw_llama_cpp_are_both_measured() -> None:
    (local,) = defaults.bench_local(options())
    assert local.pending is None, local.pending
    assert local.samples["axocoatl"][0] > 0 and local.samples["llama-cpp-python"][0] > 0
    assert local.raw["axocoatl"][0]["model"].endswith(".gguf")


def test_daemon_is_measured_at_each_connection_count() -> None:
    workloads = harness.bench_daemon(options(daemon_connections=(4, 6)))
    assert [w.name for w in workloads] == [
        "daemon_execute_throughput_4",
        "daemon_execute_p99_4",
        "daemon_execute_throughput_6",
        "daemon_execute_p99_6",
        "daemon_execute_throughput_4_hashed",
        "daemon_execute_p99_4_hashed",
        "daemon_execute_throughput_4_recall",
        "daemon_execute_p99_4_recall",
    ]
    assert all(w.pending is None and w.samples["axocoatl"] for w in workloads)


def test_query_embedding_is_timed_new_and_repeated() -> None:
    new, repeated = defaults.bench_embed_query(options())
    assert new.samples["axocoatl"][0] > 0 and repeated.samples["axocoatl"][0] > 0
    assert new.raw["axocoatl"][0]["embedder"] == "minilm-l6-v2"  # the default: the weights are installed
