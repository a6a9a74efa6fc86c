"""The ask_human tool: a workflow step asks a person a question and goes on with the answer.

The call never waits inside the process. The first time, it raises HumanQuestion: the step parks as
``waiting`` with the question (the run too, once nothing else runs), its tool journal left open. An
answer (``runs answer``, the API, the WebSocket) re-drives the step: its turn replays from the journal
(no new model call), this same call finds the answer on the step's row and returns it, and the journal
records it, so a later crash replays the answer instead of asking again. A question whose deadline
passed re-drives the step without an answer: the policy gives the model ``default_answer`` or fails it.
"""

from __future__ import annotations

from typing import Any

from axocoatl.core.errors import HumanQuestion, NoAnswer, ToolError
from axocoatl.tools.context import ToolContext
from axocoatl.tools.registry import Tool


async def _ask_human(args: dict[str, Any], ctx: ToolContext) -> Any:
    question = str(args["question"]).strip()
    if not question:
        raise ToolError("ask_human: 'question' must not be empty; say what you need the person to answer")
    if ctx.asking is None:
        raise ToolError(
            "ask_human works only in a workflow step (a chat has a person already: ask in your reply instead)"
        )
    reply = ctx.asking.human_reply()
    if reply.refused is not None:
        raise ToolError(f"ask_human is not available here: {reply.refused}")
    settings = ctx.settings.ask_human
    timeout = args.get("timeout_secs", settings.timeout_secs)
    on_timeout = args.get("on_timeout", settings.on_timeout)
    default = args.get("default_answer", settings.default_answer)
    if on_timeout == "answer" and (default is None or timeout is None):
        raise ToolError("ask_human: on_timeout 'answer' needs both timeout_secs and default_answer")
    if ctx.resumed:
        if reply.answer is not None:
            return reply.answer
        if reply.expired:
            if on_timeout == "answer" and default is not None:
                return default
            raise NoAnswer(
                f"no answer within {float(timeout or 0):g} s to: {question}",
                hint="raise tools.ask_human.timeout_secs, or set on_timeout: answer with a default_answer",
            )
    raise HumanQuestion(question, float(timeout) if timeout is not None else None)


HUMAN_TOOLS: tuple[Tool, ...] = (
    Tool(
        "ask_human",
        "Ask a person a question and wait for the answer (returned as this call's result). Use it when you "
        "cannot go on without a decision or a fact only a person has. The workflow run waits meanwhile.",
        {
            "type": "object",
            "properties": {
                "question": {"type": "string", "description": "What to ask, self-contained."},
                "timeout_secs": {"type": "number", "exclusiveMinimum": 0, "description": "How long to wait."},
                "on_timeout": {"type": "string", "enum": ["fail", "answer"]},
                "default_answer": {"type": "string", "description": "The answer used when on_timeout is answer."},
            },
            "required": ["question"],
            "additionalProperties": False,
        },
        _ask_human,
        parks=True,  # two questions of one reply: the first parks the step before the second is asked
    ),
)
