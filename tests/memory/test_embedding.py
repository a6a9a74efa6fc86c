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
