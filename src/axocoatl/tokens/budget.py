"""Pure budget arithmetic: may this LLM call be made, and with how many reply tokens at most?

A call is admitted only when its prompt plus its reserved reply fit every limit
(per_call, per_execution, per_run, per_day). The caller then caps the reply at the
reserved size, so under ``abort`` recorded spend can never exceed a budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from axocoatl.config.schema import TokenBudgetConfig
from axocoatl.core.errors import BudgetExceeded

# Smallest reply worth making a call for; below this the call is refused instead.
MIN_REPLY_TOKENS = 16


@dataclass(frozen=True)
class BudgetUsage:
    """Tokens already spent within each budget window."""

    execution: int = 0
    run: int = 0
    day: int = 0


@dataclass(frozen=True)
class BudgetDecision:
    allowed: bool
    max_reply_tokens: int  # cap to send with the call
    warning: str | None = None  # set when overflow_policy is warn and a limit is exceeded


@dataclass(frozen=True)
class _Limit:
    name: Literal["per_call", "per_execution", "per_run", "per_day"]
    limit: int
    used: int


def plan_call(
    budget: TokenBudgetConfig | None,
    *,
    agent_id: str,
    prompt_tokens: int,
    usage: BudgetUsage,
    requested_reply: int,
) -> BudgetDecision:
    """Decide whether a call with ``prompt_tokens`` may be made and how long its reply may be.

    ``requested_reply`` is the reply size the caller wants (sampling.max_tokens, or the
    model's output limit); the decision may lower it to what the budget leaves.

    Raises BudgetExceeded under ``overflow_policy: abort`` when it may not.
    """
    if budget is None:
        return BudgetDecision(True, requested_reply)
    limits = [
        _Limit("per_call", budget.per_call, 0),
        _Limit("per_execution", budget.per_execution, usage.execution),
    ]
    if budget.per_run is not None:
        limits.append(_Limit("per_run", budget.per_run, usage.run))
    if budget.per_day is not None:
        limits.append(_Limit("per_day", budget.per_day, usage.day))

    tightest = min(limits, key=lambda lim: lim.limit - lim.used)
    room = tightest.limit - tightest.used - prompt_tokens
    need = min(requested_reply, MIN_REPLY_TOKENS)
    if room > 0 and room >= need:
        return BudgetDecision(True, min(requested_reply, room))

    requested = prompt_tokens + need
    message = (
        f"agent '{agent_id}' token budget {tightest.name} would be exceeded: "
        f"used {tightest.used} of {tightest.limit}, this call needs {requested} "
        f"({prompt_tokens} prompt + at least {need} reply)"
    )
    if budget.overflow_policy == "warn":
        return BudgetDecision(True, requested_reply, warning=message)
    raise BudgetExceeded(
        message,
        agent_id=agent_id,
        budget=tightest.name,
        used=tightest.used,
        requested=requested,
        limit=tightest.limit,
        hint=f"raise agents[{agent_id}].token_budget.{tightest.name}, shorten the input, or set overflow_policy: warn",
    )
