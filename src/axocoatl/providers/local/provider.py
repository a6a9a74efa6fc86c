"""LocalProvider: the provider protocol over the process's shared local models."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from axocoatl.config.schema import LocalProviderConfig
from axocoatl.providers.base import ChatRequest, ProviderCapabilities, StreamEvent
from axocoatl.providers.local.files import DEFAULT_MODEL, import_llama_cpp, resolve_model_path
from axocoatl.providers.local.prompt import DEFAULT_MAX_TOKENS
from axocoatl.providers.local.worker import Job, LocalModel, load_model


class LocalProvider:
    """llama.cpp in-process; the embedded default provider. See the package docstring."""

    name = "local"

    def __init__(self, config: LocalProviderConfig | None = None) -> None:
        self.config = config or LocalProviderConfig()
        self._active: set[Job] = set()

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
        import_llama_cpp()
        path = resolve_model_path(model, self.config)
        return load_model(path, self.config.n_ctx, self.config.n_threads)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        model = await self.model(request.model)
        job = Job(
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
