"""The one "did you mean" helper behind every unknown-name hint."""

from __future__ import annotations

from axocoatl.core.suggest import closest, did_you_mean, listing


def test_closest_needs_a_similar_name() -> None:
    assert closest("wirter", ["writer", "editor"]) == "writer"
    assert closest("zzz", ["writer", "editor"]) is None
    assert closest("run-20260101-aaaa", ["run-20260101-bbbb"], cutoff=0.85) is None


def test_did_you_mean_prefers_the_close_name_then_lists_then_says_there_is_none() -> None:
    assert did_you_mean("opnai", ["openai", "mock"], noun="provider") == "did you mean 'openai'?"
    assert did_you_mean("zzz", ["openai", "mock"], noun="provider") == "valid providers: 'openai', 'mock'"
    assert did_you_mean("zzz", ["a"], noun="agent", known=True) == "known agents: 'a'"
    assert did_you_mean("zzz", [], noun="agent") == "there is no agent to choose from"
    assert did_you_mean("zzz", [], noun="agent", none="no agents are configured") == "no agents are configured"


def test_listing_is_cut_with_a_count() -> None:
    names = [f"n{i}" for i in range(25)]
    assert listing(names, shown=2) == "'n0', 'n1' (and 23 more)"
    assert did_you_mean("zzz", names, noun="name").endswith("'n19' (and 5 more)")
