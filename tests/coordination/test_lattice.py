"""Unit tests of the per-run event lattice: the documented semantics, one rule per test."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import pytest

import axocoatl.coordination as coordination
from axocoatl.coordination import NodeSpec, RunLattice, Subscription, Transition
from axocoatl.core.graph import topological_order


def dag(
    deps: Mapping[str, Sequence[str]],
    *,
    thresholds: Mapping[str, float] | None = None,
    decays: Mapping[str, float] | None = None,
    entry_point: str | None = None,
    max_activations: int | None = None,
) -> RunLattice:
    return RunLattice.for_workflow(
        list(deps),
        deps,
        entry_point,
        thresholds=dict(thresholds or {}),
        decays=dict(decays or {}),
        max_activations=max_activations,
    )


def test_exports_are_sorted_and_public() -> None:
    assert coordination.__all__ == sorted(coordination.__all__)
    for name in coordination.__all__:
        assert getattr(coordination, name) is not None


# ------------------------------------------------------------------------------------ specs


def test_from_depends_on_defaults() -> None:
    spec = NodeSpec.from_depends_on("c", ["a", "b", "a"])
    assert spec.subscriptions == (Subscription("completed:a"), Subscription("completed:b"))
    assert spec.effective_threshold == 1.0
    assert spec.decay == 0.0
    assert NodeSpec.from_depends_on("x", [], reacts_to=["E"]).effective_threshold == 0.5
    assert NodeSpec.from_depends_on("x", []).effective_threshold == 0.5
    assert NodeSpec.from_depends_on("x", ["a"], threshold=2.0, decay=0.1).effective_threshold == 2.0


@pytest.mark.parametrize(
    "build",
    [
        lambda: Subscription("a"),
        lambda: Subscription("completed:"),
        lambda: Subscription("event:x", strength=0.0),
        lambda: Subscription("event:x", strength=float("nan")),
        lambda: NodeSpec(""),
        lambda: NodeSpec("a", (Subscription("event:x"), Subscription("event:x"))),
        lambda: NodeSpec("a", threshold=-1.0),
        lambda: NodeSpec("a", decay=-0.1),
        lambda: NodeSpec("a", emits=("E", "E")),
        lambda: NodeSpec("a", emits=("",)),
        lambda: RunLattice([NodeSpec("a"), NodeSpec("a")]),
        lambda: RunLattice([NodeSpec("a")], entry=["b"]),
        lambda: RunLattice([NodeSpec("a")], max_activations=-1),
        lambda: RunLattice.for_workflow(["a"], {}, "zzz"),
    ],
)
def test_invalid_specs_are_rejected(build: object) -> None:
    assert callable(build)
    with pytest.raises(ValueError):
        build()


def test_strings_are_not_sequences_of_names() -> None:
    with pytest.raises(TypeError):
        NodeSpec.from_depends_on("a", "bc")
    with pytest.raises(TypeError):
        RunLattice([NodeSpec("a")], entry="a")


# ------------------------------------------------------------------------------------ cascades


def test_chain_cascades_in_order() -> None:
    lat = dag({"a": [], "b": ["a"], "c": ["b"], "d": ["c"]})
    assert lat.entry == ("a",)
    assert lat.start(0.0) == Transition(activated=("a",))
    assert lat.states() == {"a": "active", "b": "pending", "c": "pending", "d": "pending"}
    assert lat.complete("a", 1.0).activated == ("b",)
    assert lat.state("c") == "pending"  # only subscribers of completed:a got signal: no broadcast
    assert lat.signal("c", 1.0) == 0.0
    assert lat.complete("b", 2.0).activated == ("c",)
    assert lat.complete("c", 3.0).activated == ("d",)
    assert not lat.is_finished()
    assert lat.complete("d", 4.0) == Transition()
    assert lat.is_finished()
    assert lat.final_order() == ["d"]
    assert lat.finalize(5.0) == Transition()
    stats = lat.statistics()
    assert (stats.completed, stats.activations, stats.max_activations, stats.limit_reached) == (4, 4, 12, False)


def test_diamond() -> None:
    lat = dag({"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]})
    lat.start(0.0)
    assert lat.complete("a", 1.0).activated == ("b", "c")
    assert lat.complete("c", 2.0) == Transition()
    assert lat.signal("d", 2.0) == 0.5
    assert lat.complete("b", 3.0).activated == ("d",)
    lat.complete("d", 4.0)
    assert lat.is_finished()
    assert lat.final_order() == ["d"]


def test_join_fires_only_after_all_dependencies() -> None:
    deps = {"a": [], "b": [], "c": [], "j": ["a", "b", "c"]}
    lat = dag(deps)
    assert lat.start(0.0).activated == ("a", "b", "c")
    assert lat.threshold("j") == 1.5
    assert lat.complete("b", 1.0) == Transition()
    assert lat.complete("a", 2.0) == Transition()
    assert lat.state("j") == "pending"
    assert lat.complete("c", 3.0).activated == ("j",)


def test_unrelated_completions_deposit_nothing() -> None:
    lat = dag({"a": [], "x": [], "b": ["a"], "y": ["x"]})
    lat.start(0.0)
    lat.complete("x", 1.0)
    assert lat.signal("b", 1.0) == 0.0
    assert lat.state("y") == "active"


def test_quorum_two_of_three() -> None:
    lat = dag({"a": [], "b": [], "c": [], "j": ["a", "b", "c"]}, thresholds={"j": 1.0})
    lat.start(0.0)
    assert lat.complete("a", 1.0) == Transition()
    assert lat.complete("c", 2.0).activated == ("j",)
    # The third completion lands on a node that is no longer pending: ignored, it fires only once.
    assert lat.complete("b", 3.0) == Transition()
    assert lat.signal("j", 3.0) == 1.0
    lat.complete("j", 4.0)
    assert lat.statistics().activations == 4


def test_each_node_fires_once_even_with_two_routes() -> None:
    lat = RunLattice(
        [
            NodeSpec("a", emits=("E",)),
            NodeSpec("b", (Subscription("completed:a"), Subscription("event:E"))),
        ],
        entry=["a"],
    )
    lat.start(0.0)
    assert lat.complete("a", 1.0).activated == ("b",)
    assert lat.statistics().activations == 2


# ------------------------------------------------------------------------------------ decay


def test_decay_makes_a_slow_join_never_fire() -> None:
    lat = dag({"a": [], "b": [], "j": ["a", "b"]}, decays={"j": 0.01})
    lat.start(0.0)
    lat.complete("a", 0.0)
    lat.complete("b", 100.0)  # a's 0.5 evaporated to 0.5 * e^-1 by now
    assert lat.state("j") == "pending"
    assert lat.signal("j", 100.0) == pytest.approx(0.5 + 0.5 * 0.36787944117144233)
    assert lat.is_finished()
    transition = lat.finalize(100.0)
    ((agent, reason),) = transition.skipped
    assert agent == "j"
    assert reason.startswith("decayed: signal peaked at 0.68, below threshold 1.00")
    assert lat.state("j") == "skipped"
    assert lat.reason("j") == reason
    assert lat.final_order() == []


def test_fast_join_fires_despite_decay() -> None:
    lat = dag({"a": [], "b": [], "j": ["a", "b"]}, decays={"j": 0.01})
    lat.start(0.0)
    lat.complete("a", 0.0)
    assert lat.complete("b", 0.0).activated == ("j",)


@pytest.mark.parametrize("gap", [0.0, 1.0, 1e3, 1e9])
def test_without_decay_a_join_always_fires(gap: float) -> None:
    lat = dag({"a": [], "b": [], "j": ["a", "b"]})
    lat.start(1.7e9)
    lat.complete("a", 1.7e9)
    assert lat.complete("b", 1.7e9 + gap).activated == ("j",)


def test_signal_decays_from_each_deposit() -> None:
    lat = RunLattice([NodeSpec("n", (Subscription("event:E"),), threshold=5.0, decay=0.1)])
    lat.publish("E", 10.0)
    lat.publish("E", 20.0)
    assert lat.signal("n", 30.0) == pytest.approx(0.5 * 2.718281828459045**-2.0 + 0.5 * 2.718281828459045**-1.0)
    assert lat.signal("n", 5.0) == pytest.approx(lat.signal("n", 20.0))  # never grows back in time


def test_finalize_never_activated_reason() -> None:
    lat = dag({"a": [], "b": [], "j": ["a", "b"]}, entry_point="a")
    lat.start(0.0)
    lat.complete("a", 1.0)
    assert lat.finalize(2.0).skipped == (
        ("b", "never activated: signal 0.00 below threshold 0.50"),
        ("j", "never activated: signal 0.50 below threshold 1.00"),
    )
    assert lat.is_finished()


def test_finalize_refuses_while_nodes_are_active() -> None:
    lat = dag({"a": [], "b": ["a"]})
    lat.start(0.0)
    with pytest.raises(ValueError, match="still active"):
        lat.finalize(1.0)


# ------------------------------------------------------------------------------------ failure


def test_failure_skips_downstream_at_once_and_leaves_independent_branches() -> None:
    deps = {"a": [], "b": ["a"], "c": ["b"], "d": ["c", "x"], "x": [], "y": ["x"]}
    lat = dag(deps)
    assert lat.start(0.0).activated == ("a", "x")
    transition = lat.fail("a", 1.0, "model exploded")
    assert transition == Transition(
        skipped=(("b", "upstream failed: a"), ("c", "upstream failed: a"), ("d", "upstream failed: a"))
    )
    assert lat.reason("a") == "model exploded"
    assert lat.state("x") == "active"
    assert not lat.is_finished()
    assert lat.complete("x", 2.0).activated == ("y",)  # d is skipped, so only y
    lat.complete("y", 3.0)
    assert lat.is_finished()
    assert lat.finalize(3.0) == Transition()
    assert lat.final_order() == ["y"]
    stats = lat.statistics()
    assert (stats.completed, stats.failed, stats.skipped, stats.pending, stats.active) == (2, 1, 3, 0, 0)


def test_failure_names_the_root_in_a_transitive_skip() -> None:
    lat = dag({"r": [], "a": ["r"], "b": ["a"]})
    lat.start(0.0)
    lat.complete("r", 1.0)
    assert lat.fail("a", 2.0).skipped == (("b", "upstream failed: a"),)
    assert lat.reason("a") == "failed"


def test_quorum_survives_one_failure_but_not_two() -> None:
    deps = {"a": [], "b": [], "c": [], "j": ["a", "b", "c"], "k": ["j"]}
    lat = dag(deps, thresholds={"j": 1.0})
    lat.start(0.0)
    assert lat.fail("a", 1.0) == Transition()
    assert lat.state("j") == "pending"
    assert lat.fail("b", 2.0).skipped == (("j", "upstream failed: b"), ("k", "upstream failed: b"))
    lat.complete("c", 3.0)
    assert lat.is_finished()


def test_quorum_survives_one_failure_and_fires() -> None:
    lat = dag({"a": [], "b": [], "c": [], "j": ["a", "b", "c"]}, thresholds={"j": 1.0})
    lat.start(0.0)
    lat.complete("a", 1.0)
    assert lat.fail("b", 2.0) == Transition()
    assert lat.complete("c", 3.0).activated == ("j",)


def test_failure_of_an_event_emitter_skips_reactors_without_other_emitters() -> None:
    lat = RunLattice(
        [
            NodeSpec("p", emits=("E",)),
            NodeSpec("q", emits=("E",)),
            NodeSpec("r", (Subscription("event:E"),)),
        ],
        entry=["p", "q"],
    )
    lat.start(0.0)
    assert lat.fail("p", 1.0) == Transition()  # q may still emit E
    assert lat.fail("q", 2.0).skipped == (("r", "upstream failed: q"),)


def test_complete_or_fail_of_a_node_that_is_not_active_is_an_engine_bug() -> None:
    lat = dag({"a": [], "b": ["a"]})
    with pytest.raises(ValueError, match="'a': it is pending, not active"):
        lat.complete("a", 0.0)
    lat.start(0.0)
    with pytest.raises(ValueError, match="not active"):
        lat.fail("b", 0.0)
    lat.complete("a", 1.0)
    with pytest.raises(ValueError, match="it is completed"):
        lat.complete("a", 1.0)
    with pytest.raises(ValueError, match="unknown agent 'zz'"):
        lat.complete("zz", 1.0)
    with pytest.raises(ValueError, match="already called"):
        lat.start(2.0)


# ------------------------------------------------------------------------------------ skills


def test_skill_events_cascade_through_emits() -> None:
    lat = RunLattice.for_workflow(
        ["coder", "reviewer", "tester", "deployer"],
        {},
        "coder",
        emits={"coder": ["CodeReady"], "reviewer": ["ReviewComplete"]},
        reacts_to={"reviewer": ["CodeReady"], "tester": ["CodeReady"], "deployer": ["ReviewComplete"]},
    )
    assert lat.start(0.0).activated == ("coder",)
    assert lat.complete("coder", 1.0).activated == ("reviewer", "tester")
    assert lat.complete("tester", 2.0) == Transition()
    assert lat.complete("reviewer", 3.0).activated == ("deployer",)
    lat.complete("deployer", 4.0)
    assert lat.is_finished()
    assert lat.final_order() == ["tester", "deployer"]


def test_external_publish_activates_reactors_and_skips_the_producer() -> None:
    lat = RunLattice(
        [NodeSpec("a", (Subscription("event:Ping"),)), NodeSpec("b", (Subscription("event:Ping"),))],
    )
    assert lat.is_finished()  # no entry: nothing fires without an external event
    assert lat.publish("Ping", 1.0, producer="a").activated == ("b",)
    assert lat.publish("Ping", 2.0).activated == ("a",)
    assert lat.publish("Nobody", 3.0) == Transition()


def test_members_reacting_to_events_are_not_entries() -> None:
    lat = RunLattice.for_workflow(["a", "b", "c"], {"c": ["a", "outsider"]}, None, reacts_to={"b": ["E"]})
    assert lat.entry == ("a",)
    assert lat.spec("c").subscriptions == (Subscription("completed:a"),)  # filtered to the members


# ------------------------------------------------------------------------------------ cycle guard


def test_cycle_guard_refuses_further_activations() -> None:
    lat = dag({"a": [], "b": ["a"], "c": ["b"], "d": ["c"]}, max_activations=2)
    lat.start(0.0)
    lat.complete("a", 1.0)
    transition = lat.complete("b", 2.0)
    assert transition.activated == ()
    assert transition.skipped == (
        ("c", "activation limit reached: max_activations=2"),
        ("d", "upstream skipped: c (activation limit reached)"),
    )
    stats = lat.statistics()
    assert (stats.activations, stats.refused_activations, stats.limit_reached) == (2, 1, True)
    assert lat.is_finished()


def test_cycle_guard_applies_in_spec_order_within_one_transition() -> None:
    lat = dag({"a": [], "b": ["a"], "c": ["a"], "d": ["a"]}, max_activations=3)
    lat.start(0.0)
    transition = lat.complete("a", 1.0)
    assert transition.activated == ("b", "c")
    assert [agent for agent, _ in transition.skipped] == ["d"]


def test_cyclic_subscriptions_fire_each_node_once() -> None:
    lat = RunLattice(
        [
            NodeSpec("a", (Subscription("event:Pong"),), emits=("Ping",)),
            NodeSpec("b", (Subscription("event:Ping"),), emits=("Pong",)),
        ],
        entry=["a"],
    )
    lat.start(0.0)
    assert lat.complete("a", 1.0).activated == ("b",)
    assert lat.complete("b", 2.0) == Transition()  # a already ran: its Pong is ignored
    assert lat.is_finished()
    assert lat.final_order() == []  # both are subscribed to: no sinks
    assert lat.topological_order() == ["a", "b"]


# ------------------------------------------------------------------------------------ final output


def test_final_order_is_topological_with_ties_by_spec_order() -> None:
    # Spec order lists dependents before their dependencies; z is an independent entry and sink.
    deps = {"s2": ["m"], "m": ["r"], "s1": ["r"], "r": [], "z": []}
    lat = dag(deps)
    lat.start(0.0)
    lat.complete("r", 1.0)
    lat.complete("z", 1.5)
    lat.complete("s1", 2.0)
    lat.complete("m", 3.0)
    lat.complete("s2", 4.0)
    assert lat.topological_order() == ["r", "m", "s2", "s1", "z"] == topological_order(deps)
    assert lat.final_order() == ["s2", "s1", "z"]
    assert lat.final_order() == lat.final_order()


def test_final_order_leaves_out_sinks_that_did_not_complete() -> None:
    lat = dag({"a": [], "b": ["a"], "c": ["a"]})
    lat.start(0.0)
    lat.complete("a", 1.0)
    lat.complete("c", 2.0)
    lat.fail("b", 3.0)
    assert lat.final_order() == ["c"]


# ------------------------------------------------------------------------------------ resume


def test_restore_gives_the_same_state_as_the_live_run() -> None:
    deps = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"], "x": [], "y": ["x"]}
    live = dag(deps, thresholds={"d": 0.5})
    live.start(0.0)
    live.complete("a", 1.0)
    live.complete("b", 2.0)  # d fires on the quorum
    live.fail("x", 3.0, "boom")

    rebuilt = dag(deps, thresholds={"d": 0.5})
    rebuilt.start(0.0)
    rebuilt.restore_completed("a", at=1.0)
    rebuilt.restore_completed("b", at=2.0)
    rebuilt.restore_failed("x", at=3.0, reason="boom")
    assert rebuilt.states() == live.states()
    assert rebuilt.statistics() == live.statistics()
    assert rebuilt.active_nodes() == live.active_nodes() == ("c", "d")
    assert rebuilt.reason("y") == live.reason("y") == "upstream failed: x"
    for agent in deps:
        assert rebuilt.signal(agent, 9.0) == live.signal(agent, 9.0)


def test_restore_without_start_uses_restore_active_for_in_flight_entries() -> None:
    deps = {"a": [], "b": [], "c": ["a"]}
    live = dag(deps)
    live.start(0.0)
    live.complete("a", 1.0)

    rebuilt = dag(deps)
    rebuilt.restore_completed("a", at=1.0)
    assert rebuilt.state("c") == "active"  # activated by the replayed deposit
    assert rebuilt.state("b") == "pending"
    rebuilt.restore_active("b")
    rebuilt.restore_active("c")  # already active: left as is
    assert rebuilt.states() == live.states()
    assert rebuilt.statistics() == live.statistics()
    assert not rebuilt.is_finished()
    with pytest.raises(ValueError, match="already completed"):
        rebuilt.restore_completed("a", at=2.0)


# ------------------------------------------------------------------------------------ scale


def test_wide_fan_out_and_long_chains_are_linear() -> None:
    width = 10_000
    deps: dict[str, list[str]] = {"root": []}
    deps.update({f"w{i}": ["root"] for i in range(width)})
    deps["join"] = [f"w{i}" for i in range(width)]
    deps.update({f"c{i}": [f"c{i - 1}" if i else "join"] for i in range(width)})
    begin = time.perf_counter()
    lat = dag(deps, thresholds={"join": 0.5 * width})
    lat.start(0.0)
    assert len(lat.complete("root", 1.0).activated) == width
    for i in range(width - 1):
        assert lat.complete(f"w{i}", 2.0) == Transition()
    assert lat.complete(f"w{width - 1}", 2.0).activated == ("join",)
    lat.complete("join", 3.0)
    for i in range(width):
        lat.complete(f"c{i}", 4.0)
    assert lat.is_finished()
    assert lat.final_order() == [f"c{width - 1}"]
    assert time.perf_counter() - begin < 5.0  # quadratic would take minutes


def test_failing_many_branches_of_a_wide_quorum_is_linear() -> None:
    width = 10_000
    deps: dict[str, list[str]] = {f"w{i}": [] for i in range(width)}
    deps["join"] = list(deps)
    begin = time.perf_counter()
    lat = dag(deps, thresholds={"join": 0.5})
    lat.start(0.0)
    for i in range(width - 1):
        assert lat.fail(f"w{i}", 1.0) == Transition()
    assert lat.complete(f"w{width - 1}", 2.0).activated == ("join",)
    assert time.perf_counter() - begin < 5.0
