"""Where a principal comes from: the Authorization header, the session cookie, or a stream token.

Browsers can't give `new EventSource(url)` a header, so the streams also take the session
cookie (same-origin pages) and `?token=<stream token>` (pages of other origins). A stream
token opens streams and nothing else; a full access token is never taken from a URL, since
URLs end up in histories, proxy logs and Referer headers.
"""

from __future__ import annotations

from fastapi.security.utils import get_authorization_scheme_param
from starlette.requests import HTTPConnection

from app.api.incoming import Incoming
from app.core.config import Settings
from app.core.security import ACCESS, SESSION, STREAM, InvalidToken, Principal, decode_token
from app.services.errors import BadRequest, NotAuthenticated, PermissionDenied
from app.services.revocations import Revocations

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# Cookie-authenticated requests that change something must carry this header: a page of
# another origin can only add it after a CORS preflight, which only CORS_ORIGINS pass.
CSRF_HEADER = "X-Requested-With"
CSRF_HEADER_KEY = CSRF_HEADER.lower().encode()


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, read as the REST endpoints'
    OAuth2PasswordBearer reads it; None without one."""
    scheme, token = get_authorization_scheme_param(authorization)
    return token if scheme.lower() == "bearer" and token else None


def from_bearer(
    token: str, settings: Settings, revocations: Revocations, *, stream_token_ok: bool = False
) -> Principal:
    """An access token (or, on the streams, also a stream token) from the Authorization header."""
    kinds = (ACCESS, STREAM) if stream_token_ok else (ACCESS,)
    return _decode(token, settings, revocations, kinds, "invalid or expired token")


def from_url_token(token: str, settings: Settings, revocations: Revocations) -> Principal:
    """`?token=` on a stream: a stream token only; an access token there is refused."""
    try:
        return unrevoked(
            decode_token(token, secret=settings.secret_key, token_type=STREAM), revocations
        )
    except InvalidToken as exc:
        if _is_valid(token, settings, ACCESS):
            raise NotAuthenticated(
                "access tokens are not accepted in a URL: get a stream token from "
                "POST /api/v1/notifications/stream-token"
            ) from exc
        raise NotAuthenticated("invalid or expired stream token") from exc


def principal_of(
    incoming: Incoming, settings: Settings, revocations: Revocations, *, stream: bool = False
) -> Principal | None:
    """The one credential rule, whoever reads the request (SSE, WebSocket, REST, the front
    door or FastAPI): the Authorization header (one only: two are a 400), then on a stream
    `?token=` (stream tokens only), then the session cookie, counted only from no Origin or
    an allowed one. NotAuthenticated when the credential that counts doesn't pass; None
    when there is none at all."""
    authorization = incoming.header_values(b"authorization")
    if len(authorization) > 1:
        raise BadRequest("send one Authorization header, not several")
    if authorization:
        token = bearer_token(authorization[0])
        if token is None:
            raise NotAuthenticated(
                "not authenticated: the Authorization header has no bearer token"
            )
        return from_bearer(token, settings, revocations, stream_token_ok=stream)
    if stream:
        url_token = incoming.query().get("token") if incoming.query_string else None
        if url_token is not None:
            return from_url_token(url_token, settings, revocations)
    cookie = incoming.cookie(settings.session_cookie_name)
    if cookie is None or not incoming.origin_allowed(settings):
        return None
    principal = _decode(cookie, settings, revocations, (SESSION,), "invalid or expired session")
    if incoming.method not in SAFE_METHODS and not incoming.has_header(CSRF_HEADER_KEY):
        raise PermissionDenied(f"a request signed in by cookie must send the {CSRF_HEADER} header")
    return principal


def client_address(connection: HTTPConnection) -> str | None:
    """The client's address: the socket's, or what a proxy of TRUSTED_PROXIES says in
    X-Forwarded-For (uvicorn's proxy headers middleware rewrites `client` for those only)."""
    return connection.client.host if connection.client is not None else None


def check_origin(connection: HTTPConnection, settings: Settings) -> None:
    """A browser's cross-origin form may not sign anyone in (login CSRF): when an Origin is
    sent, it must be this server's own or one of CORS_ORIGINS. Non-browser clients send none."""
    if not Incoming.of(connection.scope).origin_allowed(settings):
        origin = connection.headers.get("origin", "")
        raise PermissionDenied(f"origin {origin[:100]!r} may not sign in here")


def unrevoked(principal: Principal, revocations: Revocations) -> Principal:
    """The principal, unless its credential was revoked (signed out, logged out everywhere,
    its account deleted or changed): then InvalidToken."""
    if revocations.is_revoked(principal):
        raise InvalidToken("credential revoked")
    return principal


def _decode(
    token: str, settings: Settings, revocations: Revocations, kinds: tuple[str, ...], detail: str
) -> Principal:
    for kind in kinds:
        try:
            principal = decode_token(token, secret=settings.secret_key, token_type=kind)
        except InvalidToken:
            continue
        if revocations.is_revoked(principal):
            break
        return principal
    raise NotAuthenticated(detail)


def _is_valid(token: str, settings: Settings, kind: str) -> bool:
    try:
        decode_token(token, secret=settings.secret_key, token_type=kind)
    except InvalidToken:
        return False
    return True
