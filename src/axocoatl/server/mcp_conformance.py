"""The fixture surface the official MCP conformance suite's server scenarios call — a test aid, not a feature.

`axocoatl mcp serve --conformance [--http 127.0.0.1:PORT]` serves it: the tools, resources and prompts
of the reference "everything server" contract (``test_simple_text``, ``test://static-text``,
``test_simple_prompt``, ...), on the same SDK server class and transports as the agents' server, so
the suite exercises our serving code. The values are the ones the suite's scenario texts specify.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import mcp_types as types
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.prompts.base import Message, UserMessage

from axocoatl import __version__

# A 1x1 red PNG and a tiny silent WAV: the smallest valid images and sounds.
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg=="
WAV = "UklGRiQAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YQAAAAA="
JSON_SCHEMA_2020_12 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {"address": {"type": "object", "properties": {"street": {"type": "string"}, "city": {"type": "string"}}}},
    "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
    "additionalProperties": False,
}


class ConformanceServer(MCPServer):
    """The fixtures; one tool's schema is replaced to carry the JSON Schema 2020-12 keywords verbatim."""

    async def list_tools(self) -> list[types.Tool]:
        tools = await super().list_tools()
        return [
            t.model_copy(update={"input_schema": JSON_SCHEMA_2020_12}) if t.name == "json_schema_2020_12_tool" else t
            for t in tools
        ]


def build_conformance_server() -> MCPServer:
    server = ConformanceServer("axocoatl-conformance", version=__version__)
    _tools(server)
    _resources(server)
    _prompts(server)
    low = server._lowlevel_server  # the SDK has no MCPServer-level hooks for these three requests
    subscriptions: set[str] = set()

    async def set_level(ctx: Any, params: types.SetLevelRequestParams) -> types.EmptyResult:
        return types.EmptyResult()

    async def subscribe(ctx: Any, params: types.SubscribeRequestParams) -> types.EmptyResult:
        subscriptions.add(str(params.uri))
        return types.EmptyResult()

    async def unsubscribe(ctx: Any, params: types.UnsubscribeRequestParams) -> types.EmptyResult:
        subscriptions.discard(str(params.uri))
        return types.EmptyResult()

    low.add_request_handler("logging/setLevel", types.SetLevelRequestParams, set_level)
    low.add_request_handler("resources/subscribe", types.SubscribeRequestParams, subscribe)
    low.add_request_handler("resources/unsubscribe", types.UnsubscribeRequestParams, unsubscribe)

    @server.completion()  # type: ignore[untyped-decorator, no-untyped-call]
    async def complete(ref: Any, argument: types.CompletionArgument, context: Any) -> types.Completion:
        values = [v for v in ("paris", "park", "party") if v.startswith(argument.value)]
        return types.Completion(values=values, total=len(values), has_more=False)

    return server


def _text(text: str) -> types.TextContent:
    return types.TextContent(type="text", text=text)


def _tools(server: MCPServer) -> None:
    @server.tool()
    def test_simple_text() -> str:
        """Returns simple text content."""
        return "This is a simple text response for testing."

    @server.tool()
    def test_image_content() -> list[types.ContentBlock]:
        """Returns image content."""
        return [types.ImageContent(type="image", data=PNG, mime_type="image/png")]

    @server.tool()
    def test_audio_content() -> list[types.ContentBlock]:
        """Returns audio content."""
        return [types.AudioContent(type="audio", data=WAV, mime_type="audio/wav")]

    @server.tool()
    def test_embedded_resource() -> list[types.ContentBlock]:
        """Returns an embedded resource."""
        contents = types.TextResourceContents(
            uri="test://embedded-resource", mime_type="text/plain", text="This is an embedded resource content."
        )
        return [types.EmbeddedResource(type="resource", resource=contents)]

    @server.tool()
    def test_multiple_content_types() -> list[types.ContentBlock]:
        """Returns text, an image and a resource."""
        contents = types.TextResourceContents(
            uri="test://mixed-content-resource", mime_type="application/json", text='{"test":"data","value":123}'
        )
        return [
            _text("Multiple content types test:"),
            types.ImageContent(type="image", data=PNG, mime_type="image/png"),
            types.EmbeddedResource(type="resource", resource=contents),
        ]

    @server.tool()
    async def test_tool_with_logging(ctx: Context) -> str:
        """Sends three log messages while it runs."""
        await ctx.log("info", "Tool execution started")
        await asyncio.sleep(0.05)
        await ctx.log("info", "Tool processing data")
        await asyncio.sleep(0.05)
        await ctx.log("info", "Tool execution completed")
        return "Tool with logging executed successfully"

    @server.tool()
    async def test_tool_with_progress(ctx: Context) -> str:
        """Reports progress 0, 50, 100 of 100."""
        for done in (0, 50, 100):
            await ctx.report_progress(done, 100)
            if done < 100:
                await asyncio.sleep(0.05)
        return "Tool with progress executed successfully"

    @server.tool()
    def test_error_handling() -> str:
        """Always fails."""
        raise RuntimeError("This tool intentionally returns an error for testing")

    @server.tool()
    async def test_sampling(prompt: str, ctx: Context) -> str:
        """Asks the client's model to answer PROMPT."""
        message = types.SamplingMessage(role="user", content=_text(prompt))
        # On the call's own response stream: the standalone GET stream may not be open yet.
        session = ctx.request_context.session
        result = await session.create_message([message], max_tokens=100, related_request_id=ctx.request_id)
        content = result.content
        text = content.text if isinstance(content, types.TextContent) else json.dumps(content, default=str)
        return f"LLM response: {text}"

    @server.tool()
    async def test_elicitation(message: str, ctx: Context) -> str:
        """Asks the user for a username and an email."""
        schema = {
            "type": "object",
            "properties": {
                "username": {"type": "string", "description": "User's response"},
                "email": {"type": "string", "description": "User's email address"},
            },
            "required": ["username", "email"],
        }
        result = await _elicit(ctx, message, schema)
        return f"User response: action={result.action}, content={json.dumps(result.content)}"

    @server.tool()
    async def test_elicitation_sep1034_defaults(ctx: Context) -> str:
        """Asks for values of every primitive type, each with a default."""
        schema = {
            "type": "object",
            "properties": {
                "name": {"type": "string", "default": "John Doe"},
                "age": {"type": "integer", "default": 30},
                "score": {"type": "number", "default": 95.5},
                "status": {"type": "string", "enum": ["active", "inactive", "pending"], "default": "active"},
                "verified": {"type": "boolean", "default": True},
            },
        }
        result = await _elicit(ctx, "Please review and update the form fields with defaults", schema)
        return f"Elicitation completed: action={result.action}, content={json.dumps(result.content)}"

    @server.tool()
    async def test_elicitation_sep1330_enums(ctx: Context) -> str:
        """Asks for a choice in each of the five enum forms."""
        titled = [{"const": f"value{i}", "title": t} for i, t in enumerate(("First", "Second", "Third"), 1)]
        schema = {
            "type": "object",
            "properties": {
                "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
                "titledSingle": {"type": "string", "oneOf": [{**c, "title": f"{c['title']} Option"} for c in titled]},
                "legacyEnum": {
                    "type": "string",
                    "enum": ["opt1", "opt2", "opt3"],
                    "enumNames": ["Option One", "Option Two", "Option Three"],
                },
                "untitledMulti": {
                    "type": "array",
                    "items": {"type": "string", "enum": ["option1", "option2", "option3"]},
                },
                "titledMulti": {
                    "type": "array",
                    "items": {"anyOf": [{**c, "title": f"{c['title']} Choice"} for c in titled]},
                },
            },
        }
        result = await _elicit(ctx, "Please select options from the enum fields", schema)
        return f"Elicitation completed: action={result.action}, content={json.dumps(result.content)}"

    @server.tool()
    def json_schema_2020_12_tool(name: str = "", address: dict[str, Any] | None = None) -> str:
        """Tool with JSON Schema 2020-12 features"""
        return f"name={name} address={json.dumps(address)}"


async def _elicit(ctx: Context, message: str, schema: dict[str, Any]) -> types.ElicitResult:
    session = ctx.request_context.session
    return await session.elicit_form(message, schema, related_request_id=ctx.request_id)


def _resources(server: MCPServer) -> None:
    @server.resource("test://static-text", mime_type="text/plain", name="static-text")
    def static_text() -> str:
        return "This is the content of the static text resource."

    @server.resource("test://static-binary", mime_type="image/png", name="static-binary")
    def static_binary() -> bytes:
        import base64

        return base64.b64decode(PNG)

    @server.resource("test://template/{id}/data", mime_type="application/json", name="template")
    def template(id: str) -> str:
        return json.dumps({"id": id, "templateTest": True, "data": f"Data for ID: {id}"}, separators=(",", ":"))

    @server.resource("test://watched-resource", mime_type="text/plain", name="watched-resource")
    def watched() -> str:
        return "Watched resource content"


def _prompts(server: MCPServer) -> None:
    @server.prompt()
    def test_simple_prompt() -> list[Message]:
        """A prompt without arguments."""
        return [UserMessage("This is a simple prompt for testing.")]

    @server.prompt()
    def test_prompt_with_arguments(arg1: str, arg2: str) -> list[Message]:
        """A prompt with two arguments."""
        return [UserMessage(f"Prompt with arguments: arg1='{arg1}', arg2='{arg2}'")]

    @server.prompt()
    def test_prompt_with_embedded_resource(resourceUri: str) -> list[Message]:
        """A prompt embedding the resource it is given."""
        contents = types.TextResourceContents(
            uri=resourceUri, mime_type="text/plain", text="Embedded resource content for testing."
        )
        return [
            UserMessage(types.EmbeddedResource(type="resource", resource=contents)),
            UserMessage("Please process the embedded resource above."),
        ]

    @server.prompt()
    def test_prompt_with_image() -> list[Message]:
        """A prompt with an image."""
        return [
            UserMessage(types.ImageContent(type="image", data=PNG, mime_type="image/png")),
            UserMessage("Please analyze the image above."),
        ]
