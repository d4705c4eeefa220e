"""The API's request and response bodies, each a pydantic model declared once.

Validation (``validation.parse``), the 422 messages (the ``Text`` and ``QueryInt`` markers)
and the OpenAPI document's ``components/schemas`` (``openapi``) all come from these
models; every JSON answer is built through one of them (``answers.respond``), so a route
cannot send a field its schema lacks (see ``answers``). A model's docstring and its fields'
descriptions are the document's text.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import BaseModel, Field, PlainSerializer, WithJsonSchema
from pydantic.json_schema import SkipJsonSchema

from .answers import Answer, omitted
from .statuses import StepStatus, VideoStatus
from .validation import (
    DEFAULT_PAGE_SIZE,
    EMAIL,
    MAX_DESCRIPTION_CHARS,
    MAX_EMAIL_CHARS,
    MAX_FILENAME_CHARS,
    MAX_NAME_CHARS,
    MAX_PAGE,
    MAX_PAGE_SIZE,
    MAX_PASSWORD_CHARS,
    MAX_TITLE_CHARS,
    MAX_USERNAME_CHARS,
    MIN_PASSWORD_CHARS,
    MIN_USERNAME_CHARS,
    USERNAME,
    QueryInt,
    Required,
    Text,
)

# --- Requests -------------------------------------------------------------------------

Name = Annotated[str | None, Text(max_chars=MAX_NAME_CHARS)]
Title = Annotated[str, Text(min_chars=1, max_chars=MAX_TITLE_CHARS)]
Description = Annotated[str | None, Text(max_chars=MAX_DESCRIPTION_CHARS)]


class Signup(BaseModel):
    """A new account. The username is kept in its NFKC form (fullwidth `ａｌｉｃｅ` signs up as
    `alice`), the email in its NFC form."""

    username: Annotated[str, Text(
        max_chars=MAX_USERNAME_CHARS, pattern=USERNAME, normalize="NFKC",
        pattern_message=f"Must be {MIN_USERNAME_CHARS} to {MAX_USERNAME_CHARS} characters of "
                        "letters, digits, '_', '.' or '-'")]
    email: Annotated[str, Text(max_chars=MAX_EMAIL_CHARS, pattern=EMAIL, normalize="NFC",
                               pattern_message="Must be a valid email address",
                               format="email")]
    password: Annotated[str, Text(min_chars=MIN_PASSWORD_CHARS, max_chars=MAX_PASSWORD_CHARS,
                                  strip=False)] = Field(repr=False)
    first_name: Name = None
    last_name: Name = None
    city: Name = None
    country: Name = None


class Login(BaseModel):
    """Credentials for a token."""

    username: Annotated[str, Text(max_chars=MAX_EMAIL_CHARS)] = Field(
        description="The username or the email")
    password: Annotated[str, Text(max_chars=MAX_PASSWORD_CHARS, strip=False)] = Field(repr=False)


class UploadText(BaseModel):
    """The text of an upload, from a form (``POST /api/videos``) or tus metadata."""

    title: Title
    description: Description = None


class Upload(UploadText):
    """`multipart/form-data`: the video file and its text."""

    file: Annotated[Path, Required("A video file is required"),
                    WithJsonSchema({"type": "string", "format": "binary"})]


class TusMetadata(UploadText):
    """The values of a tus `Upload-Metadata` header (not a body: not in the document)."""

    filename: Annotated[str | None, Text(max_chars=MAX_FILENAME_CHARS)] = None


class PageQuery(BaseModel):
    """The query of a paged list."""

    page: Annotated[int, QueryInt(minimum=1, maximum=MAX_PAGE)] = 1
    page_size: Annotated[int, QueryInt(minimum=1, maximum=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE


class CityQuery(BaseModel):
    """The rankings' filter."""

    city: Annotated[str | None, Text(
        max_chars=MAX_NAME_CHARS,
        message=f"Must be text of at most {MAX_NAME_CHARS} characters")] = Field(
        default=None, description="Unicode case-insensitive; accents count")


# --- Responses ------------------------------------------------------------------------

def _iso(value: dt.datetime) -> str:
    return value.isoformat()


#: An ISO 8601 time as ``datetime.isoformat`` writes it (``+00:00``, not pydantic's ``Z``).
Time = Annotated[dt.datetime, PlainSerializer(_iso, return_type=str),
                 WithJsonSchema({"type": "string", "format": "date-time"})]
#: A URL of a stored file: absolute (S3) or relative (local storage's ``/media/...``).
Url = Annotated[str, WithJsonSchema({"type": "string", "format": "uri-reference"})]
Email = Annotated[str, WithJsonSchema({"type": "string", "format": "email"})]
#: An id (the database keeps ids in their canonical UUID form).
Uuid = Annotated[str, WithJsonSchema({"type": "string", "format": "uuid"})]


class Token(Answer):
    access_token: str
    token_type: Literal["bearer"]
    expires_in: int = Field(description="Seconds")


class User(Answer):
    id: Uuid
    username: str
    email: Email
    first_name: str | None
    last_name: str | None
    city: str | None
    country: str | None


class SignupResult(Token):
    """A token for the new account, and the account."""

    user: User


class UploadResult(Answer):
    """An accepted upload."""

    id: Uuid
    title: str
    description: str | None
    processing_status: VideoStatus
    original_url: Url
    created_at: Time


class Video(UploadResult):
    """One of the caller's videos."""

    processed_at: Time | None
    processed_url: Url | None
    poster_url: Url | None
    votes: int


class Step(Answer):
    """One configured step of a video's pipeline."""

    name: str
    status: StepStatus
    started_at: Time | None
    finished_at: Time | None
    seconds: float | None
    attempts: int
    pass_: str = Field(serialization_alias="pass", description=(
        "The pass that runs the step: steps fused into one ffmpeg pass share it (e.g. "
        "'trim+resize+watermark+bumpers') and its times"))


class VideoError(Answer):
    """Why processing failed."""

    step: str = Field(description="The failed step; fused steps are joined with '+'")
    message: str = Field(description="'ExceptionType: details', for engineers")
    reason: str = Field(description="For the owner: what went wrong with their file, or that "
                                    "it was our fault, and what to do")
    retryable: bool = Field(description="POST /api/videos/{video_id}/retry can help: the "
                                        "failure was not the file's and retries are left")
    retries_left: int = Field(ge=0, description="Of ANB_MAX_RETRIES_PER_VIDEO (default 3)")


class VideoDetail(Video):
    """A video with its steps; `error` is present only when processing_status is failed."""

    steps: list[Step]
    error: VideoError | SkipJsonSchema[None] = omitted("Only when processing_status is failed")


class RetryResult(Answer):
    """A failed video queued again."""

    id: Uuid
    processing_status: Literal[VideoStatus.PROCESSING]
    retries_left: int = Field(ge=0)


class Player(Answer):
    username: str
    city: str | None
    country: str | None


class PublicVideo(Answer):
    """A published video."""

    id: Uuid
    title: str
    player: Player
    processed_url: Url
    poster_url: Url
    votes: int
    created_at: Time
    voted: bool | SkipJsonSchema[None] = omitted(
        "Only with a bearer token: the caller voted for it")


class VoteResult(Answer):
    video_id: Uuid
    votes: int


class Ranking(Answer):
    position: int = Field(ge=1)
    username: str
    city: str | None
    country: str | None
    votes: int


Item = TypeVar("Item", bound=Answer)


class Page(Answer, Generic[Item]):
    items: list[Item]
    total: int
    page: int
    page_size: int


class PublicVideoPage(Page[PublicVideo]):
    """A page of published videos, newest first."""


class RankingPage(Page[Ranking]):
    """A page of players, most votes first."""


class Health(Answer):
    """Every dependency's state."""

    status: Literal["healthy", "unhealthy"]
    database: Literal["connected", "unavailable"]
    storage: Literal["available", "unavailable"]
    queue: Literal["available", "unavailable"]


class Alive(Answer):
    status: Literal["alive"]
