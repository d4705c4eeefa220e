"""Reading and checking client input; every problem becomes a 422 with per-field messages."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from starlette.requests import Request

from .errors import ApiError, InvalidInput

MAX_JSON_BYTES = 64 * 1024
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
#: Deep pages cost a long OFFSET scan; nobody pages this far by hand.
MAX_PAGE = 10_000

USERNAME = re.compile(r"[A-Za-z0-9_.\-]{3,32}")
#: Deliberately simple: one @, no spaces, a dot in the domain. Deliverability is not ours
#: to judge; this catches typos and garbage.
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
MAX_EMAIL_CHARS = 254
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024
MAX_NAME_CHARS = 100


async def read_json_object(request: Request) -> dict[str, Any]:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_JSON_BYTES:
            raise ApiError(413, f"The request body is larger than {MAX_JSON_BYTES} bytes")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        # RecursionError: a few KB of ``[[[[...`` nest deeper than the parser's stack.
        raise InvalidInput({"body": "The body must be a JSON object"}) from None
    if not isinstance(data, dict):
        raise InvalidInput({"body": "The body must be a JSON object"})
    return data


def text_field(
    data: dict[str, Any], name: str, errors: dict[str, str], *, required: bool,
    max_chars: int, min_chars: int = 0, strip: bool = True,
) -> str | None:
    """A string field; records a message in ``errors`` when it is wrong."""
    value = data.get(name)
    if value is None or (isinstance(value, str) and not value.strip() and not required):
        if required:
            errors[name] = "This field is required"
        return None
    if not isinstance(value, str):
        errors[name] = "Must be a string"
        return None
    value = value.strip() if strip else value
    if not min_chars <= len(value) <= max_chars:
        errors[name] = f"Must be {min_chars} to {max_chars} characters"
        return None
    if not is_storable(value):
        errors[name] = "Must be valid text without NUL characters"
        return None
    return value


def is_storable(value: str) -> bool:
    """Databases refuse NUL and lone surrogates (JSON can carry both): catch them as input."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in value


def video_id(raw: str) -> str | None:
    """The canonical form of a video id, or None when it cannot be one (then: 404)."""
    try:
        return str(uuid.UUID(raw))
    except ValueError:
        return None


def digits(raw: str, *, max_digits: int) -> int | None:
    """The value of a string of ASCII digits, or None.

    ``str.isdigit`` alone also accepts ``²`` and ``①``, which ``int()`` then refuses, and an
    unbounded digit string costs quadratic time in ``int()``: both are checked first.
    """
    if raw.isascii() and raw.isdigit() and len(raw) <= max_digits:
        return int(raw)
    return None


def page_params(request: Request) -> tuple[int, int]:
    errors: dict[str, str] = {}
    page = _int_param(request, "page", 1, 1, MAX_PAGE, errors)
    page_size = _int_param(request, "page_size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE, errors)
    if errors:
        raise InvalidInput(errors)
    return page, page_size


def _int_param(
    request: Request, name: str, default: int, low: int, high: int, errors: dict[str, str]
) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    value = digits(raw, max_digits=9)
    if value is None or not low <= value <= high:
        errors[name] = f"Must be an integer from {low} to {high}"
        return default
    return value
