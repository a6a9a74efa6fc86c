"""A request as a llama.cpp prompt: rendered with the model's chat template, fitted to its context.

The templates know no tool role, so tool results become user turns ("Tool result (name): ...")
and earlier tool calls are written into the assistant turn in the Hermes format the model is
asked to use. A prompt that does not fit ``n_ctx - max_tokens`` loses its oldest non-system
turns (a warning is logged); if even the system prompt and the last message do not fit,
ContextLengthExceeded is raised.
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from axocoatl.core.errors import ContextLengthExceeded, ProviderResponseError
from axocoatl.core.messages import ChatMessage, ToolSpec
from axocoatl.providers.base import ChatRequest

log = logging.getLogger(__name__)

DEFAULT_MAX_TOKENS: Final = 1024

# Used when a GGUF file carries no chat template.
_CHATML_TEMPLATE: Final = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def _tool_instructions(tools: Sequence[ToolSpec]) -> str:
    listing = json.dumps(
        [{"name": t.name, "description": t.description, "parameters": t.parameters} for t in tools],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return (
        "You can call these tools:\n"
        f"<tools>{listing}</tools>\n"
        "To call a tool, reply with only this, one line per call:\n"
        '<tool_call>{"name": "<tool name>", "arguments": {<arguments as a JSON object>}}</tool_call>\n'
        "You will get each result in the next message. Without a tool call, just answer."
    )


def _tool_call_text(message: ChatMessage) -> str:
    return "\n".join(
        "<tool_call>"
        + json.dumps({"name": call.name, "arguments": call.arguments}, ensure_ascii=False, separators=(",", ":"))
        + "</tool_call>"
        for call in message.tool_calls
    )


def _turn(message: ChatMessage) -> dict[str, str]:
    """One non-system message as a template turn (the templates know no tool role)."""
    if message.role == "tool":
        return {"role": "user", "content": f"Tool result ({message.name or 'tool'}): {message.content}"}
    if message.role == "assistant" and message.tool_calls:
        parts = [message.content.strip(), _tool_call_text(message)]
        return {"role": "assistant", "content": "\n".join(p for p in parts if p)}
    return {"role": message.role, "content": message.content}


def _merge_same_role(turns: list[dict[str, str]]) -> list[dict[str, str]]:
    # Strict templates (Llama 2, Mistral) demand alternating roles; ChatML does not care.
    merged: list[dict[str, str]] = []
    for turn in turns:
        if merged and merged[-1]["role"] == turn["role"]:
            merged[-1] = {"role": turn["role"], "content": merged[-1]["content"] + "\n\n" + turn["content"]}
        else:
            merged.append(dict(turn))
    return merged


@dataclass(frozen=True)
class Conversation:
    """A request split into the system prompt (always kept) and the turns (oldest may be dropped)."""

    system: str | None
    roles: tuple[str, ...]  # the original role of each turn ("tool" turns are rendered as user turns)
    turns: tuple[dict[str, str], ...]

    @classmethod
    def of(cls, request: ChatRequest) -> Conversation:
        system_parts = [m.content for m in request.messages if m.role == "system" and m.content.strip()]
        if request.tools:
            system_parts.append(_tool_instructions(request.tools))
        if request.response_format == "json":
            system_parts.append("Reply with one JSON value only.")
        rest = [m for m in request.messages if m.role != "system"]
        return cls(
            "\n\n".join(system_parts) if system_parts else None,
            tuple(m.role for m in rest),
            tuple(_turn(m) for m in rest),
        )

    def keep_last(self, dropped: int) -> list[dict[str, str]]:
        """The template messages after dropping ``dropped`` oldest turns.

        A conversation must not open with a reply or a tool result whose question or call was
        dropped, so leading assistant and tool turns go too (the last turn always stays).
        """
        start = dropped
        while start < len(self.turns) - 1 and self.roles[start] != "user":
            start += 1
        turns = list(self.turns[start:])
        messages = [{"role": "system", "content": self.system}] if self.system is not None else []
        return messages + _merge_same_role(turns)


class ChatTemplate:
    """The chat template stored in a GGUF file (ChatML for SmolLM2), rendering turns to prompt tokens."""

    def __init__(self, llama: Any, model_name: str) -> None:
        self.model_name = model_name
        self._llama = llama
        chat_format = importlib.import_module("llama_cpp.llama_chat_format")
        template = llama.metadata.get("tokenizer.chat_template") or _CHATML_TEMPLATE
        eos, bos = llama.token_eos(), llama.token_bos()
        self._formatter = chat_format.Jinja2ChatFormatter(
            template=template,
            eos_token=llama._model.token_get_text(eos) if eos != -1 else "",
            bos_token=llama._model.token_get_text(bos) if bos != -1 else "",
        )

    def tokens(self, messages: list[dict[str, str]]) -> list[int]:
        try:
            result = self._formatter(messages=messages)
        except Exception as exc:  # jinja2 errors, raise_exception() of strict templates
            raise ProviderResponseError(
                f"the chat template of {self.model_name} rejected the conversation: {exc}",
                provider="local",
            ) from exc
        tokens: list[int] = self._llama.tokenize(
            result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True
        )
        return tokens


@dataclass(frozen=True)
class Prompt:
    tokens: list[int]
    max_tokens: int


def fit_prompt(request: ChatRequest, template: ChatTemplate, n_ctx: int) -> Prompt:
    """Tokenized prompt that leaves room for the reply, dropping the oldest turns if needed."""
    max_tokens = request.max_tokens or min(DEFAULT_MAX_TOKENS, n_ctx // 2)
    budget = n_ctx - max_tokens
    conversation = Conversation.of(request)
    tokens = template.tokens(conversation.keep_last(0))
    if len(tokens) <= budget:
        return Prompt(tokens, max_tokens)
    # Find the fewest dropped turns that fit (binary search: the prompt shrinks as more go).
    lo, hi = 1, max(len(conversation.turns) - 1, 0)
    best: list[int] | None = None
    best_dropped = 0
    while lo <= hi:
        mid = (lo + hi) // 2
        candidate = template.tokens(conversation.keep_last(mid))
        if len(candidate) <= budget:
            best, best_dropped, hi = candidate, mid, mid - 1
        else:
            lo = mid + 1
    if best is None:
        smallest = len(template.tokens(conversation.keep_last(max(len(conversation.turns) - 1, 0))))
        raise ContextLengthExceeded(
            f"the prompt does not fit the local model's context: the system prompt and the last message "
            f"take {smallest} tokens, the reply reserves {max_tokens}, and n_ctx is {n_ctx}",
            provider="local",
            hint="raise providers.local.n_ctx, lower the agent's sampling.max_tokens, "
            "or shorten the system prompt and the message",
        )
    log.warning(
        "local model %s: the prompt (%d tokens) did not fit n_ctx=%d with %d tokens reserved for the reply; "
        "dropped the %d oldest message(s), %d tokens remain",
        template.model_name,
        len(tokens),
        n_ctx,
        max_tokens,
        best_dropped,
        len(best),
    )
    return Prompt(best, max_tokens)
