"""Run ids: sortable by time, and never repeated by one process (a burst of starts in one second)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from axocoatl.core import ids


def test_a_run_id_is_never_issued_twice_even_when_its_random_part_repeats(monkeypatch: pytest.MonkeyPatch) -> None:
    drawn: Iterator[str] = iter(["aaaaaa", "aaaaaa", "aaaaaa", "bbbbbb", "aaaaaa", "cccccc"])
    monkeypatch.setattr(secrets, "token_hex", lambda n: next(drawn))
    monkeypatch.setattr(ids, "_issued", {})
    first, second, third = ids.new_run_id(), ids.new_run_id(), ids.new_run_id()
    stamps = {first[:19], second[:19], third[:19]}
    if len(stamps) == 1:  # the same second: the repeated draws were skipped
        assert [first[-6:], second[-6:], third[-6:]] == ["aaaaaa", "bbbbbb", "cccccc"]
    assert len({first, second, third}) == 3


def test_many_run_ids_in_a_burst_are_distinct() -> None:
    issued = [ids.new_run_id() for _ in range(5000)]
    assert len(set(issued)) == len(issued)
    assert all(i.startswith("run-") and len(i) == len("run-20261125-143012-9f2c1a") for i in issued)
