"""The dashboard's sign-in: a session cookie (HttpOnly, SameSite, Secure behind HTTPS).

Its JavaScript never sees a credential; the browser sends the cookie with every same-origin
request, `new EventSource(url)` included.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from app.api import credentials
from app.api.deps import AccountServiceDep, SettingsDep
from app.core.config import Settings
from app.core.security import SESSION
from app.schemas.account import UserPublic
from app.services.accounts import issue_token

router = APIRouter(prefix="/auth", tags=["auth"])
COOKIE_PATH = "/api"  # every endpoint the dashboard calls; not the static files


@router.post("/session", response_model=UserPublic)
async def sign_in(
    request: Request,
    response: Response,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    accounts: AccountServiceDep,
    settings: SettingsDep,
) -> object:
    """Sign in with the login form; the answer sets the session cookie and names the user."""
    credentials.check_origin(request, settings)
    user = await accounts.authenticate(
        form.username, form.password, credentials.client_address(request)
    )
    lifetime = timedelta(minutes=settings.session_expire_minutes)
    token = issue_token(
        settings,
        user_id=user.id,
        role=user.role,
        salon_id=user.salon_id,
        lifetime=lifetime,
        token_type=SESSION,
    )
    response.set_cookie(
        settings.session_cookie_name,
        token,
        max_age=int(lifetime.total_seconds()),
        path=COOKIE_PATH,
        httponly=True,
        samesite=settings.session_cookie_samesite,
        secure=_secure(request, settings),
    )
    response.headers["Cache-Control"] = "no-store"
    return user


@router.delete("/session", status_code=204)
async def sign_out(request: Request, settings: SettingsDep) -> Response:
    """Sign out: the cookie is cleared (whether or not there was one)."""
    response = Response(status_code=204)
    response.delete_cookie(
        settings.session_cookie_name,
        path=COOKIE_PATH,
        httponly=True,
        samesite=settings.session_cookie_samesite,
        secure=_secure(request, settings),
    )
    return response


def _secure(request: Request, settings: Settings) -> bool:
    if settings.session_cookie_secure is not None:
        return settings.session_cookie_secure
    return request.url.scheme == "https"
