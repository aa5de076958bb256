"""Cross-origin access for the pages of CORS_ORIGINS (and only those get credentials)."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from app.api.credentials import CSRF_HEADER
from app.core.config import Settings

ALLOWED_HEADERS = ["Authorization", "Content-Type", "Last-Event-ID", "Cache-Control", CSRF_HEADER]


def install_cors(app: FastAPI, settings: Settings) -> None:
    """Nothing without CORS_ORIGINS (same-origin only). `*` admits every origin, but then
    without credentials: a cookie is honoured only from origins named one by one."""
    origins = settings.cors_origins
    if not origins:
        return
    any_origin = "*" in origins
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"] if any_origin else origins,
        allow_credentials=not any_origin,
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=ALLOWED_HEADERS,
        max_age=600,
    )
