"""Page sessions: the JWT in an HttpOnly cookie, and the CSRF token that goes with it.

The JSON API keeps bearer tokens only. Pages hold the same JWT the API would hand out, in an
``HttpOnly; SameSite=Strict`` cookie (``Secure`` under https), so page scripts never see it
and it never appears in a URL.

Because a cookie rides along with any request the browser makes, every state-changing page
request must also carry a CSRF token: HMAC-SHA256, under a key derived from the JWT secret,
of the session's JWT. Before login there is no JWT, so a random per-browser nonce (its own
HttpOnly cookie) stands in; the login and signup forms are then protected as well, which
stops login CSRF. The token is in a hidden form field or the ``X-CSRF-Token`` header.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

from ..errors import ApiError
from ..security import InvalidToken, derive_key
from ..state import services

SESSION_COOKIE = "anb_session"
NONCE_COOKIE = "anb_form"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
CSRF_REFUSED = ("This form has expired or did not come from this site. "
                "Reload the page and try again.")


@dataclasses.dataclass(frozen=True)
class PageSession:
    #: The session's JWT when the cookie holds a valid, live one.
    token: str | None
    user_id: str | None
    nonce: str
    csrf_token: str
    #: A cookie that is no longer valid (expired, re-keyed) is cleared by the response.
    stale: bool
    new_nonce: bool


def page_session(request: Request) -> PageSession:
    """The caller's page session, computed once per request."""
    found: PageSession | None = getattr(request.state, "page_session", None)
    if found is not None:
        return found
    app = services(request)
    token = request.cookies.get(SESSION_COOKIE) or None
    user_id = None
    if token is not None:
        try:
            user_id = app.tokens.user_id(token)
        except InvalidToken:
            user_id = None
    valid_token = token if user_id is not None else None
    nonce = request.cookies.get(NONCE_COOKIE) or ""
    new_nonce = len(nonce) < 16
    if new_nonce:
        nonce = secrets.token_urlsafe(24)
    session = PageSession(
        token=valid_token, user_id=user_id, nonce=nonce,
        csrf_token=_csrf_token(request, token=valid_token, nonce=nonce),
        stale=token is not None and valid_token is None, new_nonce=new_nonce,
    )
    request.state.page_session = session
    return session


def _csrf_token(request: Request, *, token: str | None, nonce: str) -> str:
    key = derive_key(services(request).settings.jwt_secret, purpose="anb-csrf-v1")
    # Bound to the session when there is one, so a token leaked before login is useless after.
    subject = f"session:{token}" if token else f"nonce:{nonce}"
    return hmac.new(key, subject.encode(), hashlib.sha256).hexdigest()


def check_csrf(request: Request, supplied: str | None) -> None:
    """403 unless ``supplied`` is this session's token (a just-made nonce matches nothing)."""
    expected = page_session(request).csrf_token
    if not supplied or not hmac.compare_digest(supplied.encode(), expected.encode()):
        raise ApiError(403, CSRF_REFUSED)


def is_https(request: Request) -> bool:
    # The ALB terminates TLS; a forged header can only make the cookie stricter.
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip()
    return request.url.scheme == "https" or forwarded == "https"


def _cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(name, value, max_age=max_age, path="/", httponly=True,
                        samesite="strict", secure=is_https(request))


def start_session(response: Response, request: Request, *, token: str) -> None:
    _cookie(response, request, SESSION_COOKIE, token, services(request).settings.jwt_ttl_s)


def end_session(response: Response, request: Request) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                           secure=is_https(request))


def keep_cookies(response: Response, request: Request) -> Response:
    """Persist what ``page_session`` decided: a new nonce, a stale session cleared."""
    session = page_session(request)
    if session.new_nonce:
        _cookie(response, request, NONCE_COOKIE, session.nonce, 30 * 24 * 3600)
    if session.stale:
        end_session(response, request)
    return response
