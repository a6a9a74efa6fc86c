"""Property tests of the event lattice over random DAGs driven in random orders."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from axocoatl.coordination import LatticeStatistics, NodeState, RunLattice
from axocoatl.core.graph import topological_order

Deps = dict[str, list[str]]

PROPERTY_SETTINGS = settings(deadline=None, max_examples=150)


@st.composite
def dags(draw: st.DrawFn, max_nodes: int = 30) -> Deps:
    """A random acyclic depends_on map, listed in a random (usually not topological) spec order."""
    n = draw(st.integers(1, max_nodes))
    names = [f"n{i}" for i in range(n)]
    deps: Deps = {}
    for i, name in enumerate(names):
        parents = draw(st.lists(st.integers(0, i - 1), unique=True, max_size=min(i, 4))) if i else []
        deps[name] = [names[p] for p in parents]
    order = draw(st.permutations(names))
    return {name: deps[name] for name in order}


@st.composite
def quorums(draw: st.DrawFn, deps: Mapping[str, Sequence[str]]) -> dict[str, float | None]:
    """Per node: the default threshold, or a reachable quorum of k of its dependencies."""
    thresholds: dict[str, float | None] = {}
    for agent, parents in deps.items():
        quorum = bool(parents) and draw(st.booleans())
        if quorum:
            thresholds[agent] = 0.5 * draw(st.integers(1, len(parents)))
    return thresholds


def descendants(deps: Mapping[str, Sequence[str]], roots: set[str]) -> set[str]:
    found: set[str] = set()
    for agent in topological_order(deps):
        if any(d in roots or d in found for d in deps[agent]):
            found.add(agent)
    return found


def sinks(deps: Mapping[str, Sequence[str]]) -> set[str]:
    used = {d for parents in deps.values() for d in parents}
    return {a for a in deps if a not in used}


def alive_oracle(lat: RunLattice, deps: Mapping[str, Sequence[str]], revive: set[str]) -> set[str]:
    """Brute force: the nodes that may still complete (greatest fixed point), ``revive`` counted as pending."""
    states = {a: ("pending" if a in revive else s) for a, s in lat.states().items()}
    alive = {a for a, s in states.items() if s in ("pending", "active", "completed")}
    changed = True
    while changed:
        changed = False
        for agent in list(alive):
            if states[agent] != "pending":
                continue
            reachable = 0.5 * sum(1 for d in deps[agent] if d in alive)
            if reachable < lat.threshold(agent) - 1e-9:
                alive.discard(agent)
                changed = True
    return alive


# ------------------------------------------------------------------------------------ plain runs


@PROPERTY_SETTINGS
@given(deps=dags(), data=st.data())
def test_every_node_runs_once_after_all_its_dependencies(deps: Deps, data: st.DataObject) -> None:
    lat = RunLattice.for_workflow(list(deps), deps, None)
    activated = list(lat.start(0.0).activated)
    assert set(activated) == {a for a, parents in deps.items() if not parents}
    completed: list[str] = []
    now = 0.0
    while lat.active_nodes():
        agent = data.draw(st.sampled_from(lat.active_nodes()), label="complete")
        now += 1.0
        transition = lat.complete(agent, now)
        completed.append(agent)
        assert transition.skipped == ()
        for fired in transition.activated:
            assert set(deps[fired]) <= set(completed), f"{fired} fired before all of {deps[fired]} completed"
        activated.extend(transition.activated)
        # ...and as soon as they completed: no node waits with every dependency done.
        for waiting, state in lat.states().items():
            if state == "pending":
                assert not set(deps[waiting]) <= set(completed)
    assert sorted(activated) == sorted(deps)  # every node, exactly once
    assert len(set(activated)) == len(activated)
    assert lat.is_finished()
    assert lat.finalize(now) == lat.finalize(now)
    assert set(lat.states().values()) == {"completed"}
    assert lat.final_order() == [a for a in topological_order(deps) if a in sinks(deps)]
    stats = lat.statistics()
    assert (stats.activations, stats.completed, stats.refused_activations) == (len(deps), len(deps), 0)


@PROPERTY_SETTINGS
@given(deps=dags(), data=st.data())
def test_failures_skip_exactly_their_downstream_at_once(deps: Deps, data: st.DataObject) -> None:
    lat = RunLattice.for_workflow(list(deps), deps, None)
    ran = set(lat.start(0.0).activated)
    failed: set[str] = set()
    now = 0.0
    while lat.active_nodes():
        agent = data.draw(st.sampled_from(lat.active_nodes()), label="node")
        now += 1.0
        if data.draw(st.integers(0, 3), label="fail?") == 0:
            transition = lat.fail(agent, now, "injected")
            failed.add(agent)
            assert transition.activated == ()
            downstream = descendants(deps, {agent})
            assert {a for a, _ in transition.skipped} <= downstream
            assert all(reason == f"upstream failed: {agent}" for _, reason in transition.skipped)
            assert all(lat.state(a) == "skipped" for a in downstream)  # at once, transitively
        else:
            transition = lat.complete(agent, now)
            assert transition.skipped == ()
        ran.update(transition.activated)
    assert lat.is_finished()
    assert lat.finalize(now).skipped == ()  # nothing was left waiting: failures skipped it already
    states = lat.states()
    assert set(states.values()) <= {"completed", "failed", "skipped"}
    downstream = descendants(deps, failed)
    assert not ran & downstream
    for agent, state in states.items():
        if agent in failed:
            assert state == "failed"
        elif agent in downstream:
            assert state == "skipped"
        else:
            assert state == "completed"
    assert lat.final_order() == [a for a in topological_order(deps) if a in sinks(deps) and states[a] == "completed"]


@PROPERTY_SETTINGS
@given(data=st.data())
def test_quorums_fire_on_quorum_and_skip_only_what_cannot_fire(data: st.DataObject) -> None:
    deps = data.draw(dags(), label="deps")
    thresholds = data.draw(quorums(deps), label="thresholds")
    lat = RunLattice.for_workflow(list(deps), deps, None, thresholds=thresholds)
    lat.start(0.0)
    completed: set[str] = set()
    now = 0.0
    while lat.active_nodes():
        agent = data.draw(st.sampled_from(lat.active_nodes()), label="node")
        now += 1.0
        if data.draw(st.integers(0, 3), label="fail?") == 0:
            transition = lat.fail(agent, now)
            newly_skipped = {a for a, _ in transition.skipped}
            assert not newly_skipped & alive_oracle(lat, deps, revive=newly_skipped)
        else:
            transition = lat.complete(agent, now)
            completed.add(agent)
        for fired in transition.activated:
            assert 0.5 * len(set(deps[fired]) & completed) >= lat.threshold(fired) - 1e-9
        # No node that can no longer fire is left pending after a failure.
        oracle = alive_oracle(lat, deps, revive=set())
        assert all(state != "pending" or a in oracle for a, state in lat.states().items())
    assert lat.is_finished()
    assert lat.finalize(now).skipped == ()
    assert set(lat.states().values()) <= {"completed", "failed", "skipped"}


@PROPERTY_SETTINGS
@given(data=st.data())
def test_skill_events_behave_like_dependencies(data: st.DataObject) -> None:
    """Route a random subset of the edges X -> Y through an event X emits and Y reacts to: same run."""
    deps = data.draw(dags(), label="deps")
    edges = [(parent, agent) for agent, parents in deps.items() for parent in parents]
    routed = {edge for edge in edges if data.draw(st.booleans(), label=f"route {edge}")}
    plain_deps = {a: [p for p in parents if (p, a) not in routed] for a, parents in deps.items()}
    emits = {p: [f"done-{p}"] for p, _ in routed}
    reacts_to = {a: [f"done-{p}" for p in parents if (p, a) in routed] for a, parents in deps.items()}
    thresholds: dict[str, float | None] = {a: 0.5 * len(parents) for a, parents in deps.items() if parents}
    plain = RunLattice.for_workflow(list(deps), deps, None)
    mixed = RunLattice.for_workflow(
        list(deps), plain_deps, None, thresholds=thresholds, emits=emits, reacts_to=reacts_to
    )
    assert mixed.start(0.0) == plain.start(0.0)
    now = 0.0
    while plain.active_nodes():
        assert mixed.active_nodes() == plain.active_nodes()
        agent = data.draw(st.sampled_from(plain.active_nodes()), label="node")
        now += 1.0
        if data.draw(st.integers(0, 3), label="fail?") == 0:
            assert mixed.fail(agent, now) == plain.fail(agent, now)
        else:
            assert mixed.complete(agent, now) == plain.complete(agent, now)
    assert mixed.is_finished()
    assert mixed.finalize(now) == plain.finalize(now)
    assert mixed.states() == plain.states()
    assert mixed.final_order() == plain.final_order()


# ------------------------------------------------------------------------------------ resume


@dataclass(frozen=True)
class Snapshot:
    states: dict[str, NodeState]
    reasons: dict[str, str | None]
    signals: dict[str, float]
    statistics: LatticeStatistics
    active: tuple[str, ...]


def snapshot(lat: RunLattice, now: float) -> Snapshot:
    return Snapshot(
        states=lat.states(),
        reasons={a: lat.reason(a) for a in lat.agent_ids},
        signals={a: lat.signal(a, now) for a in lat.agent_ids},
        statistics=lat.statistics(),
        active=lat.active_nodes(),
    )


@settings(deadline=None, max_examples=100)
@given(data=st.data())
def test_restoring_any_prefix_of_the_log_rebuilds_the_live_state(data: st.DataObject) -> None:
    deps = data.draw(dags(max_nodes=20), label="deps")
    thresholds = data.draw(quorums(deps), label="thresholds")
    decays = {a: data.draw(st.sampled_from([0.0, 0.0, 0.05, 1.0]), label=f"decay {a}") for a in deps}

    def build() -> RunLattice:
        return RunLattice.for_workflow(list(deps), deps, None, thresholds=thresholds, decays=decays)

    live = build()
    live.start(0.0)
    log: list[tuple[str, str, float]] = []
    snapshots = [snapshot(live, 0.0)]
    now = 0.0
    while live.active_nodes():
        agent = data.draw(st.sampled_from(live.active_nodes()), label="node")
        now += data.draw(st.sampled_from([0.0, 0.5, 3.0]), label="elapsed")
        if data.draw(st.integers(0, 4), label="fail?") == 0:
            live.fail(agent, now, f"boom {agent}")
            log.append(("failed", agent, now))
        else:
            live.complete(agent, now)
            log.append(("completed", agent, now))
        snapshots.append(snapshot(live, now))

    for prefix in range(len(log) + 1):
        at = log[prefix - 1][2] if prefix else 0.0
        # Protocol 1: start(started_at), then replay the committed outcomes in order.
        rebuilt = build()
        rebuilt.start(0.0)
        replay(rebuilt, log[:prefix])
        assert snapshot(rebuilt, at) == snapshots[prefix]
        # Protocol 2: replay only, then mark the in-flight nodes active.
        rebuilt = build()
        replay(rebuilt, log[:prefix])
        for agent in snapshots[prefix].active:
            rebuilt.restore_active(agent)
        assert snapshot(rebuilt, at) == snapshots[prefix]
        assert rebuilt.is_finished() == (not snapshots[prefix].active)


def replay(lat: RunLattice, log: Sequence[tuple[str, str, float]]) -> None:
    for outcome, agent, at in log:
        if outcome == "completed":
            lat.restore_completed(agent, at=at)
        else:
            lat.restore_failed(agent, at=at, reason=f"boom {agent}")
