"""The auction: tool coverage, the documented formula, deterministic ties, load spread (incl. properties)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from axocoatl.coordination.auction import Bidder, Ledger, auction, bid, covers, release

TOOLS = ["web_search", "read_file", "write_file", "shell"]


def test_missing_a_required_tool_means_no_bid() -> None:
    worker = Bidder("w", ("read_file",), 0)
    assert bid(worker, ["read_file", "shell"], load=0) is None
    assert bid(worker, ["read_file"], load=0) == pytest.approx(0.4 + 0.3 + 0.2 + 0.1 * 0.5)


def test_globs_cover_tools() -> None:
    assert covers(["memory_*"], "memory_search") and not covers(["memory_*"], "shell")


def test_the_formula_terms() -> None:
    worker = Bidder("w", (), 0, remaining=5_000)
    assert bid(worker, [], load=1) == pytest.approx(0.4 + 0.15 + 0.1 + 0.05)
    assert bid(Bidder("w", (), 0, remaining=0), [], load=0) is None  # budget spent: no bid
    ledger = Ledger()
    ledger.record("w", "t", succeeded=True)
    ledger.record("w", "t", succeeded=True)
    assert bid(Bidder("w", (), 0), [], load=0, history=ledger.history[("w", "t")]) == pytest.approx(0.9 + 0.1 * 3 / 4)


def test_ties_go_to_the_first_worker_in_config_order_and_load_spreads() -> None:
    workers = [Bidder("a", (), 0), Bidder("b", (), 1), Bidder("c", (), 2)]
    ledger = Ledger()
    winners = [auction(f"t{i}", "t", [], workers, ledger).winner for i in range(6)]
    assert winners == ["a", "b", "c", "a", "b", "c"]
    result = auction("t6", "t", [], workers, ledger)
    assert [b.worker_id for b in result.bids] == ["a", "b", "c"]  # equal scores, config order
    release(ledger, "c")
    release(ledger, "c")
    assert auction("t7", "t", [], workers, ledger).winner == "c"


def test_a_failure_moves_the_retry_to_another_worker() -> None:
    workers = [Bidder("a", (), 0), Bidder("b", (), 1)]
    ledger = Ledger()
    ledger.record("a", "flaky", succeeded=False)
    assert auction("x", "flaky", [], workers, ledger).winner == "b"


def test_nobody_can_bid() -> None:
    result = auction("x", "x", ["shell"], [Bidder("a", ("read_file",), 0)], Ledger())
    assert result.winner is None and result.bids == ()


@st.composite
def pools(draw: st.DrawFn) -> list[Bidder]:
    count = draw(st.integers(1, 6))
    return [
        Bidder(f"w{i}", tuple(draw(st.lists(st.sampled_from([*TOOLS, "*"]), unique=True, max_size=4))), i)
        for i in range(count)
    ]


@settings(deadline=None, max_examples=200)
@given(pools(), st.lists(st.lists(st.sampled_from(TOOLS), unique=True, max_size=3), min_size=1, max_size=12))
def test_winners_hold_every_required_tool(pool: list[Bidder], tasks: list[list[str]]) -> None:
    ledger = Ledger()
    for index, required in enumerate(tasks):
        result = auction(f"t{index}", "t", required, pool, ledger)
        capable = [w for w in pool if all(covers(w.tools, t) for t in required)]
        if not capable:
            assert result.winner is None
            continue
        winner = next(w for w in pool if w.worker_id == result.winner)
        assert all(covers(winner.tools, t) for t in required)
        assert result.score == max(b.score for b in result.bids)


@settings(deadline=None, max_examples=100)
@given(st.integers(1, 6), st.integers(1, 30))
def test_load_spreads_across_equal_workers(workers: int, tasks: int) -> None:
    pool = [Bidder(f"w{i}", ("*",), i) for i in range(workers)]
    ledger = Ledger()
    for index in range(tasks):
        auction(f"t{index}", "t", ["shell"], pool, ledger)
    loads = [ledger.load.get(w.worker_id, 0) for w in pool]
    assert max(loads) - min(loads) <= 1 and sum(loads) == tasks
