"""GET /: a small dashboard page (placeholder for the full web UI) that watches /ws."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(tags=["dashboard"])


def _page() -> str:
    return resources.files("axocoatl.server").joinpath("static/dashboard.html").read_text(encoding="utf-8")


@router.get("/", response_class=HTMLResponse, summary="The dashboard (needs ?token= when keys are configured)")
async def dashboard() -> HTMLResponse:
    return HTMLResponse(_page(), headers={"Cache-Control": "no-store"})
