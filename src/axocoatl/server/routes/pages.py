"""The HTML pages: GET / (a small dashboard, placeholder for the full web UI, that watches /ws)
and GET /docs (Swagger UI). Each carries a Content-Security-Policy that allows its own inline
code by hash and nothing else it does not need (server/browser.py)."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

from axocoatl.config.hosts import parse_host
from axocoatl.server.browser import page_csp

router = APIRouter(tags=["dashboard"])

SWAGGER_CDN = "https://cdn.jsdelivr.net"  # where FastAPI's Swagger UI page loads its code from
SWAGGER_FAVICON = "https://fastapi.tiangolo.com"


@lru_cache(maxsize=1)
def _dashboard() -> str:
    return resources.files("axocoatl.server").joinpath("static/dashboard.html").read_text(encoding="utf-8")


@router.get("/", response_class=HTMLResponse, summary="The dashboard (needs ?token= when keys are configured)")
async def dashboard(request: Request) -> HTMLResponse:
    html = _dashboard()
    # The Host was checked against server.allowed_hosts, and parse_host only passes plain
    # names and addresses, so it is safe in a header. Explicit ws:// sources for browsers
    # whose 'self' does not cover WebSockets yet.
    host = parse_host(request.headers.get("host", ""))
    sockets = [f"ws://{host.show()}", f"wss://{host.show()}"] if host is not None else []
    headers = {"Cache-Control": "no-store", "Content-Security-Policy": page_csp(html, connect=sockets)}
    return HTMLResponse(html, headers=headers)


@router.get("/docs", include_in_schema=False)
async def docs() -> HTMLResponse:
    page = get_swagger_ui_html(openapi_url="/openapi.json", title="axocoatl API")
    html = bytes(page.body).decode("utf-8")
    csp = page_csp(html, scripts=[SWAGGER_CDN], styles=[SWAGGER_CDN], images=["data:", SWAGGER_FAVICON])
    return HTMLResponse(html, headers={"Content-Security-Policy": csp})
