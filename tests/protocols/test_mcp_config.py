"""mcp_servers in the config: transports, MCP names in allow-lists (globs), what validate says, tool naming."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.config.support import at, errors, load

from axocoatl.config.loader import load_config
from axocoatl.config.schema import MCPServerConfig
from axocoatl.core.errors import UsageError
from axocoatl.core.tool_names import mcp_tool_name, mcp_tool_server
from axocoatl.protocols.mcp.transport import http_headers, oauth
from axocoatl.tools.registry import Tool, ToolRegistry


def test_mcp_tool_names_are_safe_for_every_provider() -> None:
    assert mcp_tool_name("fs", "read_text_file") == "mcp__fs__read_text_file"
    assert mcp_tool_name("every", "get.sum/v2") == "mcp__every__get_sum_v2"
    assert len(mcp_tool_name("s", "x" * 100)) == 64
    assert mcp_tool_server("mcp__fs__*") == "fs"
    assert mcp_tool_server("echo") is None


def test_an_allow_list_names_configured_servers_by_name_or_glob() -> None:
    loaded = load(
        """\
        mcp_servers:
          - {name: fs, command: npx}
        agents:
          - id: a
            tools: [mcp__fs__*, mcp__fs__read_text_file, "read_*", mcp_read_resource]
        """
    )
    assert loaded.warnings == []


def test_an_unknown_server_in_an_allow_list_is_an_error() -> None:
    issues = errors(
        """\
        mcp_servers:
          - {name: files, command: npx}
        agents:
          - id: a
            tools: [mcp__file__read]
        """
    )
    issue = at(issues, "agents[a].tools[0]")
    assert issue.message == "tool 'mcp__file__read' names MCP server 'file', which is not configured"
    assert "files" in (issue.hint or "")


def test_a_glob_matching_nothing_and_mcp_tools_without_servers_are_warnings() -> None:
    loaded = load(
        """\
        agents:
          - id: a
            tools: ["nothing_*", mcp_get_prompt]
        """
    )
    assert [w.message for w in loaded.warnings] == [
        "tool pattern 'nothing_*' matches no tool",
        "tool 'mcp_get_prompt' has no effect: no mcp_servers are configured",
    ]


def test_transport_fields_must_match_the_transport() -> None:
    issues = errors(
        """\
        mcp_servers:
          - {name: a, command: npx, url: "http://127.0.0.1:1/mcp"}
          - {name: b, transport: streamable_http, url: "http://127.0.0.1:1/mcp", command: npx}
          - {name: c, transport: sse}
        """
    )
    assert "url, headers, bearer_token_env and oauth are for HTTP transports" in at(issues, "mcp_servers[a]").message
    assert "command, args, env and cwd are for stdio" in at(issues, "mcp_servers[b]").message
    assert "transport 'sse' needs a url" in at(issues, "mcp_servers[c]").message
    oauth = {"client_id_env": "ID", "client_secret_env": "SECRET"}
    both = errors(
        "mcp_servers:\n"
        f"  - {{name: d, transport: http, url: 'http://h/mcp', bearer_token_env: T, oauth: {json.dumps(oauth)}}}\n"
        f"  - {{name: e, command: npx, oauth: {json.dumps(oauth)}}}\n"
    )
    assert "either bearer_token_env or oauth" in at(both, "mcp_servers[d]").message
    assert "oauth are for HTTP transports" in at(both, "mcp_servers[e]").message


def test_oauth_without_an_issuer_is_warned_about() -> None:
    loaded = load(
        """\
        mcp_servers:
          - name: w
            transport: http
            url: http://h/mcp
            oauth: {client_id_env: ID, client_secret_env: S}
        """
    )
    [warning] = loaded.warnings
    assert warning.path == "mcp_servers[w].oauth" and "decides which authorization server" in warning.message


def test_oauth_credentials_come_from_the_environment() -> None:
    config = MCPServerConfig.model_validate(
        {
            "name": "w",
            "transport": "http",
            "url": "http://h/mcp",
            "oauth": {"client_id_env": "ID", "client_secret_env": "S"},
        }
    )
    assert oauth(config, {"ID": "me", "S": "secret"}) is not None
    with pytest.raises(UsageError, match=r"oauth: the environment variable S is not set"):
        oauth(config, {"ID": "me"})


def test_cwd_is_relative_to_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "axocoatl.yaml").write_text(
        "mcp_servers:\n  - {name: a, command: npx, cwd: sub}\n  - {name: b, command: npx}\n"
    )
    config = load_config(tmp_path / "axocoatl.yaml", env={}).config
    assert [s.cwd for s in config.mcp_servers] == [str(tmp_path / "sub"), str(tmp_path)]


def test_the_bearer_token_comes_from_the_environment() -> None:
    config = MCPServerConfig.model_validate(
        {"name": "w", "transport": "http", "url": "http://h/mcp", "headers": {"X-A": "1"}, "bearer_token_env": "TOK"}
    )
    assert http_headers(config, {"TOK": "abc"}) == {"X-A": "1", "Authorization": "Bearer abc"}
    with pytest.raises(UsageError, match="environment variable TOK"):
        http_headers(config, {})


async def _noop(args: dict[str, object], ctx: object) -> object:
    return None


def test_a_source_is_replaced_whole_and_globs_select_from_the_registry() -> None:
    registry = ToolRegistry([Tool("echo", "", {"type": "object"}, _noop)])
    tools = [Tool(f"mcp__fs__{n}", "", {"type": "object"}, _noop, source="mcp:fs") for n in ("read", "write")]
    assert registry.replace_source("mcp:fs", tools) == []
    assert [s.name for s in registry.view("a", ["mcp__fs__*"]).specs()] == ["mcp__fs__read", "mcp__fs__write"]
    assert registry.replace_source("mcp:fs", tools[:1]) == []
    assert registry.get("mcp__fs__write") is None
    clash = Tool("echo", "", {"type": "object"}, _noop, source="mcp:x")
    assert registry.replace_source("mcp:x", [clash]) == ["echo"]  # the built-in keeps its name
    assert registry.get("echo") is not None and registry.get("echo").source == "builtin"  # type: ignore[union-attr]
