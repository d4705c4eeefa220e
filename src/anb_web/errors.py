"""Every error leaves as JSON with a human-readable ``detail``; never a stack trace."""

from __future__ import annotations

import logging

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeout
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from anb_pipeline import BrokerUnavailable, StorageError

from .answers import Error, ValidationError, respond

logger = logging.getLogger(__name__)

BEARER_CHALLENGE = {"WWW-Authenticate": "Bearer"}


class ApiError(HTTPException):
    """An error answer; ``errors`` maps input fields to what is wrong with them."""

    def __init__(
        self, status_code: int, detail: str, *, errors: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code=status_code, detail=detail, headers=headers)
        self.errors = errors


class InvalidInput(ApiError):
    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(422, "Invalid input", errors=errors)


#: The 401 detail for a valid token whose user was deleted since it was issued.
ACCOUNT_GONE = "The account behind this token no longer exists"


def unauthorized(detail: str = "Authentication required: send a valid bearer token") -> ApiError:
    return ApiError(401, detail, headers=BEARER_CHALLENGE)


def http_error(request: Request, exc: Exception) -> Response:
    """``Error``, or ``ValidationError`` for ``InvalidInput`` (422)."""
    assert isinstance(exc, HTTPException)
    errors = getattr(exc, "errors", None)
    if isinstance(exc, InvalidInput):
        answer: Error | ValidationError = ValidationError(detail=exc.detail, errors=errors or {})
    else:
        answer = Error(detail=exc.detail, errors=errors) if errors else Error(detail=exc.detail)
    return respond(answer, status_code=exc.status_code, headers=exc.headers)


def dependency_down(request: Request, exc: Exception) -> Response:
    """A dependency failed mid-request: the client may retry, so 503, not 500."""
    logger.warning("%s %s: dependency unavailable: %s", request.method, request.url.path, exc)
    if isinstance(exc, BrokerUnavailable):
        detail = "The processing queue is unavailable; try again later"
    elif isinstance(exc, StorageError):
        detail = "Storage is unavailable; try again later"
    elif isinstance(exc, (RedisConnectionError, RedisTimeout)):
        detail = "The login limiter's store (Redis) is unavailable; try again later"
    else:
        detail = "The database is unavailable; try again later"
    return respond(Error(detail=detail), status_code=503)


def server_error(request: Request, exc: Exception) -> Response:
    logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return respond(Error(detail="Internal server error"), status_code=500)


EXCEPTION_HANDLERS = {
    HTTPException: http_error,
    BrokerUnavailable: dependency_down,
    StorageError: dependency_down,
    OperationalError: dependency_down,
    PoolTimeout: dependency_down,
    RedisConnectionError: dependency_down,
    RedisTimeout: dependency_down,
    Exception: server_error,
}
