"""Domain exceptions -> HTTP, in one place."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from app.services.errors import (
    BadRequest,
    Conflict,
    DomainError,
    InvalidRequest,
    NotAuthenticated,
    NotFound,
    PermissionDenied,
)

STATUS: dict[type[DomainError], int] = {
    BadRequest: 400,
    NotAuthenticated: 401,
    PermissionDenied: 403,
    NotFound: 404,
    Conflict: 409,
    InvalidRequest: 422,
}


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    status = next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 400)
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"detail": exc.detail}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
