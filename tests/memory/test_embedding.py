"""Embedders: hashed-v1 (deterministic fallback) and the numpy all-MiniLM-L6-v2 forward pass."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from axocoatl.core.ids import SystemClock
from axocoatl.memory import embedding
from axocoatl.memory.embedding import HashedEmbedder, default_embedder, from_blob, to_blob
from axocoatl.memory.minilm import MiniLMEmbedder, minilm_model_dir
from axocoatl.memory.semantic import SemanticMemory
from axocoatl.runtime.runtime import Runtime

from .support import config


def test_fnv1a_matches_the_reference_values() -> None:
    assert embedding._fnv1a(b"") == 0xCBF29CE484222325
    assert embedding._fnv1a(b"a") == 0xAF63DC4C8601EC8C


def test_hashed_vectors_are_deterministic_normalised_and_overlap_sensitive() -> None:
    e = HashedEmbedder()
    a, b, c, empty = e.embed(["The cat sat on the mat", "the CAT sat on a mat!", "Quarterly revenue grew", ""])
    assert a.shape == (512,) and a.dtype == np.float32
    assert np.allclose(e.embed(["The cat sat on the mat"])[0], a)
    assert abs(float(np.linalg.norm(a)) - 1.0) < 1e-6
    assert float(a @ b) > 0.8 > float(a @ c)
    assert not empty.any()


def test_blob_round_trip_and_size_check() -> None:
    vector = HashedEmbedder().embed(["hello"])[0]
    assert np.array_equal(from_blob(to_blob(vector), 512), vector)  # type: ignore[arg-type]
    assert from_blob(to_blob(vector), 384) is None


def test_the_environment_can_force_the_hashed_embedder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedding, "_cached", {})
    monkeypatch.setenv(embedding.EMBEDDER_ENV, "hashed")
    assert default_embedder().id == "hashed-v1"


def test_without_the_model_the_default_falls_back_to_hashed(monkeypatch: pytest.MonkeyPatch) -> None:
    import axocoatl.memory.minilm as minilm

    monkeypatch.setattr(embedding, "_cached", {})
    monkeypatch.setattr(minilm, "minilm_model_dir", lambda: None)
    monkeypatch.delenv(embedding.EMBEDDER_ENV, raising=False)
    assert default_embedder().id == "hashed-v1"


class _Store:
    async def load_memories(self, agent_id: str) -> list[object]:
        return []


async def test_semantic_search_ranks_and_filters_strictly_above_min_score() -> None:
    memory = SemanticMemory("a", _Store(), HashedEmbedder(), SystemClock())  # type: ignore[arg-type]
    texts = ["bees make honey in hives", "the stock market fell", "honey bees and their hives"]
    memory.add_vectors(texts, HashedEmbedder().embed(texts), ts=0.0)
    found = await memory.search("honey bees hives", 3)
    assert {r.text for r in found[:2]} == {"honey bees and their hives", "bees make honey in hives"}
    assert found[0].score >= found[1].score > found[2].score
    cutoff = found[1].score
    assert [r.text for r in await memory.search("honey bees hives", 3, min_score=cutoff)] == [found[0].text]
    assert await memory.search("", 3) == [] and await memory.search("bees", 0) == []


needs_minilm = pytest.mark.skipif(minilm_model_dir() is None, reason="run scripts/install-embeddings.sh")


@pytest.mark.slow
@needs_minilm
async def test_minilm_ranks_a_related_sentence_above_an_unrelated_one() -> None:
    model_dir = minilm_model_dir()
    assert model_dir is not None
    embedder = MiniLMEmbedder(model_dir)
    cat, kitten, stocks = embedder.embed(["A cat sits on the mat.", "A kitten rests on a rug.", "Stocks fell."])
    assert embedder.dim == 384 and abs(float(np.linalg.norm(cat)) - 1.0) < 1e-5
    # Reference values from sentence-transformers (dependencies.md: 0.597-0.665 vs ~0.05-0.09).
    assert float(cat @ kitten) > 0.5 > 0.2 > float(cat @ stocks)

    memory = SemanticMemory("a", _Store(), embedder, SystemClock())  # type: ignore[arg-type]
    texts = [
        "User: My dog Biscuit is a golden retriever who loves swimming.\nAssistant: Lovely!",
        "User: The invoice for October is overdue.\nAssistant: I'll remind accounting.",
        "User: Let's use PostgreSQL for the analytics service.\nAssistant: Agreed.",
    ]
    memory.add_vectors(texts, embedder.embed(texts), ts=0.0)
    found = await memory.search("What kind of pet do I have?", 3)
    assert found[0].text == texts[0]  # no word overlap with the query: meaning, not spelling
    found = await memory.search("which database did we pick", 3)
    assert found[0].text == texts[2]
    # Padding must not change a vector: the same text alone and in a batch of longer texts.
    alone = embedder.embed([texts[1]])[0]
    batched = embedder.embed([texts[1], "a much longer sentence " * 20])[0]
    assert float(alone @ batched) > 0.9999


@pytest.mark.slow
@needs_minilm
async def test_runtime_recall_uses_minilm_by_meaning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(embedding, "_cached", {})
    monkeypatch.delenv(embedding.EMBEDDER_ENV, raising=False)
    told = """
    agents:
      - id: ada
        provider: mock
        options: {reply: "Noted."}
    """
    asked = told.replace(
        '{reply: "Noted."}',
        '{reply: "ok", tool_calls: [{name: recall_search, arguments: {query: "What kind of pet do I have?"}}]}',
    )
    async with Runtime(config(told), data_dir=tmp_path) as rt:
        assert rt.memory.embedder.id == "minilm-l6-v2"  # the default when the weights are installed
        for text in (
            "My dog Biscuit is a golden retriever who loves swimming.",
            "The invoice for October is overdue.",
            "Let's use PostgreSQL for the analytics service.",
        ):
            await rt.execute("ada", text)
    async with Runtime(config(asked), data_dir=tmp_path) as rt:
        await rt.agent("ada").reset_session()
        out = await rt.execute("ada", "Remind me about my pet")
    results = json.loads(out.tool_calls[0].result)["results"]
    assert "golden retriever" in results[0]["text"]


@given(st.text(max_size=300))
@settings(max_examples=200, deadline=None)
def test_hashed_embedding_matches_the_reference_algorithm(text: str) -> None:
    # The reference: split on non-alphanumerics, FNV-1a-64 of each word and of its trigrams.
    expected = np.zeros(512, dtype=np.float32)
    word = ""
    words = []
    for char in text.lower():
        if char.isalnum():
            word += char
        elif word:
            words.append(word)
            word = ""
    if word:
        words.append(word)
    for w in words:
        for feature in [w, *(w[i : i + 3] for i in range(len(w) - 2) if len(w) >= 3)]:
            h = 0xCBF29CE484222325
            for byte in feature.encode():
                h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
            expected[h % 512] += 1.0 if h >> 63 else -1.0
    norm = np.linalg.norm(expected)
    if norm:
        expected /= norm
    assert np.array_equal(HashedEmbedder().embed([text])[0], expected)


@needs_minilm
async def test_minilm_cached_vectors_are_the_forward_pass_and_recall_the_same() -> None:
    """The text cache changes no vector and no recall ranking (fixed stored vectors, fixed queries)."""
    from axocoatl.memory import minilm

    model_dir = minilm_model_dir()
    assert model_dir is not None
    queries = ["Where does Ingrid keep her bees?", "the quarterly report outline", "what is a write-ahead log"]
    cached = MiniLMEmbedder(model_dir)
    first = cached.embed(queries)
    again = cached.embed([queries[1], "a text not seen before", queries[0]])  # hits and a miss in one call
    uncached = MiniLMEmbedder(model_dir)
    assert np.array_equal(first, uncached.embed(queries))  # the same batch, the same forward pass
    assert np.array_equal(again[[0, 2]], first[[1, 0]])  # hits: the vectors computed before
    assert np.array_equal(again[1], minilm._encode(cached._loaded(), ["a text not seen before"])[0])

    rng = np.random.default_rng(19)
    stored = rng.standard_normal((200, cached.dim)).astype(np.float32)
    stored /= np.linalg.norm(stored, axis=1, keepdims=True)
    stored[7] = first[0]  # the memory the first query must find first
    texts = [f"memory {i}" for i in range(200)]
    results = []
    for embedder in (cached, MiniLMEmbedder(model_dir)):  # warm cache vs an embedder that never saw them
        memory = SemanticMemory("bench", None, embedder, SystemClock(), persist=False)  # type: ignore[arg-type]
        memory.add_vectors(texts, stored, 1.0)
        results.append([[(r.text, r.score) for r in await memory.search(q, 5)] for q in queries])
    # The same memories in the same order; scores equal to float32 rounding (a vector computed in a
    # batch differs from one computed alone in the last bits, cached or not).
    assert [[t for t, _ in found] for found in results[0]] == [[t for t, _ in found] for found in results[1]]
    assert [[s for _, s in found] for found in results[0]] == [
        [pytest.approx(s, abs=1e-6) for _, s in found] for found in results[1]
    ]
    assert results[0][0][0][0] == "memory 7"


@needs_minilm
async def test_minilm_vectors_match_the_recorded_reference_alone_and_batched() -> None:
    """Fixed texts against vectors recorded by the plain (384, N) matmul forward pass of commit 7b5cd37,
    which matched sentence-transformers to ~1e-6: a faster forward pass must not move a vector, a
    similarity or a recall ranking. Never regenerate data/minilm_reference.npz from the code under test."""
    model_dir = minilm_model_dir()
    assert model_dir is not None
    data = np.load(Path(__file__).parent / "data" / "minilm_reference.npz", allow_pickle=False)
    texts, reference = [str(t) for t in data["texts"]], data["vectors"]
    alone = np.stack([MiniLMEmbedder(model_dir).embed([text])[0] for text in texts])
    batched = MiniLMEmbedder(model_dir).embed(texts)  # padded to the longest: the attention mask at work
    for vectors in (alone, batched):
        assert vectors.dtype == np.float32 and vectors.shape == reference.shape
        assert float(np.abs(vectors - reference).max()) < 1e-6
        assert np.allclose(vectors @ reference.T, reference @ reference.T, rtol=0, atol=1e-6)

    memory = SemanticMemory("ref", None, MiniLMEmbedder(model_dir), SystemClock(), persist=False)  # type: ignore[arg-type]
    memory.add_vectors(texts, reference, 1.0)
    for i, text in enumerate(texts):
        found = await memory.search(text, len(texts))
        expected = np.argsort(-(reference @ reference[i]), kind="stable")
        assert [r.text for r in found] == [texts[j] for j in expected]


@needs_minilm
def test_minilm_callers_in_many_threads_each_get_their_own_vectors_and_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Concurrent embed calls share forward passes: each caller still gets exactly its texts' vectors."""
    from concurrent.futures import ThreadPoolExecutor

    from axocoatl.memory import minilm

    model_dir = minilm_model_dir()
    assert model_dir is not None
    data = np.load(Path(__file__).parent / "data" / "minilm_reference.npz", allow_pickle=False)
    texts, reference = [str(t) for t in data["texts"]], data["vectors"]
    embedder = MiniLMEmbedder(model_dir)
    calls = [[texts[i % 6], texts[(i * 5 + 1) % 6]] if i % 3 else [texts[i % 6]] for i in range(60)]
    with ThreadPoolExecutor(8) as pool:
        # A new embedder each time keeps the text cache out of it: every call needs a forward pass.
        results = list(pool.map(lambda call: MiniLMEmbedder(model_dir).embed(call), calls))
        shared = list(pool.map(embedder.embed, calls))
    for call, vectors, again in zip(calls, results, shared, strict=True):
        expected = reference[[texts.index(t) for t in call]]
        assert vectors.shape == again.shape == expected.shape
        assert float(np.abs(vectors - expected).max()) < 1e-6 and float(np.abs(again - expected).max()) < 1e-6

    broken = MiniLMEmbedder(model_dir)
    broken._loaded()
    original = minilm._encode

    def fail(model: object, batch: list[str]) -> object:
        if any("boom" in t for t in batch):
            raise RuntimeError("forward pass failed")
        return original(model, batch)  # type: ignore[arg-type]

    monkeypatch.setattr(minilm, "_encode", fail)
    with ThreadPoolExecutor(4) as pool:
        outcomes = list(pool.map(lambda t: _outcome(broken, t), ["boom one", "fine", "boom two", "also fine"] * 3))
    for text, outcome in zip(["boom one", "fine", "boom two", "also fine"] * 3, outcomes, strict=True):
        # A failed pass fails its callers (and possibly others of the same round), never hangs one.
        assert outcome == "forward pass failed" or ("boom" not in text and outcome == "ok")
    assert broken.embed(["fine after the failure"]).shape == (1, 384)  # the queue is not left stuck


def _outcome(embedder: MiniLMEmbedder, text: str) -> str:
    try:
        embedder.embed([text])
    except RuntimeError as exc:
        return str(exc)
    return "ok"
