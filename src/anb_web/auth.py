"""Signup, login, logout, and the bearer-token check every protected route starts with."""

from __future__ import annotations

import contextlib
import time
import uuid
from typing import Any

from sqlalchemy import String, delete, exists, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import schemas
from .answers import respond
from .errors import ApiError, InvalidInput, unauthorized
from .models import RevokedToken, User, email_key, fold, username_key
from .security import InvalidToken, TokenClaims, hash_password, verify_password
from .state import Services, services
from .validation import parse, read_json_object

PROFILE_FIELDS = ("first_name", "last_name", "city", "country")
BAD_CREDENTIALS = "Wrong username or password"


def bearer_claims(request: Request) -> TokenClaims:
    """The claims of the ``Authorization: Bearer`` token; 401 otherwise. Reads no body."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized()
    try:
        return services(request).tokens.claims(token.strip())
    except InvalidToken:
        raise unauthorized("The bearer token is invalid or has expired") from None


def _live(session: Session, *, claims: TokenClaims) -> bool:
    revoked = exists().where(RevokedToken.token_id == claims.token_id)
    return session.scalar(select(User.id).where(User.id == claims.user_id, ~revoked)) is not None


async def live_claims(request: Request) -> TokenClaims:
    """The bearer token's claims; 401 unless it is valid, not logged out, and its account
    still exists. One primary-key query, before any body is read."""
    claims = bearer_claims(request)
    if not await services(request).database.run(_live, claims=claims):
        raise unauthorized("The session has ended or its account no longer exists")
    return claims


async def authenticate(request: Request) -> str:
    """The caller's user id (see ``live_claims``)."""
    return (await live_claims(request)).user_id


def key_columns(form: schemas.Signup) -> dict[str, str | None]:
    """The identity and lookup columns of a signup, computed once here (see ``models``)."""
    return {"username_key": username_key(form.username), "email_key": email_key(form.email),
            "city_key": fold(form.city) if form.city else None}


def signup_input(data: dict[str, Any]) -> schemas.Signup:
    """The checked form (see ``schemas.Signup``).

    A value whose normalized or case-folded key would not fit its column (``ß`` folds to
    ``ss``) is refused too, identically on SQLite and PostgreSQL.

    Raises:
        InvalidInput: (422) names every wrong field.
    """
    form = parse(schemas.Signup, data)
    too_long = {name.removesuffix("_key"): f"Too long once normalized (at most "
                                          f"{column_chars(name)} characters)"
                for name, key in key_columns(form).items()
                if key is not None and len(key) > column_chars(name)}
    if too_long:
        raise InvalidInput(too_long)
    return form


def column_chars(name: str) -> int:
    """The declared length of a ``users`` text column (the models are the one source)."""
    column_type = User.__table__.columns[name].type
    assert isinstance(column_type, String) and column_type.length is not None
    return column_type.length


def _taken(session: Session, *, username_key: str, email_key: str) -> dict[str, str]:
    rows = session.execute(
        select(User.username_key, User.email_key).where(
            or_(User.username_key == username_key, User.email_key == email_key)
        )
    ).all()
    taken: dict[str, str] = {}
    for row in rows:
        if row.username_key == username_key:
            taken["username"] = "This username is taken"
        if row.email_key == email_key:
            taken["email"] = "This email is already registered"
    return taken


def _insert_user(session: Session, *, user: User) -> None:
    session.add(user)


def _token_fields(app: Services, user_id: str) -> dict[str, Any]:
    """The fields of ``schemas.Token``: a new bearer token for ``user_id``."""
    return {"access_token": app.tokens.issue(user_id=user_id), "token_type": "bearer",
            "expires_in": app.settings.jwt_ttl_s}


def _conflict(taken: dict[str, str]) -> ApiError:
    return ApiError(409, "A user with this username or email already exists",
                    errors=taken or None)


async def signup(request: Request) -> JSONResponse:
    app = services(request)
    form = signup_input(await read_json_object(request))
    keys = key_columns(form)
    identity = {"username_key": str(keys["username_key"]), "email_key": str(keys["email_key"])}
    # A cheap check first so a duplicate costs no hashing; the insert re-checks atomically.
    if taken := await app.database.run(_taken, **identity):
        raise _conflict(taken)
    password_hash = await run_in_threadpool(hash_password, form.password)
    profile = {name: getattr(form, name) for name in PROFILE_FIELDS}
    user = User(id=str(uuid.uuid4()), username=form.username, email=form.email,
                password_hash=password_hash, **keys, **profile)
    try:
        await app.database.run(_insert_user, user=user)
    except IntegrityError:
        # A parallel signup won the race: the unique indexes are the real guard.
        raise _conflict(await app.database.run(_taken, **identity)) from None
    return respond(schemas.SignupResult(
        **_token_fields(app, user.id),
        user=schemas.User(id=user.id, username=user.username, email=user.email, **profile)),
        status_code=201)


def login_key(login: str) -> str:
    """The identity a login name means: an email's key when it has an ``@``, else a
    username's (so ``ａｌｉｃｅ`` and ``ALICE`` log in as ``alice``)."""
    return email_key(login) if "@" in login else username_key(login)


def _credentials(session: Session, *, login: str) -> tuple[str, str] | None:
    column = User.email_key if "@" in login else User.username_key
    row = session.execute(
        select(User.id, User.password_hash).where(column == login_key(login))
    ).first()
    return (row.id, row.password_hash) if row else None


async def login(request: Request) -> JSONResponse:
    app = services(request)
    credentials = parse(schemas.Login, await read_json_object(request))
    name, password = credentials.username, credentials.password
    # The client address is the proxy-corrected one (see ANB_TRUSTED_PROXIES).
    account, client = login_key(name), request.client.host if request.client else "unknown"
    limiter = app.login_limiter
    # Checked before any hashing: a refused guess costs the server nothing.
    if retry_after_s := await run_in_threadpool(limiter.retry_after_s, account=account,
                                                client=client):
        raise ApiError(429, "Too many failed logins; try again later",
                       headers={"Retry-After": str(retry_after_s)})
    found = await app.database.run(_credentials, login=name)
    user_id, password_hash = found or (None, None)
    # A missing user still costs one verify, so timing does not tell who exists.
    if not await run_in_threadpool(verify_password, password_hash, password):
        await run_in_threadpool(limiter.failed, account=account, client=client)
        raise unauthorized(BAD_CREDENTIALS)
    await run_in_threadpool(limiter.succeeded, account=account)
    return respond(schemas.Token(**_token_fields(app, str(user_id))))


def _revoke(session: Session, *, claims: TokenClaims) -> None:
    # Revocations of expired tokens are dead weight: each logout sweeps them.
    session.execute(delete(RevokedToken).where(RevokedToken.expires_at < time.time()))
    session.add(RevokedToken(token_id=claims.token_id, expires_at=claims.expires_at_s))


async def logout(request: Request) -> Response:
    """Revoke the presented token; other sessions of the same user stay signed in."""
    claims = await live_claims(request)
    # A concurrent logout with the same token may have revoked it first.
    with contextlib.suppress(IntegrityError):
        await services(request).database.run(_revoke, claims=claims)
    return Response(status_code=204)


routes = [
    Route("/api/auth/signup", signup, methods=["POST"]),
    Route("/api/auth/login", login, methods=["POST"]),
    Route("/api/auth/logout", logout, methods=["POST"]),
]
