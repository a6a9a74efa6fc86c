"""Budget arithmetic (pure) and the cl100k token counter."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from axocoatl.config.schema import TokenBudgetConfig
from axocoatl.core.errors import BudgetExceeded
from axocoatl.core.messages import ChatMessage, ToolCall
from axocoatl.tokens.budget import MIN_REPLY_TOKENS, BudgetUsage, plan_call
from axocoatl.tokens.counter import PER_MESSAGE_OVERHEAD, PER_REQUEST_OVERHEAD, default_counter


def budget(**fields: object) -> TokenBudgetConfig:
    return TokenBudgetConfig.model_validate(fields)


def test_no_budget_allows_the_requested_reply() -> None:
    decision = plan_call(None, agent_id="a", prompt_tokens=10**6, usage=BudgetUsage(), requested_reply=512)
    assert (decision.allowed, decision.max_reply_tokens, decision.warning) == (True, 512, None)


def test_reply_is_capped_at_what_the_tightest_limit_leaves() -> None:
    b = budget(per_call=1000, per_execution=5000, per_run=3000, per_day=100_000)
    free = plan_call(b, agent_id="a", prompt_tokens=100, usage=BudgetUsage(), requested_reply=4096)
    assert free.max_reply_tokens == 900  # per_call: 1000 - 100
    late = plan_call(b, agent_id="a", prompt_tokens=100, usage=BudgetUsage(execution=4700), requested_reply=4096)
    assert late.max_reply_tokens == 200  # per_execution: 5000 - 4700 - 100
    in_run = plan_call(b, agent_id="a", prompt_tokens=100, usage=BudgetUsage(run=2850), requested_reply=4096)
    assert in_run.max_reply_tokens == 50  # per_run: 3000 - 2850 - 100
    small = plan_call(b, agent_id="a", prompt_tokens=100, usage=BudgetUsage(), requested_reply=64)
    assert small.max_reply_tokens == 64


def test_abort_refuses_a_call_that_cannot_fit_a_minimal_reply() -> None:
    b = budget(per_call=500, per_execution=1000, per_day=2000)
    with pytest.raises(BudgetExceeded) as caught:
        plan_call(b, agent_id="writer", prompt_tokens=100, usage=BudgetUsage(day=1890), requested_reply=4096)
    error = caught.value
    assert (error.agent_id, error.budget, error.used, error.limit) == ("writer", "per_day", 1890, 2000)
    assert error.requested == 100 + MIN_REPLY_TOKENS
    assert error.message == (
        "agent 'writer' token budget per_day would be exceeded: used 1890 of 2000, "
        f"this call needs {100 + MIN_REPLY_TOKENS} (100 prompt + at least {MIN_REPLY_TOKENS} reply)"
    )
    assert error.hint is not None and "agents[writer].token_budget.per_day" in error.hint


def test_exactly_enough_room_for_the_minimal_reply_is_allowed() -> None:
    b = budget(per_call=100, per_execution=100)
    ok = plan_call(b, agent_id="a", prompt_tokens=100 - MIN_REPLY_TOKENS, usage=BudgetUsage(), requested_reply=999)
    assert ok.max_reply_tokens == MIN_REPLY_TOKENS
    with pytest.raises(BudgetExceeded):
        plan_call(b, agent_id="a", prompt_tokens=101 - MIN_REPLY_TOKENS, usage=BudgetUsage(), requested_reply=999)


def test_warn_allows_the_call_and_says_why() -> None:
    b = budget(per_call=50, per_execution=50, overflow_policy="warn")
    decision = plan_call(b, agent_id="a", prompt_tokens=80, usage=BudgetUsage(), requested_reply=300)
    assert decision.allowed and decision.max_reply_tokens == 300
    assert decision.warning is not None and "per_call" in decision.warning and "used 0 of 50" in decision.warning


def test_budget_config_defaults_and_checks() -> None:
    assert budget(per_execution=4000).per_call == 4000  # default per_call capped at per_execution
    assert budget(per_execution=20_000).per_call == 8192
    assert budget(per_execution=10, overflow_policy="summarize").overflow_policy == "warn"
    with pytest.raises(ValueError, match=r"per_call .* is larger than per_execution"):
        budget(per_call=200, per_execution=100)


@settings(max_examples=200, deadline=None)
@given(
    per_call=st.integers(1, 5000),
    extra=st.integers(0, 5000),
    used=st.integers(0, 10_000),
    prompt=st.integers(0, 6000),
    wanted=st.integers(1, 8192),
)
def test_an_admitted_call_never_overruns_any_limit(
    per_call: int, extra: int, used: int, prompt: int, wanted: int
) -> None:
    b = budget(per_call=per_call, per_execution=per_call + extra)
    try:
        decision = plan_call(
            b, agent_id="a", prompt_tokens=prompt, usage=BudgetUsage(execution=used), requested_reply=wanted
        )
    except BudgetExceeded as exc:
        assert exc.requested > exc.limit - exc.used
        return
    spent = prompt + decision.max_reply_tokens
    assert spent <= per_call
    assert used + spent <= per_call + extra
    assert 0 < decision.max_reply_tokens <= wanted


def test_counter_counts_cl100k_tokens() -> None:
    counter = default_counter()
    assert counter.count("") == 0
    assert counter.count("hello world") == 2
    assert counter.count("<|endoftext|>") > 1  # special tokens are plain text here, never an error


def test_counter_counts_messages_with_overheads() -> None:
    counter = default_counter()
    call = ToolCall("c1", "echo", {"text": "hi"})
    messages = [ChatMessage.user("hello world"), ChatMessage.assistant("", tool_calls=(call,))]
    expected = (
        PER_REQUEST_OVERHEAD
        + PER_MESSAGE_OVERHEAD
        + 2
        + PER_MESSAGE_OVERHEAD
        + counter.count("echo")
        + counter.count(str({"text": "hi"}))
    )
    assert counter.count_messages(messages) == expected


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=300), limit=st.integers(0, 80))
def test_truncate_fits_the_limit(text: str, limit: int) -> None:
    counter = default_counter()
    cut = counter.truncate(text, limit)
    assert counter.count(cut) <= limit
    if counter.count(text) <= limit:
        assert cut == text
