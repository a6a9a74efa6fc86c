"""The auction, pure: which worker takes each subtask of a coordinator's plan.

A worker bids on a subtask only if its tools (allow-list globs) cover every tool the subtask
requires, and only while it has budget left. Its score, at most 1.0:

    score = 0.4                                   (coverage: it holds every required tool)
          + 0.3 / (1 + load)                      (load: subtasks it already holds in this pass)
          + 0.2 * min(1, remaining / 10_000)      (budget: tokens left in this run; unlimited = 1)
          + 0.1 * (wins + 1) / (wins + losses + 2) (past success on subtasks of the same name: this
                                                    run, and the workflow's latest runs)

The highest score wins; ties go to the worker listed first in the config. No bidder: an ad-hoc
worker is made with exactly the required tools. Documented in docs/coordinator.md.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field

COVERAGE = 0.4
LOAD = 0.3
BUDGET = 0.2
HISTORY = 0.1
BUDGET_SCALE = 10_000


@dataclass(frozen=True)
class Bidder:
    worker_id: str
    tools: tuple[str, ...]  # the worker's tools: allow-list (globs allowed)
    order: int  # its position in the config (ties go to the lowest)
    remaining: int | None = None  # tokens it may still spend in this run; None: unlimited


@dataclass(frozen=True)
class Bid:
    worker_id: str
    score: float


@dataclass(frozen=True)
class AuctionResult:
    task_id: str
    winner: str | None  # None: nobody could bid (make an ad-hoc worker)
    score: float
    bids: tuple[Bid, ...]  # every bid, best first

    def to_json(self) -> dict[str, object]:
        return {
            "task": self.task_id,
            "winner": self.winner,
            "score": round(self.score, 4),
            "bids": [{"worker": b.worker_id, "score": round(b.score, 4)} for b in self.bids],
        }


@dataclass
class Record:
    """Past outcomes of a worker on subtasks of one name."""

    wins: int = 0
    losses: int = 0


@dataclass
class Ledger:
    """What the auction knows while it assigns: each worker's load and past outcomes."""

    load: dict[str, int] = field(default_factory=dict)
    history: dict[tuple[str, str], Record] = field(default_factory=dict)  # (worker, subtask name) -> outcomes

    def record(self, worker_id: str, name: str, *, succeeded: bool) -> None:
        entry = self.history.setdefault((worker_id, name), Record())
        if succeeded:
            entry.wins += 1
        else:
            entry.losses += 1


def covers(tools: Sequence[str], required: str) -> bool:
    return any(fnmatch.fnmatchcase(required, pattern) for pattern in tools)


def bid(bidder: Bidder, required: Sequence[str], *, load: int, history: Record | None = None) -> float | None:
    """The worker's score for a subtask needing ``required`` tools; None: it cannot bid."""
    if any(not covers(bidder.tools, tool) for tool in required):
        return None
    if bidder.remaining is not None and bidder.remaining <= 0:
        return None
    budget = 1.0 if bidder.remaining is None else min(1.0, bidder.remaining / BUDGET_SCALE)
    past = history or Record()
    success = (past.wins + 1) / (past.wins + past.losses + 2)
    return COVERAGE + LOAD / (1 + max(load, 0)) + BUDGET * budget + HISTORY * success


def auction(
    task_id: str, name: str, required: Sequence[str], bidders: Sequence[Bidder], ledger: Ledger
) -> AuctionResult:
    """One subtask's auction; the winner's load goes up in ``ledger``."""
    bids: list[tuple[float, int, str]] = []
    for bidder in bidders:
        score = bid(
            bidder,
            required,
            load=ledger.load.get(bidder.worker_id, 0),
            history=ledger.history.get((bidder.worker_id, name)),
        )
        if score is not None:
            bids.append((score, bidder.order, bidder.worker_id))
    bids.sort(key=lambda b: (-b[0], b[1]))
    ranked = tuple(Bid(worker, score) for score, _, worker in bids)
    if not ranked:
        return AuctionResult(task_id, None, 0.0, ())
    winner = ranked[0]
    ledger.load[winner.worker_id] = ledger.load.get(winner.worker_id, 0) + 1
    return AuctionResult(task_id, winner.worker_id, winner.score, ranked)


def release(ledger: Ledger, worker_id: str) -> None:
    """A subtask of the worker ended: its load goes down."""
    if ledger.load.get(worker_id, 0) > 0:
        ledger.load[worker_id] -= 1
