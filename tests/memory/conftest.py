"""Memory tests run on the deterministic hashed-v1 embedder unless they say otherwise (the real
MiniLM model has its own slow test)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from axocoatl.config.schema import AxocoatlConfig
from axocoatl.memory.embedding import HashedEmbedder
from axocoatl.runtime.runtime import Runtime

from .support import config


@pytest.fixture
def memory_runtime(tmp_path: Path) -> Callable[..., Runtime]:
    """Build (not start) a Runtime over one temp data dir: build it again to 'restart the process'."""

    def build(cfg: AxocoatlConfig | str, **kwargs: object) -> Runtime:
        if isinstance(cfg, str):
            cfg = config(cfg)
        kwargs.setdefault("embedder", HashedEmbedder())
        return Runtime(cfg, data_dir=tmp_path / "data", **kwargs)  # type: ignore[arg-type]

    return build
