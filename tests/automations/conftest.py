"""These tests are about automations, not recall quality: use the fast hashing embedder."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def hashed_embedder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AXOCOATL_EMBEDDER", "hashed")
