"""The per-run event lattice: pheromone signals that decide when each agent of a workflow run fires.

Every node (an agent taking part in one run) subscribes to keys: ``completed:<agent_id>`` for a
``depends_on`` entry and ``event:<name>`` for a skill event it reacts to. A completion or a published
event deposits the subscription's strength on exactly the nodes subscribed to it (never a broadcast).
A node fires once, the first time its signal (the sum of its deposits, each evaporating as
``exp(-decay * (now - deposit_time))``) reaches ``threshold - epsilon``. With the default strength 0.5
and the default threshold ``0.5 * len(depends_on)`` a join fires exactly when all its dependencies
completed; a lower threshold makes a quorum. A failure skips at once every node that can no longer
reach its threshold, transitively. A cycle guard caps the activations of a run.

A completion edge may carry a condition (``axocoatl.coordination.conditions``) on the producer's output,
given to ``complete``: an untaken edge deposits nothing and stops counting for its subscriber (a default
threshold drops by its strength, so a join waits only for the branches taken); a subscriber left with no
taken edge is skipped ("condition: ..."), and its own dependents lose their edge from it in turn.

Pure: no I/O, no clock reads, no randomness, no asyncio. Callers pass ``now`` (seconds, any epoch, never
decreasing). The workflow engine in ``axocoatl.runtime`` does the I/O and tells the lattice what happened.

Resume after a crash: build a fresh lattice with the same specs, call ``start(started_at)``, then replay the
committed step outcomes in commit order with ``restore_completed`` / ``restore_failed`` (same timestamps as
the live run). The lattice is then in exactly the state of the live run after those outcomes; the nodes to
(re)run are ``active_nodes()``. ``restore_active`` marks a node active that the log cannot explain (one
activated by an external event, or an entry when ``start`` is not replayed). See ``docs/lattice.md``.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

from axocoatl.coordination.conditions import Condition

NodeState = Literal["pending", "active", "completed", "failed", "skipped"]

COMPLETED_PREFIX = "completed:"
EVENT_PREFIX = "event:"
DEFAULT_STRENGTH = 0.5
"""What one completed dependency (or one published event) deposits by default."""
DEFAULT_EVENT_THRESHOLD = 0.5
"""Default threshold of a node without ``completed:`` subscriptions: one event fires it."""

_NO_THRESHOLDS: Mapping[str, float | None] = MappingProxyType({})
_NO_EVENTS: Mapping[str, Sequence[str]] = MappingProxyType({})


def _check_number(value: float, what: str, *, positive: bool = False) -> None:
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{what} must be a finite number {bound}, got {value!r}")


@dataclass(frozen=True)
class Subscription:
    """A node listens to ``key`` and receives ``strength`` each time it is produced."""

    key: str  # "completed:<agent_id>" for depends_on, "event:<name>" for skill events
    strength: float = DEFAULT_STRENGTH
    # Only on a completion: the edge is taken only when the condition holds for the producer's output.
    condition: Condition | None = None

    def __post_init__(self) -> None:
        for prefix in (COMPLETED_PREFIX, EVENT_PREFIX):
            if self.key.startswith(prefix) and len(self.key) > len(prefix):
                break
        else:
            raise ValueError(
                f"subscription key {self.key!r} must be 'completed:<agent_id>' or 'event:<name>' with a non-empty name"
            )
        _check_number(self.strength, f"strength of subscription {self.key!r}", positive=True)
        if self.condition is not None and not self.is_completion:
            raise ValueError(f"subscription {self.key!r}: only a completed:<agent_id> edge may carry a condition")

    @property
    def is_completion(self) -> bool:
        return self.key.startswith(COMPLETED_PREFIX)


@dataclass(frozen=True)
class NodeSpec:
    """One agent of a run: what it listens to, when it fires and which events it publishes on completion."""

    agent_id: str
    subscriptions: tuple[Subscription, ...] = ()
    threshold: float | None = None  # None -> effective_threshold's default
    decay: float = 0.0  # per-second evaporation of each deposit, measured from that deposit
    emits: tuple[str, ...] = ()  # event names published when this node completes (skills)

    def __post_init__(self) -> None:
        if not self.agent_id:
            raise ValueError("a lattice node needs a non-empty agent_id")
        keys = [s.key for s in self.subscriptions]
        if len(set(keys)) != len(keys):
            duplicate = next(k for k in keys if keys.count(k) > 1)
            raise ValueError(f"node {self.agent_id!r} subscribes twice to {duplicate!r}; merge the two strengths")
        if self.threshold is not None:
            _check_number(self.threshold, f"threshold of node {self.agent_id!r}")
        _check_number(self.decay, f"decay of node {self.agent_id!r}")
        if any(not e for e in self.emits):
            raise ValueError(f"node {self.agent_id!r} emits an event with an empty name")
        if len(set(self.emits)) != len(self.emits):
            raise ValueError(f"node {self.agent_id!r} lists an emitted event twice: {list(self.emits)}")

    @property
    def effective_threshold(self) -> float:
        """``threshold``, or by default the summed strengths of the ``completed:`` subscriptions.

        With the default strength that is ``0.5 * len(depends_on)``: fire when every dependency completed.
        A node with only event subscriptions (or none) defaults to 0.5: one event fires it.
        """
        if self.threshold is not None:
            return self.threshold
        completion = [s.strength for s in self.subscriptions if s.is_completion]
        return math.fsum(completion) if completion else DEFAULT_EVENT_THRESHOLD

    @classmethod
    def from_depends_on(
        cls,
        agent_id: str,
        depends_on: Iterable[str],
        *,
        threshold: float | None = None,
        decay: float | None = None,
        emits: Iterable[str] = (),
        reacts_to: Iterable[str] = (),
        conditions: Mapping[str, Condition] = MappingProxyType({}),
    ) -> NodeSpec:
        """The node of a config agent: strength 0.5 per dependency and per reacted-to event (duplicates dropped);
        ``conditions`` maps a dependency to the condition on its edge."""
        if isinstance(depends_on, str) or isinstance(emits, str) or isinstance(reacts_to, str):
            raise TypeError("depends_on, emits and reacts_to are sequences of names, not a single string")
        subscriptions = [
            Subscription(f"{COMPLETED_PREFIX}{d}", condition=conditions.get(d)) for d in dict.fromkeys(depends_on)
        ]
        subscriptions += [Subscription(f"{EVENT_PREFIX}{e}") for e in dict.fromkeys(reacts_to)]
        return cls(
            agent_id=agent_id,
            subscriptions=tuple(subscriptions),
            threshold=threshold,
            decay=0.0 if decay is None else decay,
            emits=tuple(dict.fromkeys(emits)),
        )


@dataclass(frozen=True)
class Transition:
    """What one lattice call changed: nodes to start now, and nodes that will never run."""

    activated: tuple[str, ...] = ()  # nodes that crossed their threshold now, in spec order
    skipped: tuple[tuple[str, str], ...] = ()  # (agent_id, reason) newly skipped, in spec order


@dataclass(frozen=True)
class LatticeStatistics:
    """A snapshot of a run lattice, for logs, the dashboard and tests."""

    nodes: int
    pending: int
    active: int
    completed: int
    failed: int
    skipped: int
    activations: int  # activations used so far (entries included)
    max_activations: int  # the cycle guard
    refused_activations: int  # activations the guard refused; > 0 means the run must end as an error

    @property
    def limit_reached(self) -> bool:
        return self.refused_activations > 0


class _Node:
    """Mutable per-run state of one node."""

    __slots__ = (
        "acc",
        "anchor",
        "completed_key",
        "decay",
        "has_events",
        "index",
        "is_entry",
        "live_edges",
        "peak",
        "potential",
        "raw_total",
        "reason",
        "spec",
        "state",
        "threshold",
    )

    def __init__(self, spec: NodeSpec, index: int, is_entry: bool) -> None:
        self.spec = spec
        self.index = index
        self.is_entry = is_entry
        self.completed_key = f"{COMPLETED_PREFIX}{spec.agent_id}"
        self.threshold = spec.effective_threshold
        self.decay = spec.decay
        self.state: NodeState = "pending"
        self.acc = 0.0  # intensity at time `anchor`
        self.anchor = -math.inf
        self.peak = 0.0  # highest intensity reached, right after a deposit
        self.raw_total = 0.0  # sum of deposits before evaporation
        self.potential = 0.0  # most signal that producers still alive may deposit later
        self.reason: str | None = None
        self.live_edges = 0  # completion edges from nodes of the run not yet known untaken (conditions)
        self.has_events = any(not s.is_completion for s in spec.subscriptions)

    def intensity(self, now: float) -> float:
        if self.acc == 0.0 or self.decay == 0.0 or now <= self.anchor:
            return self.acc
        return self.acc * math.exp(-self.decay * (now - self.anchor))

    def deposit(self, strength: float, now: float) -> None:
        # Exponential decay is memoryless: decaying the running sum to `now` and adding equals decaying
        # every deposit from its own time. A timestamp before the last deposit counts as that moment.
        self.acc = self.intensity(now) + strength
        self.anchor = max(self.anchor, now)
        self.raw_total += strength
        self.peak = max(self.peak, self.acc)


@dataclass(frozen=True)
class LatticeSnapshot:
    """A RunLattice's mutable state at one moment (see ``RunLattice.snapshot``)."""

    nodes: tuple[tuple[NodeState, float, float, float, float, float, str | None, float, int], ...]
    alive_emitters: dict[str, int]
    counts: dict[NodeState, int]
    started: bool
    activations: int
    refused: int


class RunLattice:
    """The signal state of one workflow run. Not thread-safe; one engine task drives it."""

    def __init__(
        self,
        nodes: Sequence[NodeSpec],
        entry: Sequence[str] = (),
        *,
        epsilon: float = 1e-9,
        max_activations: int | None = None,
    ) -> None:
        _check_number(epsilon, "epsilon")
        if max_activations is not None and max_activations < 0:
            raise ValueError(f"max_activations must be >= 0, got {max_activations}")
        if isinstance(entry, str):
            raise TypeError("entry is a sequence of agent ids, not a single string")
        self._epsilon = epsilon
        self._max_activations = 3 * len(nodes) if max_activations is None else max_activations
        entry_ids = set(entry)
        self._nodes: dict[str, _Node] = {}
        for spec in nodes:
            if spec.agent_id in self._nodes:
                raise ValueError(f"agent {spec.agent_id!r} appears twice in the run lattice")
            self._nodes[spec.agent_id] = _Node(spec, len(self._nodes), spec.agent_id in entry_ids)
        unknown = [e for e in entry if e not in self._nodes]
        if unknown:
            raise ValueError(f"entry agents {unknown} are not nodes of this run lattice ({list(self._nodes)})")
        self._entry = tuple(dict.fromkeys(entry))
        self._order = list(self._nodes.values())

        self._subscribers: dict[str, list[tuple[_Node, float, Condition | None]]] = {}
        self._alive_emitters: dict[str, int] = {}
        for node in self._order:
            for event in node.spec.emits:
                self._alive_emitters[event] = self._alive_emitters.get(event, 0) + 1
        for node in self._order:
            for sub in node.spec.subscriptions:
                self._subscribers.setdefault(sub.key, []).append((node, sub.strength, sub.condition))
                if sub.is_completion:
                    producers = 1 if sub.key[len(COMPLETED_PREFIX) :] in self._nodes else 0
                    node.live_edges += producers
                else:
                    producers = self._alive_emitters.get(sub.key[len(EVENT_PREFIX) :], 0)
                node.potential += sub.strength * producers

        self._counts: dict[NodeState, int] = {
            "pending": len(self._order),
            "active": 0,
            "completed": 0,
            "failed": 0,
            "skipped": 0,
        }
        self._started = False
        self._activations = 0
        self._refused = 0
        self._topological: list[_Node] | None = None

    # ------------------------------------------------------------------------------------ snapshots

    def snapshot(self) -> LatticeSnapshot:
        """The mutable state, to ``rollback`` to if the transition computed next is not committed."""
        nodes = tuple(
            (n.state, n.acc, n.anchor, n.peak, n.raw_total, n.potential, n.reason, n.threshold, n.live_edges)
            for n in self._order
        )
        return LatticeSnapshot(
            nodes, dict(self._alive_emitters), dict(self._counts), self._started, self._activations, self._refused
        )

    def rollback(self, snap: LatticeSnapshot) -> None:
        """Return to ``snap`` (taken from this lattice): the transitions since are undone."""
        for node, values in zip(self._order, snap.nodes, strict=True):
            (
                node.state,
                node.acc,
                node.anchor,
                node.peak,
                node.raw_total,
                node.potential,
                node.reason,
                node.threshold,
                node.live_edges,
            ) = values
        self._alive_emitters = dict(snap.alive_emitters)
        self._counts = dict(snap.counts)
        self._started, self._activations, self._refused = snap.started, snap.activations, snap.refused

    # ------------------------------------------------------------------------------------ building

    @classmethod
    def for_workflow(
        cls,
        agent_ids: Sequence[str],
        depends_on: Mapping[str, Sequence[str]],
        entry_point: str | None,
        thresholds: Mapping[str, float | None] = _NO_THRESHOLDS,
        decays: Mapping[str, float | None] = _NO_THRESHOLDS,
        *,
        emits: Mapping[str, Sequence[str]] = _NO_EVENTS,
        reacts_to: Mapping[str, Sequence[str]] = _NO_EVENTS,
        conditions: Mapping[str, Mapping[str, Condition]] = MappingProxyType({}),
        epsilon: float = 1e-9,
        max_activations: int | None = None,
    ) -> RunLattice:
        """The lattice of one run of a workflow whose members are ``agent_ids`` (in config order).

        ``depends_on`` is filtered to the members (a dependency outside the workflow is ignored). The entry is
        ``[entry_point]`` when given, else every member without in-workflow dependencies and without
        ``reacts_to`` events. ``emits``/``reacts_to`` map an agent to the events of the skills it holds;
        ``conditions`` maps an agent to the conditions on its dependency edges.
        """
        members = list(dict.fromkeys(agent_ids))
        member_set = set(members)
        if entry_point is not None and entry_point not in member_set:
            raise ValueError(f"entry_point {entry_point!r} is not one of the workflow's agents {members}")
        specs = []
        for agent in members:
            deps = [d for d in depends_on.get(agent, ()) if d in member_set]
            specs.append(
                NodeSpec.from_depends_on(
                    agent,
                    deps,
                    threshold=thresholds.get(agent),
                    decay=decays.get(agent),
                    emits=emits.get(agent, ()),
                    reacts_to=reacts_to.get(agent, ()),
                    conditions=conditions.get(agent, {}),
                )
            )
        if entry_point is not None:
            entry = [entry_point]
        else:
            entry = [spec.agent_id for spec in specs if not spec.subscriptions]
        return cls(specs, entry, epsilon=epsilon, max_activations=max_activations)

    # ------------------------------------------------------------------------------------ driving

    def start(self, now: float) -> Transition:
        """Activate the entry nodes: they take the user input, whatever their threshold."""
        if self._started:
            raise ValueError("start() was already called on this run lattice")
        self._started = True
        fired = []
        for agent in self._entry:
            node = self._nodes[agent]
            if node.state == "pending":
                self._set_state(node, "active")
                fired.append(node)
        return self._settle(fired, [], now)

    def publish(self, event: str, now: float, producer: str | None = None) -> Transition:
        """Deposit on the pending subscribers of ``event:<event>`` (the producer itself excluded)."""
        fired: list[_Node] = []
        self._deposit_event(event, now, producer, fired)
        return self._settle(fired, [], now)

    def complete(self, agent_id: str, now: float, output: str = "") -> Transition:
        """Mark an active node completed, deposit on its subscribers, then publish each of its ``emits``.

        ``output`` decides the conditional edges: a subscriber whose condition does not hold is not
        deposited on; the edge stops counting for it (see ``_untake``)."""
        node = self._require_active(agent_id, "complete")
        skipped: list[_Node] = []
        return self._settle(self._complete(node, now, output, skipped), skipped, now)

    def fail(self, agent_id: str, now: float, reason: str = "") -> Transition:
        """Mark an active node failed and skip, transitively, every node that can no longer fire."""
        node = self._require_active(agent_id, "fail")
        skipped = self._fail(node, now, reason)
        return self._settle([], skipped, now)

    def finalize(self, now: float) -> Transition:
        """Once nothing is active, skip every still-pending node, saying why it never fired."""
        if self._counts["active"]:
            raise ValueError(
                f"finalize() called while nodes are still active: {self.active_nodes()}; "
                "complete() or fail() them first"
            )
        skipped = []
        for node in self._order:
            if node.state == "pending":
                self._set_state(node, "skipped")
                node.reason = self._never_fired_reason(node, now)
                skipped.append(node)
        return self._settle([], skipped, now)

    # ------------------------------------------------------------------------------------ resume

    def restore_completed(self, agent_id: str, at: float, output: str = "") -> None:
        """Replay a committed completion (at its original time); a pending node is activated first.

        Replaying the completions (and failures) of a run in commit order, after ``start(started_at)``,
        rebuilds exactly the state the live run had after them.
        """
        node = self._restore_activate(agent_id, "restore_completed")
        skipped: list[_Node] = []
        self._settle(self._complete(node, at, output, skipped), skipped, at)

    def restore_failed(self, agent_id: str, at: float, reason: str = "") -> None:
        """Replay a committed failure (at its original time), skips included; see ``restore_completed``."""
        node = self._restore_activate(agent_id, "restore_failed")
        self._settle([], self._fail(node, at, reason), at)

    def restore_active(self, agent_id: str) -> None:
        """Mark a node active that was in flight; a node the replay already activated is left as is."""
        self._restore_activate(agent_id, "restore_active")

    # ------------------------------------------------------------------------------------ queries

    @property
    def agent_ids(self) -> tuple[str, ...]:
        """Every node, in spec order."""
        return tuple(self._nodes)

    @property
    def entry(self) -> tuple[str, ...]:
        return self._entry

    def spec(self, agent_id: str) -> NodeSpec:
        return self._node(agent_id).spec

    def state(self, agent_id: str) -> NodeState:
        return self._node(agent_id).state

    def states(self) -> dict[str, NodeState]:
        """Every node's state, in spec order."""
        return {agent: node.state for agent, node in self._nodes.items()}

    def reason(self, agent_id: str) -> str | None:
        """Why a node failed or was skipped; None for the other states."""
        return self._node(agent_id).reason

    def threshold(self, agent_id: str) -> float:
        return self._node(agent_id).threshold

    def signal(self, agent_id: str, now: float) -> float:
        """The node's signal at ``now``: its deposits, each decayed from its own time."""
        return self._node(agent_id).intensity(now)

    def active_nodes(self) -> tuple[str, ...]:
        """Nodes activated and not yet completed or failed, in spec order (after a resume: the ones to run)."""
        if not self._counts["active"]:
            return ()
        return tuple(n.spec.agent_id for n in self._order if n.state == "active")

    def is_finished(self) -> bool:
        """No node is active and no pending node can still fire.

        Only completions of active nodes deposit signal later (events published from outside count as not
        coming), so once started the run is finished exactly when nothing is active.
        """
        if self._counts["active"]:
            return False
        return self._started or all(self._nodes[e].state != "pending" for e in self._entry)

    def final_order(self) -> list[str]:
        """Completed sink nodes in topological order, ties broken by spec order: the run's final output.

        A sink is a node whose completion and emitted events nobody else subscribes to.
        """
        return [n.spec.agent_id for n in self._topological_order() if n.state == "completed" and self._is_sink(n)]

    def topological_order(self) -> list[str]:
        """Every node, producers before subscribers, ties by spec order.

        Where only cycles remain (skill events looping back), the earliest unplaced node in spec order goes next.
        """
        return [n.spec.agent_id for n in self._topological_order()]

    def statistics(self) -> LatticeStatistics:
        return LatticeStatistics(
            nodes=len(self._order),
            pending=self._counts["pending"],
            active=self._counts["active"],
            completed=self._counts["completed"],
            failed=self._counts["failed"],
            skipped=self._counts["skipped"],
            activations=self._activations,
            max_activations=self._max_activations,
            refused_activations=self._refused,
        )

    def __repr__(self) -> str:
        s = self.statistics()
        return (
            f"<RunLattice nodes={s.nodes} pending={s.pending} active={s.active} completed={s.completed} "
            f"failed={s.failed} skipped={s.skipped} activations={s.activations}/{s.max_activations}>"
        )

    # ------------------------------------------------------------------------------------ internals

    def _node(self, agent_id: str) -> _Node:
        try:
            return self._nodes[agent_id]
        except KeyError:
            raise ValueError(f"unknown agent {agent_id!r}: not a node of this run lattice") from None

    def _require_active(self, agent_id: str, action: str) -> _Node:
        node = self._node(agent_id)
        if node.state != "active":
            raise ValueError(
                f"cannot {action} agent {agent_id!r}: it is {node.state}, not active "
                "(only an activated node can complete or fail, once)"
            )
        return node

    def _restore_activate(self, agent_id: str, action: str) -> _Node:
        node = self._node(agent_id)
        if node.state == "pending":
            # The committed log proves it ran: it needs no signal, and it used one activation.
            self._set_state(node, "active")
            self._activations += 1
        elif node.state != "active":
            raise ValueError(f"cannot {action} agent {agent_id!r}: it is already {node.state} in the rebuilt lattice")
        return node

    def _set_state(self, node: _Node, state: NodeState) -> None:
        self._counts[node.state] -= 1
        self._counts[state] += 1
        node.state = state

    def _complete(self, node: _Node, now: float, output: str, skipped: list[_Node]) -> list[_Node]:
        self._set_state(node, "completed")
        self._retire(node)
        fired: list[_Node] = []
        untaken: list[tuple[_Node, float, str, bool]] = []
        for subscriber, strength, condition in self._subscribers.get(node.completed_key, ()):
            if condition is None or condition.holds(output):
                self._deposit(subscriber, strength, now, fired)
            else:
                why = f"condition: {node.spec.agent_id}'s output does not satisfy {condition.describe()}"
                untaken.append((subscriber, strength, why, True))
        self._untake(untaken, now, fired, skipped)
        for event in node.spec.emits:
            self._deposit_event(event, now, node.spec.agent_id, fired)
        return fired

    def _fail(self, node: _Node, now: float, reason: str) -> list[_Node]:
        self._set_state(node, "failed")
        node.reason = reason or "failed"
        agent = node.spec.agent_id
        skipped: list[_Node] = []
        self._skip_unreachable(self._retire(node), now, f"upstream failed: {agent}", skipped)
        return skipped

    def _deposit_event(self, event: str, now: float, producer: str | None, fired: list[_Node]) -> None:
        for subscriber, strength, _ in self._subscribers.get(f"{EVENT_PREFIX}{event}", ()):
            if subscriber.spec.agent_id != producer:
                self._deposit(subscriber, strength, now, fired)

    def _deposit(self, node: _Node, strength: float, now: float, fired: list[_Node]) -> None:
        if node.state != "pending":
            return
        node.deposit(strength, now)
        if node.acc >= node.threshold - self._epsilon:
            self._set_state(node, "active")
            fired.append(node)

    def _retire(self, node: _Node) -> list[_Node]:
        """``node`` will never produce again: lower its subscribers' potential; return them."""
        affected = []
        for subscriber, strength, _ in self._subscribers.get(node.completed_key, ()):
            subscriber.potential -= strength
            affected.append(subscriber)
        return affected + self._retire_events(node)

    def _retire_events(self, node: _Node) -> list[_Node]:
        affected = []
        for event in node.spec.emits:
            self._alive_emitters[event] -= 1
            for subscriber, strength, _ in self._subscribers.get(f"{EVENT_PREFIX}{event}", ()):
                subscriber.potential -= strength
                affected.append(subscriber)
        return affected

    def _untake(
        self, work: list[tuple[_Node, float, str, bool]], now: float, fired: list[_Node], skipped: list[_Node]
    ) -> None:
        """Edges that will never deposit because of a condition: (subscriber, strength, reason, retired).

        An untaken edge stops counting for its subscriber: a default threshold drops by its strength
        (a join waits only for the branches taken), so the subscriber may fire now. A subscriber left
        with no completion edge (and no event to wait for), or that can no longer reach its threshold,
        is skipped for the condition, and its own dependents lose their edge from it in turn.
        """
        while work:
            # Drop every edge of this wave first, then judge the nodes: a node judged between two of its
            # own untaken edges would look unreachable (its potential lowered, its threshold not yet).
            judged: dict[int, tuple[_Node, str]] = {}
            for node, strength, reason, retired in work:
                if node.state != "pending":
                    continue
                if not retired:
                    node.potential -= strength
                node.live_edges -= 1
                if node.spec.threshold is None:
                    node.threshold -= strength
                judged.setdefault(node.index, (node, reason))
            work = []
            for node, reason in sorted(judged.values(), key=lambda pair: pair[0].index):
                if node.state != "pending":
                    continue
                orphan = node.live_edges <= 0 and not node.has_events and not node.is_entry
                if not orphan and node.acc > 0 and node.acc >= node.threshold - self._epsilon:
                    self._set_state(node, "active")
                    fired.append(node)
                    continue
                if not orphan and self._can_still_fire(node, now):
                    continue
                self._set_state(node, "skipped")
                node.reason = reason
                skipped.append(node)
                upstream = f"condition: upstream {node.spec.agent_id} was skipped"
                for subscriber, weight, _ in self._subscribers.get(node.completed_key, ()):
                    work.append((subscriber, weight, upstream, False))
                self._skip_unreachable(self._retire_events(node), now, upstream, skipped)

    def _can_still_fire(self, node: _Node, now: float) -> bool:
        if node.is_entry and not self._started:
            return True  # start() will fire it whatever its signal
        reachable = node.intensity(now) + max(node.potential, 0.0)
        return reachable >= node.threshold - self._epsilon

    def _skip_unreachable(self, candidates: list[_Node], now: float, reason: str, skipped: list[_Node]) -> None:
        stack = candidates
        while stack:
            node = stack.pop()
            if node.state != "pending" or self._can_still_fire(node, now):
                continue
            self._set_state(node, "skipped")
            node.reason = reason
            skipped.append(node)
            stack.extend(self._retire(node))

    def _settle(self, fired: list[_Node], skipped: list[_Node], now: float) -> Transition:
        """Charge the fired nodes to the cycle guard in spec order; skip what it refuses, then report."""
        fired.sort(key=lambda n: n.index)
        activated = []
        for node in fired:
            if self._activations < self._max_activations:
                self._activations += 1
                activated.append(node.spec.agent_id)
                continue
            self._refused += 1
            self._set_state(node, "skipped")
            node.reason = f"activation limit reached: max_activations={self._max_activations}"
            skipped.append(node)
            upstream = f"upstream skipped: {node.spec.agent_id} (activation limit reached)"
            self._skip_unreachable(self._retire(node), now, upstream, skipped)
        skipped.sort(key=lambda n: n.index)
        return Transition(
            activated=tuple(activated),
            skipped=tuple((n.spec.agent_id, n.reason or "skipped") for n in skipped),
        )

    def _never_fired_reason(self, node: _Node, now: float) -> str:
        threshold = node.threshold
        if node.decay > 0 and node.raw_total >= threshold - self._epsilon:
            return (
                f"decayed: signal peaked at {node.peak:.2f}, below threshold {threshold:.2f} "
                f"(deposits totalled {node.raw_total:.2f} before evaporation)"
            )
        return f"never activated: signal {node.intensity(now):.2f} below threshold {threshold:.2f}"

    def _emitters(self) -> dict[str, list[_Node]]:
        emitters: dict[str, list[_Node]] = {}
        for node in self._order:
            for event in node.spec.emits:
                emitters.setdefault(event, []).append(node)
        return emitters

    def _is_sink(self, node: _Node) -> bool:
        keys = [node.completed_key, *(f"{EVENT_PREFIX}{e}" for e in node.spec.emits)]
        return all(subscriber is node for key in keys for subscriber, _, _ in self._subscribers.get(key, ()))

    def _topological_order(self) -> list[_Node]:
        if self._topological is not None:
            return self._topological
        emitters = self._emitters()
        dependents: list[list[_Node]] = [[] for _ in self._order]
        indegree = [0] * len(self._order)
        for node in self._order:
            producers: dict[int, _Node] = {}
            for sub in node.spec.subscriptions:
                name = sub.key.split(":", 1)[1]
                if sub.is_completion:
                    candidates = [self._nodes[name]] if name in self._nodes else []
                else:
                    candidates = emitters.get(name, [])
                for producer in candidates:
                    if producer is not node:
                        producers[producer.index] = producer
            indegree[node.index] = len(producers)
            for producer in producers.values():
                dependents[producer.index].append(node)
        ready = [n.index for n in self._order if indegree[n.index] == 0]
        heapq.heapify(ready)
        order: list[_Node] = []
        placed = [False] * len(self._order)
        next_unplaced = 0
        while len(order) < len(self._order):
            if not ready:
                # Only cycles remain: release the earliest unplaced node in spec order.
                while placed[next_unplaced]:
                    next_unplaced += 1
                indegree[next_unplaced] = 0
                heapq.heappush(ready, next_unplaced)
            index = heapq.heappop(ready)
            if placed[index]:
                continue
            placed[index] = True
            node = self._order[index]
            order.append(node)
            for dependent in dependents[index]:
                indegree[dependent.index] -= 1
                if indegree[dependent.index] == 0 and not placed[dependent.index]:
                    heapq.heappush(ready, dependent.index)
        self._topological = order
        return order
