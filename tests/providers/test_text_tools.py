"""Recovery of tool calls that small models write as text, in one piece and while streaming."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from axocoatl.core.messages import ToolSpec
from axocoatl.providers.base import Done, ResponseAccumulator, StreamEvent, TextDelta, ToolCallDelta
from axocoatl.providers.text_tools import TextToolFilter, recover_tool_calls

WEATHER = ToolSpec(
    "get_weather",
    "weather",
    {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}},
)
SEARCH = ToolSpec("search", "search", {"type": "object", "properties": {"query": {"type": "string"}}})
OFFERED = ["get_weather", "search"]


def calls(text: str, offered: object = OFFERED) -> tuple[str, list[tuple[str, dict[str, object]]]]:
    rest, found = recover_tool_calls(text, offered)  # type: ignore[arg-type]
    return rest, [(c.name, c.arguments) for c in found]


def test_hermes_tool_call_tags() -> None:
    text = 'Let me look.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'
    assert calls(text) == ("Let me look.", [("get_weather", {"city": "Paris"})])


def test_several_calls_and_surrounding_text() -> None:
    text = (
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>\n'
        '<tool_call>{"name": "search", "arguments": "{\\"query\\": \\"fjords\\"}"}</tool_call>\nDone.'
    )
    assert calls(text) == ("Done.", [("get_weather", {"city": "Oslo"}), ("search", {"query": "fjords"})])


def test_missing_closing_tag_at_the_end() -> None:
    assert calls('<tool_call>{"name": "search", "parameters": {"query": "x"}}') == ("", [("search", {"query": "x"})])


def test_qwen_coder_function_tags_with_types_from_the_schema() -> None:
    text = (
        "<tool_call>\n<function=get_weather>\n<parameter=city>\n42\n</parameter>\n"
        "<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>"
    )
    _, found = recover_tool_calls(text, [WEATHER])
    assert [(c.name, c.arguments) for c in found] == [("get_weather", {"city": "42", "days": 3})]


def test_qwen_coder_function_tags_without_wrapper_or_schema() -> None:
    text = "Sure.<function=search><parameter=query>\nlong\nquery\n</parameter></function>"
    assert calls(text) == ("Sure.", [("search", {"query": "long\nquery"})])


def test_bare_json_object_and_fenced_json() -> None:
    assert calls('{"name": "get_weather", "arguments": {"city": "Rome"}}') == (
        "",
        [("get_weather", {"city": "Rome"})],
    )
    fenced = 'Calling it:\n```json\n{"name": "search", "arguments": {"query": "q"}}\n```\n'
    assert calls(fenced) == ("Calling it:", [("search", {"query": "q"})])


@pytest.mark.parametrize(
    "text",
    [
        '<tool_call>{"name": "rm_rf", "arguments": {}}</tool_call>',  # not offered
        "<function=rm_rf><parameter=path>/</parameter></function>",
        '{"name": "rm_rf", "arguments": {}}',
        '{"name": "search", "arguments": {}, "extra": 1}',  # not a call object
        '{"name": "search", "arguments": [1, 2]}',
        "<tool_call>not json</tool_call>",
        'The JSON {"city": "Paris"} is just data.',
        "plain answer",
        "",
    ],
)
def test_text_that_is_not_a_call_for_an_offered_tool_is_left_alone(text: str) -> None:
    assert calls(text) == (text, [])


def test_nothing_offered_nothing_recovered() -> None:
    text = '<tool_call>{"name": "search", "arguments": {}}</tool_call>'
    assert calls(text, []) == (text, [])


def test_recovered_ids_are_unique() -> None:
    text = '{"name": "search", "arguments": {}} {"name": "search", "arguments": {}}'
    _, found = recover_tool_calls(text, OFFERED)
    assert len({c.id for c in found}) == 2


# ------------------------------------------------------------------------------------- streaming


def run_filter(
    chunks: list[str], offered: list[ToolSpec], structured: bool = False
) -> tuple[str, list[StreamEvent], bool]:
    text_filter = TextToolFilter(offered)
    shown = "".join(text_filter.feed(c) for c in chunks)
    tail, recovered = text_filter.finish(structured_calls=structured)
    return shown, tail, recovered


def test_filter_streams_plain_text_through() -> None:
    shown, tail, recovered = run_filter(["Hello ", "there, ", "friend."], [WEATHER])
    assert (shown, tail, recovered) == ("Hello there, friend.", [], False)


def test_filter_holds_back_a_marker_split_across_chunks() -> None:
    chunks = ["Checking.", "\n<tool", '_call>{"name": "get_weather", ', '"arguments": {"city": "Lima"}}</tool_call>']
    shown, tail, recovered = run_filter(chunks, [WEATHER])
    assert shown == "Checking.\n"
    assert recovered
    assert isinstance(tail[0], ToolCallDelta) and tail[0].name == "get_weather"
    assert json.loads(tail[0].arguments) == {"city": "Lima"}


def test_filter_releases_a_false_alarm() -> None:
    shown, tail, recovered = run_filter(["a <b> c ", "{not a call}", " end"], [WEATHER])
    assert shown == "a <b> c "
    assert tail == [TextDelta("{not a call} end")] and not recovered


def test_filter_keeps_text_when_a_structured_call_arrived() -> None:
    text = '<tool_call>{"name": "get_weather", "arguments": {}}</tool_call>'
    shown, tail, recovered = run_filter([text], [WEATHER], structured=True)
    assert shown == "" and tail == [TextDelta(text)] and not recovered


def test_filter_without_tools_is_transparent() -> None:
    text = '{"name": "get_weather", "arguments": {}}'
    assert run_filter([text], []) == (text, [], False)


@given(st.text(alphabet="ab <{`}>_\n", max_size=60), st.lists(st.integers(1, 7), max_size=20))
def test_filter_never_loses_or_reorders_text(text: str, cuts: list[int]) -> None:
    """Whatever the chunking, shown text + released text is the original text when nothing is recovered."""
    chunks, pos = [], 0
    for size in cuts:
        chunks.append(text[pos : pos + size])
        pos += size
    chunks.append(text[pos:])
    shown, tail, recovered = run_filter(chunks, [WEATHER])
    assert not recovered
    assert shown + "".join(e.text for e in tail if isinstance(e, TextDelta)) == text


def test_recovered_deltas_fold_into_tool_calls() -> None:
    _, tail, _ = run_filter(
        ['<tool_call>{"name": "get_weather", "arguments": {"city": "A"}}</tool_call>'
         '<tool_call>{"name": "search", "arguments": {"query": "B"}}</tool_call>'],
        [WEATHER, SEARCH],
    )  # fmt: skip
    acc = ResponseAccumulator()
    for event in tail:
        acc.add(event)
    acc.add(Done("tool_calls"))
    response = acc.response()
    assert [(c.name, c.arguments) for c in response.tool_calls] == [
        ("get_weather", {"city": "A"}),
        ("search", {"query": "B"}),
    ]
