"""Builds provider instances by name from the config; adapters are imported lazily."""

from __future__ import annotations

from collections.abc import Callable

from axocoatl.config.schema import AxocoatlConfig
from axocoatl.core.errors import UsageError
from axocoatl.providers.base import Provider

ProviderFactory = Callable[[AxocoatlConfig, str], Provider]

KNOWN_PROVIDERS = ("local", "mock", "ollama", "openai", "openrouter", "mistral", "anthropic", "gemini", "a2a")


def _mock(config: AxocoatlConfig, name: str) -> Provider:
    from axocoatl.providers.mock import MockProvider

    return MockProvider()


def _local(config: AxocoatlConfig, name: str) -> Provider:
    from axocoatl.providers.local import LocalProvider

    return LocalProvider(config.providers.local)


def _ollama(config: AxocoatlConfig, name: str) -> Provider:
    from axocoatl.config.schema import OllamaProviderConfig
    from axocoatl.providers.ollama import OllamaProvider

    return OllamaProvider(config.providers.ollama or OllamaProviderConfig())


def _remote(config: AxocoatlConfig, name: str) -> Provider:
    from axocoatl.config.schema import RemoteProviderConfig

    section = getattr(config.providers, name) or RemoteProviderConfig()
    env = config.environment()  # the .env beside the config too, when it was loaded from a file
    if name == "anthropic":
        from axocoatl.providers.anthropic import AnthropicProvider

        return AnthropicProvider(section, env=env)
    if name == "gemini":
        from axocoatl.providers.gemini import GeminiProvider

        return GeminiProvider(section, env=env)
    from axocoatl.providers.openai_compat import OpenAICompatProvider

    return OpenAICompatProvider.preset(name, section, env=env)


def _a2a(config: AxocoatlConfig, name: str) -> Provider:
    from axocoatl.providers.a2a import A2AProvider

    return A2AProvider(config.a2a_agents)


_FACTORIES: dict[str, ProviderFactory] = {
    "a2a": _a2a,
    "mock": _mock,
    "local": _local,
    "ollama": _ollama,
    "openai": _remote,
    "openrouter": _remote,
    "mistral": _remote,
    "anthropic": _remote,
    "gemini": _remote,
}


def build_provider(config: AxocoatlConfig, name: str) -> Provider:
    """Create the provider called ``name``; raises UsageError for an unknown name."""
    factory = _FACTORIES.get(name)
    if factory is None:
        raise UsageError(
            f"unknown provider {name!r}",
            hint=f"use one of: {', '.join(KNOWN_PROVIDERS)}",
        )
    return factory(config, name)
