"""The model worker: one llama.cpp model per process, one generation at a time.

Each model file is loaded once per process and shared by every agent and provider instance
that uses it (a cache keyed by resolved path and ``n_ctx``). That is safe because the weights
are immutable once loaded: the only mutable part, the llama context (KV cache, sampler), is
owned by one worker thread per model, which runs one generation at a time. Concurrent calls
queue in FIFO order, so agents take turns fairly and the event loop never blocks. A cancelled
job stops at the next token; at interpreter exit the workers are stopped and the models freed.
"""

from __future__ import annotations

import asyncio
import atexit
import codecs
import contextlib
import ctypes
import importlib
import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from axocoatl.core.errors import AxocoatlError, ModelNotFound, ProviderResponseError
from axocoatl.core.messages import TokenUsage
from axocoatl.providers.base import ChatRequest, Done, FinishReason, StreamEvent, TextDelta, UsageReport
from axocoatl.providers.local.files import import_llama_cpp
from axocoatl.providers.local.prompt import ChatTemplate, fit_prompt
from axocoatl.providers.text_tools import TextToolFilter

log = logging.getLogger(__name__)

DEFAULT_TEMPERATURE: Final = 0.2
DEFAULT_TOP_P: Final = 0.95

# Prompt tokens evaluated per llama.cpp decode; a cached prompt prefix is reused in whole chunks.
_CHUNK: Final = 64


def default_threads() -> int:
    """Threads llama.cpp uses when ``providers.local.n_threads`` is not set: half the cores.

    Prompt evaluation too: with every core busy in llama.cpp, any other load on the machine (the
    event loop, another process) stalls its spinning thread barriers; measured on 2 shared
    cores, 2 threads evaluated prompts at 6-11 tokens/s where 1 thread did 60-85.
    """
    return max(1, (os.cpu_count() or 2) // 2)


@dataclass(eq=False)
class Job:
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


class LocalModel:
    """One loaded GGUF model and the worker thread that owns its llama context."""

    def __init__(self, path: Path, n_ctx: int, n_threads: int | None) -> None:
        self.path = path
        self.n_ctx = n_ctx
        self._lib = import_llama_cpp()
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
        self._template = ChatTemplate(self.llama, path.name)
        self._json_grammar: Any = None
        self._cached: list[int] = []  # prompt tokens whose KV (from aligned chunks) is in the context
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._current: Job | None = None
        self._thread = threading.Thread(target=self._serve, name=f"axocoatl-local:{path.name}", daemon=True)
        self._thread.start()
        log.info(
            "local model %s loaded in %.2f s (n_ctx=%d, %d threads)", path, self.load_seconds, n_ctx, self.n_threads
        )

    @property
    def busy(self) -> bool:
        """Whether a generation is running on this model right now."""
        return self._current is not None

    def submit(self, job: Job) -> None:
        self._jobs.put(job)

    def stop(self, timeout: float = 5.0) -> None:
        """Cancel the running generation and end the worker thread (used at interpreter exit)."""
        current = self._current
        if current is not None:
            current.cancelled.set()
        self._jobs.put(None)
        self._thread.join(timeout)

    # --------------------------------------------------------------- worker thread side

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

    def _evaluate_prompt(self, tokens: list[int], job: Job) -> bool:
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

    def _generate(self, job: Job) -> None:
        request = job.request
        prompt = fit_prompt(request, self._template, self.n_ctx)
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
