"""The registry builds the remote adapters from the config sections."""

from __future__ import annotations

import pytest

from axocoatl.config.schema import AxocoatlConfig
from axocoatl.core.errors import AuthenticationFailed
from axocoatl.core.messages import ChatMessage
from axocoatl.providers.anthropic import AnthropicProvider
from axocoatl.providers.base import ChatRequest, Provider, complete
from axocoatl.providers.gemini import GeminiProvider
from axocoatl.providers.ollama import OllamaProvider
from axocoatl.providers.openai_compat import OpenAICompatProvider
from axocoatl.providers.registry import build_provider


@pytest.mark.parametrize(
    ("name", "kind", "base_url"),
    [
        ("openai", OpenAICompatProvider, "https://api.openai.com/v1"),
        ("openrouter", OpenAICompatProvider, "https://openrouter.ai/api/v1"),
        ("mistral", OpenAICompatProvider, "https://api.mistral.ai/v1"),
        ("anthropic", AnthropicProvider, "https://api.anthropic.com"),
        ("gemini", GeminiProvider, "https://generativelanguage.googleapis.com"),
        ("ollama", OllamaProvider, "http://localhost:11434"),
    ],
)
async def test_build_remote_providers(name: str, kind: type, base_url: str) -> None:
    provider = build_provider(AxocoatlConfig(), name)
    assert isinstance(provider, kind) and isinstance(provider, Provider)
    assert provider.name == name
    assert provider.base_url == base_url  # type: ignore[attr-defined]
    await provider.aclose()


async def test_sections_reach_the_adapter() -> None:
    config = AxocoatlConfig.model_validate(
        {
            "providers": {
                "openai": {"base_url": "http://127.0.0.1:8000", "max_retries": 0, "timeout_secs": 5},
                "ollama": {"base_url": "http://gpu-box:11434", "model": "qwen2.5:7b"},
            }
        }
    )
    openai = build_provider(config, "openai")
    assert openai.base_url == "http://127.0.0.1:8000/v1"  # type: ignore[attr-defined]
    ollama = build_provider(config, "ollama")
    assert ollama.default_model() == "qwen2.5:7b"
    for provider in (openai, ollama):
        await provider.aclose()


async def test_a_missing_key_surfaces_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    provider = build_provider(AxocoatlConfig(), "anthropic")  # building never fails for a missing key
    with pytest.raises(AuthenticationFailed, match="ANTHROPIC_API_KEY is not set"):
        await complete(provider, ChatRequest("", (ChatMessage.user("hi"),)))
    await provider.aclose()
