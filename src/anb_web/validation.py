"""Reading and checking client input; every problem becomes a 422 with per-field messages.

The request bodies and query strings are pydantic models (``schemas``) whose fields carry
the markers defined here: ``Text`` and ``QueryInt``. A marker holds a field's limits once and
gives both the check (with this API's messages, below) and the field's JSON schema, which
``openapi`` publishes. ``parse`` validates a model and turns pydantic's errors into the
``InvalidInput`` answer: ``{"detail": "Invalid input", "errors": {field: message}}``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import unicodedata
import uuid
from collections.abc import Mapping
from typing import Any, Literal, TypeVar

import pydantic
from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema
from starlette.requests import Request

from .errors import ApiError, InvalidInput

MAX_JSON_BYTES = 64 * 1024
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
#: Deep pages cost a long OFFSET scan; nobody pages this far by hand.
MAX_PAGE = 10_000
#: A query number has at most this many digits: ``int()`` of a long digit string costs
#: quadratic time.
MAX_QUERY_DIGITS = 9

MIN_USERNAME_CHARS = 3
MAX_USERNAME_CHARS = 32
USERNAME = re.compile(rf"[A-Za-z0-9_.\-]{{{MIN_USERNAME_CHARS},{MAX_USERNAME_CHARS}}}")
#: Deliberately simple: one @, no spaces, a dot in the domain. Deliverability is not ours
#: to judge; this catches typos and garbage.
EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")
MAX_EMAIL_CHARS = 254
MIN_PASSWORD_CHARS = 8
MAX_PASSWORD_CHARS = 1024
MAX_NAME_CHARS = 100
MAX_TITLE_CHARS = 200
MAX_DESCRIPTION_CHARS = 5000
MAX_FILENAME_CHARS = 255

REQUIRED = "This field is required"
NOT_A_STRING = "Must be a string"
NOT_STORABLE = "Must be valid text without NUL characters"

Model = TypeVar("Model", bound=pydantic.BaseModel)


def _invalid(message: str) -> PydanticCustomError:
    """A field's error whose message is ``message`` as it is (no placeholders)."""
    return PydanticCustomError("anb_invalid", message)


@dataclasses.dataclass(frozen=True)
class Text:
    """The rules of a text field, for ``Annotated[str, Text(...)]`` (a required field) or
    ``Annotated[str | None, Text(...)] = None`` (an optional one: null, absent or blank is
    None).

    The value is stripped (unless ``strip`` is False); a required field left blank without
    a ``min_chars`` is missing. Then it must be ``min_chars`` to ``max_chars`` characters
    (code points) and storable (``is_storable``); then, when a ``pattern`` is given and the
    value is not empty, its ``normalize`` form (a ``unicodedata`` form, or as it is) must
    fullmatch it. The value kept is that form.
    ``message``, when given, replaces every message but the required one. ``format`` is
    the JSON schema's ``format`` (documentation only).
    """

    max_chars: int
    min_chars: int = 0
    strip: bool = True
    pattern: re.Pattern[str] | None = None
    pattern_message: str = ""
    normalize: Literal["NFC", "NFKC"] | None = None
    message: str | None = None
    format: str | None = None

    def check(self, value: Any, *, optional: bool) -> str | None:
        """The checked value; None for an optional field left out.

        Raises:
            PydanticCustomError: the message for the field.
        """
        if value is None or (isinstance(value, str) and not value.strip() and optional):
            if not optional:
                raise _invalid(REQUIRED)
            return None
        if not isinstance(value, str):
            raise _invalid(self.message or NOT_A_STRING)
        value = value.strip() if self.strip else value
        if not value and not optional and not self.min_chars:
            raise _invalid(REQUIRED)  # blank is no answer; a minimum says so in its words
        if not self.min_chars <= len(value) <= self.max_chars:
            raise _invalid(self.message or f"Must be {self.min_chars} to {self.max_chars} "
                                            "characters")
        if not is_storable(value):
            raise _invalid(self.message or NOT_STORABLE)
        if self.normalize is not None:
            value = unicodedata.normalize(self.normalize, value)
        if self.pattern is not None and value and not self.pattern.fullmatch(value):
            raise _invalid(self.pattern_message)
        return value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        optional = source is not str
        checked = core_schema.no_info_plain_validator_function(
            functools.partial(self.check, optional=optional))
        # An optional field's null goes through ``nullable``, which the JSON schema shows.
        return core_schema.nullable_schema(checked) if optional else checked

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        text: dict[str, Any] = {"type": "string", "maxLength": self.max_chars}
        if self.min_chars:
            text["minLength"] = self.min_chars
        if self.pattern is not None:
            text["pattern"] = f"^{self.pattern.pattern}$"
        if self.format is not None:
            text["format"] = self.format
        return {"anyOf": [text, {"type": "null"}]} if schema["type"] == "nullable" else text


@dataclasses.dataclass(frozen=True)
class QueryInt:
    """The rules of an integer query parameter, ``Annotated[int, QueryInt(...)] = default``:
    ASCII digits only (no sign, space or ``_``), at most ``MAX_QUERY_DIGITS`` of them, from
    ``minimum`` to ``maximum``."""

    minimum: int
    maximum: int

    def check(self, raw: Any) -> int:
        """The number.

        Raises:
            PydanticCustomError: it is not an integer in range.
        """
        value = digits(raw, max_digits=MAX_QUERY_DIGITS) if isinstance(raw, str) else None
        if value is None or not self.minimum <= value <= self.maximum:
            raise _invalid(f"Must be an integer from {self.minimum} to {self.maximum}")
        return value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(self.check)

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "integer", "minimum": self.minimum, "maximum": self.maximum}


@dataclasses.dataclass(frozen=True)
class Required:
    """Marks a field whose absence has its own message, ``Annotated[T, Required(...)]``."""

    message: str


def parse(model: type[Model], data: Mapping[str, Any], *, prefix: str = "") -> Model:
    """``data`` validated as ``model``.

    Raises:
        InvalidInput: (422) one message per wrong field, keyed ``prefix + field name``.
    """
    try:
        return model.model_validate(dict(data))
    except pydantic.ValidationError as exc:
        raise InvalidInput({f"{prefix}{error['loc'][0]}": _message(model, error)
                            for error in exc.errors(include_url=False)}) from None


def _message(model: type[pydantic.BaseModel], error: Any) -> str:
    if error["type"] != "missing":
        return str(error["msg"])
    field = model.model_fields[str(error["loc"][0])]
    custom = [marker.message for marker in field.metadata if isinstance(marker, Required)]
    return custom[0] if custom else REQUIRED


async def read_json_object(request: Request) -> dict[str, Any]:
    """The body as a JSON object (a dict).

    Raises:
        ApiError: 413 past ``MAX_JSON_BYTES``.
        InvalidInput: (422, field ``body``) not a JSON object.
    """
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
