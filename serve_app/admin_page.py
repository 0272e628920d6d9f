"""GET /admin: the read-only admin page, one HTML file with no build step. The page holds no
data; it reads the admin API (/v1/admin/*, /health) with the credential the operator gives it,
so what it shows is guarded exactly as those routes are."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

PAGE = Path(__file__).parent / "static" / "admin.html"
# The page runs only its own inline script and talks only to this origin.
_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; script-src 'unsafe-inline'; "
    "style-src 'unsafe-inline'; img-src blob:; connect-src 'self'; form-action 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

router = APIRouter(tags=["admin"])


@cache
def _page() -> str:
    return PAGE.read_text(encoding="utf-8")


@router.get("/admin", response_class=HTMLResponse, include_in_schema=False)
async def admin_page() -> HTMLResponse:
    """The page; its data comes from the admin API, which needs the admin scope or a key."""
    return HTMLResponse(_page(), headers=_HEADERS)
