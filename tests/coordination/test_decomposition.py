"""Reading subtasks out of an LLM's decomposition reply."""

from __future__ import annotations

import pytest

from axocoatl.coordination.decomposition import read_subtasks
from axocoatl.core.errors import PlanningError


@pytest.mark.parametrize(
    "reply",
    [
        '[{"name": "a", "description": "do a", "tools": ["shell"]}, {"name": "b"}]',
        '<think>hmm [not json]</think>```json\n[{"name": "a", "description": "do a", "tools": ["shell"]}, '
        '{"name": "b"}]\n```',
        'Sure! Here: [{"name": "a", "description": "do a", "tools": "shell"}, {"name": "b"}] Hope it helps.',
        '{"subtasks": [{"name": "a", "description": "do a", "tools": ["shell"]}, {"name": "b"}]}',
    ],
)
def test_robust_extraction(reply: str) -> None:
    tasks = read_subtasks(reply, default_description="the goal")
    assert [t.name for t in tasks] == ["a", "b"]
    assert tasks[0].tools == ("shell",) and tasks[0].description == "do a"
    assert tasks[1].description == "the goal" and tasks[1].tools == ()


def test_names_are_cleaned_and_made_unique_and_after_only_names_earlier_ones() -> None:
    tasks = read_subtasks(
        '[{"name": "Find it!"}, {"name": "Find it!", "after": ["Find_it", "later"]}, {"name": "later"}]',
        default_description="g",
    )
    assert [t.name for t in tasks] == ["Find_it", "Find_it_2", "later"]
    assert tasks[1].after == ("Find_it",)


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ("", "empty"),
        ("I cannot do that.", "no readable JSON"),
        ("[]", "empty list"),
        ('{"a": 1}', "not a list"),
        ("[1, 2]", "subtask 1 of the decomposition reply is int"),
    ],
)
def test_unusable_replies_say_why(reply: str, message: str) -> None:
    with pytest.raises(PlanningError, match=message):
        read_subtasks(reply, default_description="g")
