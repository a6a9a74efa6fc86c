"""Text embedders for semantic memory: the protocol, the hashed-v1 fallback, and the choice between them.

The neural embedder (all-MiniLM-L6-v2, see minilm.py) is used when its weights are
installed; otherwise the deterministic hashed-v1 embedder keeps recall working
(word-overlap quality) with no dependency at all. Every vector is L2-normalised, so
cosine similarity is a dot product.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Protocol

import numpy as np
import numpy.typing as npt

log = logging.getLogger(__name__)

Vectors = npt.NDArray[np.float32]

# FNV-1a 64-bit (the original's hashed-v1 constants).
_FNV_OFFSET = 0xCBF29CE484222325
_FNV_PRIME = 0x100000001B3
_MASK64 = 0xFFFFFFFFFFFFFFFF
HASHED_DIM = 512
_WORD_SPLIT = re.compile(r"[^\w]+|_+", re.UNICODE)

EMBEDDER_ENV = "AXOCOATL_EMBEDDER"  # auto (default), minilm or hashed


class Embedder(Protocol):
    """Turns texts into L2-normalised float32 vectors. ``embed`` is blocking: see ``run_embed``."""

    @property
    def id(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def releases_gil(self) -> bool:
        """True when embedding runs mostly outside the GIL (native code), so a thread runs it in parallel."""
        ...

    def embed(self, texts: Sequence[str]) -> Vectors: ...


class HashedEmbedder:
    """hashed-v1: 512-dim signed feature hashing of words and their character trigrams.

    Deterministic and dependency-free: used by unit tests and whenever the MiniLM
    weights are not installed. Similar wording gives similar vectors; meaning does not.
    """

    id = "hashed-v1"
    dim = HASHED_DIM
    releases_gil = False

    def embed(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), HASHED_DIM), dtype=np.float32)
        for row, text in enumerate(texts):
            _hash_into(out[row], text)
        return out


def _words(text: str) -> list[str]:
    # str.isalnum semantics (Unicode letters and digits), split on everything else.
    return _WORD_SPLIT.split(text.lower()) if text else []


def _fnv1a(data: bytes) -> int:
    h = _FNV_OFFSET
    for byte in data:
        h = ((h ^ byte) * _FNV_PRIME) & _MASK64
    return h


@functools.lru_cache(maxsize=65_536)
def _word_features(word: str) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.float64]]:
    """Indices and signs of the word and its character trigrams; words repeat, so this is cached."""
    features = [word]
    if len(word) >= 3:
        features.extend(word[i : i + 3] for i in range(len(word) - 2))
    hashes = [_fnv1a(feature.encode()) for feature in features]
    indices = np.array([h % HASHED_DIM for h in hashes], dtype=np.intp)
    signs = np.array([1.0 if h >> 63 else -1.0 for h in hashes], dtype=np.float64)
    return indices, signs


def _hash_into(vector: Vectors, text: str) -> None:
    features = [_word_features(word) for word in _words(text) if word]
    if features:
        indices = np.concatenate([f[0] for f in features])
        signs = np.concatenate([f[1] for f in features])
        # Sums of ±1 are exact in float64 and float32 alike: the same vector as adding one by one.
        vector += np.bincount(indices, weights=signs, minlength=HASHED_DIM).astype(np.float32)
    norm = float(np.linalg.norm(vector))
    if norm > 0:
        vector /= norm


# ------------------------------------------------------------------------------------ selection

_lock = threading.Lock()
_cached: dict[str, Embedder] = {}


def default_embedder() -> Embedder:
    """The process-wide embedder: MiniLM when installed, else hashed-v1 (or as AXOCOATL_EMBEDDER says).

    Loading MiniLM is lazy (the first ``embed`` reads the weights), so choosing it is cheap.
    The weights are immutable once loaded, so one instance is shared by every agent.
    """
    choice = os.environ.get(EMBEDDER_ENV, "auto").strip().lower() or "auto"
    with _lock:
        embedder = _cached.get(choice)
        if embedder is None:
            embedder = _choose(choice)
            _cached[choice] = embedder
        return embedder


def _choose(choice: str) -> Embedder:
    from axocoatl.memory.minilm import MiniLMEmbedder, minilm_model_dir

    if choice == "hashed":
        return HashedEmbedder()
    model_dir = minilm_model_dir()
    if model_dir is not None:
        return MiniLMEmbedder(model_dir)
    if choice == "minilm":
        log.warning(
            "%s=minilm but the all-MiniLM-L6-v2 weights are not installed (run scripts/install-embeddings.sh); "
            "using hashed-v1",
            EMBEDDER_ENV,
        )
    return HashedEmbedder()


_blas_local: Callable[[int], int] | None = None
_blas_probed = False


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run this thread's BLAS calls on one core.

    Memory's matrices are small: OpenBLAS's worker threads cost more in hand-offs than
    they save, and on a busy machine waking them made embedding 3-10x slower and a
    1000-row search take 20 ms instead of 0.1 ms (measured).
    openblas_set_num_threads_local changes only the calling thread.
    """
    setter = _blas_thread_setter()
    if setter is None:
        yield
        return
    previous = setter(1)
    try:
        yield
    finally:
        setter(max(previous, 1))


def _blas_thread_setter() -> Callable[[int], int] | None:
    global _blas_local, _blas_probed
    if _blas_probed:
        return _blas_local
    _blas_probed = True
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "openblas" in line and line.rstrip().endswith(".so")}
        for path in sorted(paths):
            fn = getattr(ctypes.CDLL(path), "openblas_set_num_threads_local", None)
            if fn is not None:
                fn.argtypes = [ctypes.c_int]
                fn.restype = ctypes.c_int
                _blas_local = fn
                break
    except OSError:  # not Linux, or another BLAS: keep its default threading
        _blas_local = None
    return _blas_local


# Below this many characters a pure-Python embedder runs on the event loop: it takes about
# 0.1 ms, while a worker thread would hold the GIL against the loop for up to the 5 ms switch
# interval (measured: 1.7 -> 10 ms per turn). Larger inputs still go to a thread.
INLINE_CHARS = 4000


async def run_embed(embedder: Embedder, texts: Sequence[str]) -> Vectors:
    """Embed without stalling the event loop: in a worker thread, unless that costs more than it saves."""
    if not getattr(embedder, "releases_gil", True) and sum(len(t) for t in texts) <= INLINE_CHARS:
        return embedder.embed(texts)
    return await asyncio.to_thread(embedder.embed, texts)


def to_blob(vector: Vectors) -> bytes:
    return np.ascontiguousarray(vector, dtype=np.float32).tobytes()


def from_blob(blob: bytes, dim: int) -> Vectors | None:
    """The stored vector, or None when its size does not match ``dim`` (another embedder, corruption)."""
    if len(blob) != dim * 4:
        return None
    return np.frombuffer(blob, dtype=np.float32)
