"""The dashboard: index.html at `/`, its CSS and JavaScript under `/static/` (no build step)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

STATIC_DIR = Path(__file__).resolve().parent.parent / "web" / "static"

# The page loads only its own files and talks only to its own origin.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


class DashboardFiles(StaticFiles):
    """Static files with the security headers, revalidated on each load (no stale JS)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                extra.append((b"cache-control", b"no-cache"))
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await super().__call__(scope, receive, send_with_headers)


def mount_web(app: FastAPI) -> None:
    """`/` serves the dashboard; `/static/...` its files."""

    @app.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        headers = {**SECURITY_HEADERS, "Cache-Control": "no-cache"}
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html", headers=headers)

    app.mount("/static", DashboardFiles(directory=STATIC_DIR), name="static")
