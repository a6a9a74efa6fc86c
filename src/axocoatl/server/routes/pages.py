"""The HTML pages: GET / (the dashboard) and GET /docs (Swagger UI), their static code, and the
dashboard's login. Each page carries a Content-Security-Policy that allows only what it needs
(server/browser.py): the dashboard runs no inline code at all, only its own files.

The dashboard (static/dashboard/, plain ES modules over the vendored Preact+htm in static/vendor/)
and Swagger UI (static/swagger-ui/, from swagger-ui-dist) ship inside the package: both work offline
and their policies allow no other host. The shell, its code and the login form hold no data, so
they need no key; everything they show comes from the API, which does (server/auth.py)."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import Field

from axocoatl.config.hosts import parse_host
from axocoatl.server.auth import DOCS_ASSETS_PATH as ASSETS_PATH
from axocoatl.server.auth import STATIC_PATH
from axocoatl.server.browser import page_csp
from axocoatl.server.errors import ApiError, responses
from axocoatl.server.models import Strict
from axocoatl.server.sessions import clear_cookie_header, cookie_value, set_cookie_header
from axocoatl.server.state import state_of

router = APIRouter(tags=["dashboard"])

SWAGGER_UI_VERSION = "5.35.0"  # of the vendored files; static/swagger-ui/README.md says how to update them
SWAGGER_ASSETS = {  # URL name -> (file in static/swagger-ui/, content type)
    "swagger-ui-bundle.js": ("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    "swagger-ui.css": ("swagger-ui.css", "text/css; charset=utf-8"),
    "favicon.png": ("favicon-32x32.png", "image/png"),
}
STATIC_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}


def _static_root() -> Traversable:
    return resources.files("axocoatl.server").joinpath("static")


@lru_cache(maxsize=1)
def _dashboard() -> str:
    return _static_root().joinpath("dashboard.html").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def static_files() -> dict[str, tuple[Traversable, str]]:
    """URL path under /static/ -> (file, content type): the dashboard's code and the vendored libraries."""
    found: dict[str, tuple[Traversable, str]] = {}

    def walk(folder: Traversable, prefix: str) -> None:
        for item in folder.iterdir():
            if item.is_dir():
                walk(item, f"{prefix}{item.name}/")
                continue
            suffix = item.name[item.name.rfind(".") :] if "." in item.name else ""
            if suffix in STATIC_TYPES or item.name.startswith("LICENSE"):
                found[prefix + item.name] = (item, STATIC_TYPES.get(suffix, STATIC_TYPES[".txt"]))

    walk(_static_root().joinpath("dashboard"), "")
    walk(_static_root().joinpath("vendor"), "vendor/")
    return found


@router.get("/", response_class=HTMLResponse, summary="The dashboard (logs in with a key when keys are configured)")
async def dashboard(request: Request) -> HTMLResponse:
    html = _dashboard()
    # The Host was checked against server.allowed_hosts, and parse_host only passes plain
    # names and addresses, so it is safe in a header. Explicit ws:// sources for browsers
    # whose 'self' does not cover WebSockets yet.
    host = parse_host(request.headers.get("host", ""))
    sockets = [f"ws://{host.show()}", f"wss://{host.show()}"] if host is not None else []
    csp = page_csp(html, scripts=["'self'"], styles=["'self'"], images=["data:"], connect=sockets)
    return HTMLResponse(html, headers={"Cache-Control": "no-store", "Content-Security-Policy": csp})


@router.get(STATIC_PATH + "/{name:path}", include_in_schema=False)
async def static_file(name: str) -> Response:
    entry = static_files().get(name)
    if entry is None:
        raise ApiError(404, f"no static file '{name}'", "the dashboard's files are under /static/ (GET / loads them)")
    # no-cache: the browser revalidates, so an upgraded daemon never runs with last version's code.
    return Response(_read(name), media_type=entry[1], headers={"Cache-Control": "no-cache"})


@lru_cache(maxsize=64)
def _read(name: str) -> bytes:
    return static_files()[name][0].read_bytes()


class LoginRequest(Strict):
    key: str = Field(..., min_length=1, max_length=4096, description="One of server.auth.api_keys or bearer_tokens.")


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


@router.get("/session", summary="Whether the daemon needs a login, and whether this browser has one")
async def session(request: Request) -> dict[str, bool]:
    state = state_of(request)
    creds = state.settings.credentials
    token = cookie_value({"cookie": request.headers.get("cookie", "")})
    logged_in = token is not None and state.sessions.valid(token, creds)
    return {"auth_required": creds.enabled, "authenticated": not creds.enabled or logged_in}


@router.post(
    "/login",
    summary="Log the dashboard in: checks a key and sets an HttpOnly, SameSite=Strict session cookie",
    description="The key goes in the body, never in the URL. The cookie holds a random token known only to this "
    "process (a restart or a change of keys ends every session). With no keys configured there is nothing to log "
    "in to: 200 without a cookie.",
    responses=responses(400, 401, 413, 415, 422),
)
async def login(body: LoginRequest, request: Request) -> JSONResponse:
    state = state_of(request)
    creds = state.settings.credentials
    if not creds.enabled:
        return JSONResponse({"auth_required": False, "authenticated": True})
    if not creds.accepts(api_key=None, bearer=None, query_token=body.key):
        raise ApiError(401, "wrong API key", "use one of server.auth.api_keys or server.auth.bearer_tokens")
    token = state.sessions.open(creds)
    response = JSONResponse({"auth_required": True, "authenticated": True})
    response.headers["set-cookie"] = set_cookie_header(token, secure=_secure(request))
    return response


@router.post("/logout", summary="End this browser's dashboard session")
async def logout(request: Request) -> JSONResponse:
    state = state_of(request)
    token = cookie_value({"cookie": request.headers.get("cookie", "")})
    if token is not None:
        state.sessions.close(token)
    response = JSONResponse({"auth_required": state.settings.credentials.enabled, "authenticated": False})
    response.headers["set-cookie"] = clear_cookie_header(secure=_secure(request))
    return response


@router.get("/docs", include_in_schema=False)
async def docs() -> HTMLResponse:
    page = get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="axocoatl API",
        swagger_js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js?v={SWAGGER_UI_VERSION}",
        swagger_css_url=f"{ASSETS_PATH}/swagger-ui.css?v={SWAGGER_UI_VERSION}",
        swagger_favicon_url=f"{ASSETS_PATH}/favicon.png",
        swagger_ui_parameters={"validatorUrl": None},  # the online validator is another host
    )
    html = bytes(page.body).decode("utf-8")
    csp = page_csp(html, scripts=["'self'"], styles=["'self'"], images=["data:"])
    return HTMLResponse(html, headers={"Content-Security-Policy": csp})


@router.get(ASSETS_PATH + "/{name}", include_in_schema=False)
async def docs_asset(name: str) -> Response:
    if name not in SWAGGER_ASSETS:
        raise ApiError(
            404, f"no docs asset '{name}'", f"the docs page's assets are: {', '.join(sorted(SWAGGER_ASSETS))}"
        )
    filename, content_type = SWAGGER_ASSETS[name]
    # Versioned URLs (?v=): a browser may keep them for a day.
    return Response(_asset(filename), media_type=content_type, headers={"Cache-Control": "public, max-age=86400"})


@lru_cache(maxsize=len(SWAGGER_ASSETS))
def _asset(filename: str) -> bytes:
    return resources.files("axocoatl.server").joinpath(f"static/swagger-ui/{filename}").read_bytes()
