"""Every error the API returns is JSON: ``{"error": "...", "hint": "..."}``, never a traceback."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from axocoatl.core.errors import (
    AgentTimeout,
    AxocoatlError,
    BudgetExceeded,
    MailboxClosed,
    ProviderError,
    UsageError,
)
from axocoatl.core.ids import new_id
from axocoatl.core.suggest import closest, listing
from axocoatl.server.text import INVALID_TEXT_HINT, json_bytes

log = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    """The body of every error response."""

    error: str
    hint: str | None = None
    field: str | None = None


class ApiError(Exception):
    """Raise in a route to answer with a JSON error."""

    def __init__(
        self,
        status: int,
        error: str,
        hint: str | None = None,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(error)
        self.status = status
        self.error = error
        self.hint = hint
        self.field = field
        self.headers = headers


def error_body(error: str, hint: str | None = None, field: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"error": error, "hint": hint}
    if field is not None:
        body["field"] = field
    return body


class SafeJSONResponse(JSONResponse):
    """A JSONResponse that never fails to encode (an error may quote text a client sent)."""

    def render(self, content: Any) -> bytes:
        return json_bytes(content)


def error_response(
    status: int,
    error: str,
    hint: str | None = None,
    *,
    field: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = error_body(error, hint, field)
    return SafeJSONResponse(body, status_code=status, headers=dict(headers) if headers else None)


def not_found(kind: str, name: str, known: list[str], list_hint: str) -> ApiError:
    """A 404 for an unknown agent/workflow/run, with a did-you-mean hint."""
    close = closest(name, known)
    if close:
        hint = f"did you mean '{close}'? ({list_hint})"
    elif known:
        hint = f"known {kind}s: {listing(known, shown=10)}"
    else:
        hint = f"no {kind}s exist yet ({list_hint})"
    return ApiError(404, f"unknown {kind} '{name}'", hint)


def status_for(exc: AxocoatlError) -> int:
    """The HTTP status for an error raised by the runtime while serving a request."""
    if isinstance(exc, BudgetExceeded):
        return 409
    if isinstance(exc, MailboxClosed):
        return 409
    if isinstance(exc, AgentTimeout):
        return 504
    if isinstance(exc, ProviderError):
        return 502  # the model provider failed, not this server
    if isinstance(exc, UsageError):
        return 409
    return 500


def axocoatl_error_json(exc: AxocoatlError) -> dict[str, Any]:
    return error_body(exc.message, exc.hint)


# Documented error responses, shared by the routes' OpenAPI declarations.
def responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {
        400: "Bad request",
        401: "Missing or wrong API key",
        404: "Unknown agent, workflow or run",
        409: "Conflict with the current state",
        413: "Request body too large",
        415: "The body is not JSON",
        422: "Invalid request",
        429: "Too many requests",
        502: "The model provider failed",
        503: "The daemon is shutting down",
        504: "Timed out",
    }
    return {code: {"model": ErrorBody, "description": text.get(code, "Error")} for code in codes}


_SCHEMA_HINT = "see /openapi.json for the expected request"


def _field_of(loc: Sequence[Any]) -> str:
    return ".".join(str(part) for part in loc)


def _unparsable_body(cause: ValueError | RecursionError) -> JSONResponse:
    # FastAPI's "There was an error parsing the body", with the reason the parser gave.
    if isinstance(cause, UnicodeDecodeError):
        error = f"the request body is not valid UTF-8 ({cause.reason} at byte {cause.start})"
        return error_response(400, error, "send the JSON body encoded as UTF-8", field="body")
    # A ValueError is e.g. an integer with more digits than Python converts; the part of its
    # message after ";" is advice for programmers, not for the client.
    reason = "nested too deeply" if isinstance(cause, RecursionError) else str(cause).split(";")[0]
    error = f"the request body is not valid JSON: {reason}"
    return error_response(400, error, 'send a JSON object such as {"input": "..."}', field="body")


def _malformed_json(problem: Mapping[str, Any], document: Any) -> JSONResponse:
    """400 for a body that is not JSON at all (422 is for JSON that does not fit the schema)."""
    loc = problem.get("loc", ())
    position = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
    reason = str((problem.get("ctx") or {}).get("error", "not JSON"))
    where = ""
    if position is not None:
        where = f" at position {position}"
        if isinstance(document, str):
            line = document.count("\n", 0, position) + 1
            column = position - (document.rfind("\n", 0, position) + 1) + 1
            where += f" (line {line}, column {column})"
    error = f"the request body is not valid JSON: {reason}{where}"
    return error_response(400, error, 'send a JSON object such as {"input": "..."}', field="body")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.error, exc.hint, field=exc.field, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = exc.errors()
        first = problems[0] if problems else {"loc": (), "msg": "invalid request"}
        if first.get("type") == "json_invalid":
            return _malformed_json(first, exc.body)
        if tuple(first.get("loc", ())) == ("body",) and isinstance(first.get("input"), bytes):
            # FastAPI hands over the raw bytes when the content type is not JSON.
            content_type = request.headers.get("content-type", "")
            error = f"the request body must be JSON, not {content_type[:100]!r}"
            return error_response(415, error, "send the body with content-type: application/json", field="body")
        field = _field_of(first.get("loc", ()))
        message = str(first.get("msg", "invalid value"))
        others = len(problems) - 1
        error = f"invalid request: {field}: {message}" if field else f"invalid request: {message}"
        if others > 0:
            error += f" (and {others} more problem{'s' if others > 1 else ''})"
        hint = INVALID_TEXT_HINT if first.get("type") == "invalid_unicode" else _SCHEMA_HINT
        return error_response(422, error, hint, field=field or None)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        hints = {
            404: "no such route; see /openapi.json (or /docs) for the API",
            405: "this route does not accept that method; see /openapi.json",
            413: "send a smaller body (server.max_body_bytes in axocoatl.yaml sets the limit)",
        }
        error = str(exc.detail) if exc.detail else "error"
        if exc.status_code == 404 and error == "Not Found":
            error = f"no route {request.method} {request.url.path}"
        if exc.status_code == 400 and isinstance(exc.__cause__, ValueError | RecursionError):
            return _unparsable_body(exc.__cause__)
        return error_response(exc.status_code, error, hints.get(exc.status_code), headers=exc.headers)

    @app.exception_handler(AxocoatlError)
    async def _axocoatl(request: Request, exc: AxocoatlError) -> JSONResponse:
        status = status_for(exc)
        if status == 500:
            return _internal(request, exc)
        return error_response(status, exc.message, exc.hint)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return _internal(request, exc)


def _internal(request: Request, exc: BaseException) -> JSONResponse:
    # The details go to the log under an id; the client only gets the id.
    error_id = new_id("err")
    log.error("internal error %s on %s %s", error_id, request.method, request.url.path, exc_info=exc)
    return error_response(500, "internal server error", f"the daemon log has the details (error id {error_id})")
