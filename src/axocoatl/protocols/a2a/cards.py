"""Agent cards for what the config exposes: A2A 1.0 interfaces, plus 0.3 ones so 0.3 clients accept them.

Each exposed agent or workflow has its endpoint at ``{base}/a2a/{ref}`` (JSON-RPC at that URL,
HTTP+JSON below it), for both protocol lines. The SDK adds the 0.3 top-level fields (``url``,
``preferredTransport``, ``protocolVersion``) from the first 0.3 interface when it serves a card.
"""

from __future__ import annotations

from a2a.types.a2a_pb2 import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentProvider,
    AgentSkill,
    APIKeySecurityScheme,
    HTTPAuthSecurityScheme,
    SecurityRequirement,
    SecurityScheme,
    StringList,
)
from a2a.utils.constants import TransportProtocol

from axocoatl import __version__
from axocoatl.config.exposure import Target
from axocoatl.config.schema import AuthConfig

A2A_PREFIX = "/a2a/"
PROTOCOL_VERSIONS = ("1.0", "0.3.0")
TEXT = ["text/plain"]


def endpoint_url(base_url: str, target: Target) -> str:
    return base_url.rstrip("/") + A2A_PREFIX + target.ref


def interfaces(url: str) -> list[AgentInterface]:
    bindings = (TransportProtocol.JSONRPC, TransportProtocol.HTTP_JSON)
    return [
        AgentInterface(url=url, protocol_binding=binding.value, protocol_version=version)
        for version in PROTOCOL_VERSIONS
        for binding in bindings
    ]


def skill(target: Target) -> AgentSkill:
    kind = "workflow" if target.kind == "workflow" else "agent"
    return AgentSkill(
        id=target.ref,
        name=target.name,
        description=target.description,
        tags=[kind, "axocoatl"],
        input_modes=TEXT,
        output_modes=TEXT,
    )


def _security(auth: AuthConfig) -> tuple[dict[str, SecurityScheme], list[SecurityRequirement]]:
    schemes: dict[str, SecurityScheme] = {}
    if auth.api_keys:
        schemes["apiKey"] = SecurityScheme(
            api_key_security_scheme=APIKeySecurityScheme(
                location="header", name="x-api-key", description="A key of server.auth.api_keys."
            )
        )
    if auth.bearer_tokens:
        schemes["bearer"] = SecurityScheme(
            http_auth_security_scheme=HTTPAuthSecurityScheme(
                scheme="Bearer", description="A token of server.auth.bearer_tokens."
            )
        )
    # Any one of them will do: each requirement is an alternative.
    return schemes, [SecurityRequirement(schemes={name: StringList()}) for name in schemes]


def agent_card(
    *, name: str, description: str, url: str, skills: list[Target], auth: AuthConfig, base_url: str, push: bool
) -> AgentCard:
    schemes, requirements = _security(auth)
    return AgentCard(
        name=name,
        description=description,
        version=__version__,
        supported_interfaces=interfaces(url),
        provider=AgentProvider(organization="axocoatl", url=base_url.rstrip("/")),
        capabilities=AgentCapabilities(streaming=True, push_notifications=push),
        security_schemes=schemes,
        security_requirements=requirements,
        default_input_modes=TEXT,
        default_output_modes=TEXT,
        skills=[skill(t) for t in skills],
    )


def target_card(target: Target, auth: AuthConfig, base_url: str, *, push: bool) -> AgentCard:
    """The card of one exposed agent or workflow (served at ``/a2a/{ref}/.well-known/agent-card.json``)."""
    return agent_card(
        name=target.name,
        description=target.description,
        url=endpoint_url(base_url, target),
        skills=[target],
        auth=auth,
        base_url=base_url,
        push=push,
    )
