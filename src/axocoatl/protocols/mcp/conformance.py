"""`axocoatl mcp conformance-client URL`: our client code driven through the official conformance suite's
client scenarios (a test aid). The suite starts a scenario server, runs this with the server's URL, and
names the scenario in MCP_CONFORMANCE_SCENARIO; the process must exit 0 once it has done what the
scenario asks.
"""

from __future__ import annotations

import os
from typing import Any

import mcp_types as types

from axocoatl.config.schema import MCPServerConfig
from axocoatl.core.errors import UsageError
from axocoatl.protocols.mcp.clients import MCPClients
from axocoatl.protocols.mcp.elicitation import schema_defaults

# What each scenario asks of a client beyond connecting: tool calls, by tool name, with arguments.
CALLS: dict[str, dict[str, dict[str, Any]]] = {
    "initialize": {},
    "tools_call": {"add_numbers": {"a": 5, "b": 3}},
    "elicitation-sep1034-client-defaults": {"test_client_elicitation_defaults": {}},
    "sse-retry": {"test_reconnection": {}},
}


async def accept_with_defaults(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
    """Accept a form, filling every field the schema gives a default for (SEP-1034)."""
    return types.ElicitResult(action="accept", content=schema_defaults(params))


# OAuth client-credentials scenarios hand the credentials over in MCP_CONFORMANCE_CONTEXT; our client
# reads them from the environment, as it would in a project (mcp_servers[].oauth).
OAUTH_SCENARIOS = {"auth/client-credentials-basic": "client_secret_basic"}


async def run_scenario(url: str, scenario: str, context: dict[str, Any] | None = None) -> list[str]:
    """Connect to ``url`` with our client and do what ``scenario`` asks; returns what was called."""
    if scenario not in CALLS and scenario not in OAUTH_SCENARIOS:
        known = ", ".join([*CALLS, *OAUTH_SCENARIOS])
        raise UsageError(f"conformance scenario '{scenario}' is not supported", hint=f"supported: {known}")
    fields: dict[str, Any] = {"name": "conformance", "transport": "streamable_http", "url": url}
    if scenario in OAUTH_SCENARIOS:
        os.environ["CONFORMANCE_CLIENT_ID"] = str((context or {}).get("client_id", ""))
        os.environ["CONFORMANCE_CLIENT_SECRET"] = str((context or {}).get("client_secret", ""))
        fields["oauth"] = {
            "client_id_env": "CONFORMANCE_CLIENT_ID",
            "client_secret_env": "CONFORMANCE_CLIENT_SECRET",
            "token_endpoint_auth_method": OAUTH_SCENARIOS[scenario],
        }
    config = MCPServerConfig.model_validate({**fields, "startup_timeout_secs": 20})
    clients = MCPClients([config], elicitation=lambda _: accept_with_defaults)
    called: list[str] = []
    try:
        await clients.start()
        connection = clients.connections["conformance"]
        state = connection.state
        if state.status != "connected":
            raise UsageError(f"could not connect to {url}: {state.last_error}")
        listed = {t.name for t in state.tools}
        for tool, arguments in CALLS.get(scenario, {}).items():
            if tool in listed or not listed:
                result = await connection.call_tool(tool, arguments)
                called.append(f"{tool}: {'error' if result.is_error else 'ok'}")
    finally:
        await clients.aclose()
    return called
