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
from app.api.deps import AccountServiceDep, RevocationsDep, SettingsDep
from app.core.config import Settings
from app.core.security import SESSION, InvalidToken, decode_token, new_session_id
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
        sid=new_session_id(),  # what DELETE /auth/session revokes
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
async def sign_out(
    request: Request, settings: SettingsDep, revocations: RevocationsDep
) -> Response:
    """Sign out: the session is revoked on every instance (its cookie and the stream tokens
    minted from it stop working, its streams end) and the cookie is cleared (whether or
    not there was one)."""
    cookie = request.cookies.get(settings.session_cookie_name)
    if cookie is not None:
        try:
            principal = decode_token(cookie, secret=settings.secret_key, token_type=SESSION)
        except InvalidToken:
            pass  # nothing to revoke: a bad or expired cookie opens nothing
        else:
            await revocations.revoke_session(principal)
    return clear_session_cookie(request, settings)


def clear_session_cookie(request: Request, settings: Settings) -> Response:
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
