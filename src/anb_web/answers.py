"""The base of every JSON response body, the error bodies, and how a body is sent.

A response model (``Answer``) refuses fields it does not declare, and its JSON schema says so
(``additionalProperties: false``): a route that builds its answer through one cannot send a
field the OpenAPI document lacks. The other bodies are in ``schemas``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema
from starlette.responses import JSONResponse


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def omitted(description: str) -> Any:
    """A field left out of the answer (not sent as null) when it does not apply; its schema
    is the present value's."""
    return Field(default=None, description=description, json_schema_extra=_no_default)


class Answer(BaseModel):
    """A response body: the declared fields and no others."""

    model_config = ConfigDict(extra="forbid")


class Error(Answer):
    """An error."""

    detail: str
    errors: dict[str, str] | SkipJsonSchema[None] = omitted(
        "Field name -> what is wrong with it, when the error is about fields")


class ValidationError(Answer):
    """Invalid input, with a message per field."""

    detail: str
    errors: dict[str, str] = Field(description="Field name -> what is wrong with it")


def body(answer: Answer) -> Any:
    """``answer`` as JSON-ready data (dicts, lists, str, int, float, bool, None): fields by
    their wire names, omitted ones left out."""
    return answer.model_dump(mode="json", by_alias=True, exclude_unset=True)


def respond(
    answer: Answer, *, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """A JSON response of ``answer``."""
    return JSONResponse(body(answer), status_code=status_code, headers=headers)
