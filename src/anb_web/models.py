"""The tables: users, videos, per-step records, votes and revoked tokens.

Case-insensitive and case-folded lookups use ``*_key`` columns computed in Python at write
time, so uniqueness and the city filter behave the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from .statuses import StepStatus, VideoStatus, values
from .validation import (
    MAX_EMAIL_CHARS,
    MAX_FILENAME_CHARS,
    MAX_NAME_CHARS,
    MAX_TITLE_CHARS,
    MAX_USERNAME_CHARS,
)

STATUSES = values(VideoStatus)
STEP_STATUSES = values(StepStatus)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def fold(text: str) -> str:
    """The comparison key of a name: NFC first so composed and decomposed accents agree."""
    return unicodedata.normalize("NFC", text).casefold()


def username_key(username: str) -> str:
    """The identity of a username: NFKC then case folding (Unicode TR #15 and the
    Unicode Standard's section 3.13), so fullwidth and other compatibility look-alikes of a
    name, and its other cases, are the same user."""
    return unicodedata.normalize("NFKC", username).casefold()


def email_key(email: str) -> str:
    """The identity of an email address: NFC (RFC 6530's normalization for internationalized
    addresses), lower-cased, so the composed and decomposed ``josé@`` are one address."""
    return unicodedata.normalize("NFC", email).lower()


class UtcDateTime(TypeDecorator[dt.datetime]):
    """Naive UTC in the database, aware UTC in Python: identical on SQLite and PostgreSQL."""

    impl = DateTime()
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.astimezone(dt.timezone.utc).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    })


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    username: Mapped[str] = mapped_column(String(MAX_USERNAME_CHARS))
    username_key: Mapped[str] = mapped_column(String(MAX_USERNAME_CHARS), unique=True)
    email: Mapped[str] = mapped_column(String(MAX_EMAIL_CHARS))
    email_key: Mapped[str] = mapped_column(String(MAX_EMAIL_CHARS), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    first_name: Mapped[str | None] = mapped_column(String(MAX_NAME_CHARS))
    last_name: Mapped[str | None] = mapped_column(String(MAX_NAME_CHARS))
    city: Mapped[str | None] = mapped_column(String(MAX_NAME_CHARS))
    city_key: Mapped[str | None] = mapped_column(String(MAX_NAME_CHARS), index=True)
    country: Mapped[str | None] = mapped_column(String(MAX_NAME_CHARS))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class Video(Base):
    __tablename__ = "videos"
    __table_args__ = (
        CheckConstraint(f"status IN {STATUSES!r}", name="status"),
        # The owner's list and the public list, both newest first with ``seq`` as tiebreak.
        Index(None, "user_id", "created_at", "seq"),
        Index(None, "status", "created_at", "seq"),
        {"sqlite_autoincrement": True},
    )

    #: Upload order: breaks ties between equal timestamps ("the later upload first").
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(36), unique=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(MAX_TITLE_CHARS))
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default=VideoStatus.PENDING.value)
    source_key: Mapped[str] = mapped_column(String(255))
    output_key: Mapped[str | None] = mapped_column(String(255))
    poster_key: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)
    processed_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    #: Epoch seconds (the worker's clock) of the event that set ``status``: for staleness.
    status_at: Mapped[float | None] = mapped_column(Float)
    #: ``event_order`` of the event that set ``status``: orders out-of-order worker events.
    status_order: Mapped[int | None] = mapped_column(BigInteger)
    error_step: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    #: JSON of the job the failed step was given: "Try again" resumes there with it.
    error_job: Mapped[str | None] = mapped_column(Text)
    #: How many times the owner has tried processing again (limited per video).
    retries: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class VideoStep(Base):
    __tablename__ = "video_steps"
    __table_args__ = (CheckConstraint(f"status IN {STEP_STATUSES!r}", name="status"),)

    video_id: Mapped[str] = mapped_column(
        ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: The step's place in the pipeline, for display order.
    position: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=StepStatus.PENDING.value)
    started_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UtcDateTime)
    seconds: Mapped[float | None] = mapped_column(Float)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    #: Epoch seconds (the worker's clock) of the newest event applied.
    last_event_at: Mapped[float | None] = mapped_column(Float)
    #: ``event_order`` of the newest event applied: older redeliveries are ignored.
    last_event_order: Mapped[int | None] = mapped_column(BigInteger)


class Vote(Base):
    __tablename__ = "votes"
    __table_args__ = (UniqueConstraint("user_id", "video_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    video_id: Mapped[str] = mapped_column(
        ForeignKey("videos.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class WorkerRecord(Base):
    """A worker's last beat (``anb_pipeline.events.WorkerBeat``), for ``anb status``."""

    __tablename__ = "workers"

    #: ``host:pid``.
    worker_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    queue: Mapped[str] = mapped_column(String(255))
    #: Epoch seconds (the worker's clock) of its last answered receive; None before one.
    last_receive_at: Mapped[float | None] = mapped_column(Float)
    #: Epoch seconds (the worker's clock) of its last beat.
    last_beat_at: Mapped[float] = mapped_column(Float, index=True)
    free_slots: Mapped[int] = mapped_column(Integer)
    slots: Mapped[int] = mapped_column(Integer)


class RevokedToken(Base):
    """A token logged out before it expired; kept until then, so a replay gets 401."""

    __tablename__ = "revoked_tokens"

    token_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: Epoch seconds: after it the token is refused anyway and the row can go.
    expires_at: Mapped[float] = mapped_column(Float, index=True)


class LoginFailure(Base):
    """One failed login under one limiter key (see ``ratelimit``); swept after its window."""

    __tablename__ = "login_failures"
    __table_args__ = (Index(None, "key", "failed_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: SHA-256 hex of the account or client address.
    key: Mapped[str] = mapped_column(String(64))
    #: Epoch seconds.
    failed_at: Mapped[float] = mapped_column(Float, index=True)


class IdempotencyKey(Base):
    """The video an upload's ``Idempotency-Key`` created: a retry gets it back (see
    ``videos``). It goes with the video, the user, or after ``IDEMPOTENCY_TTL_S``."""

    __tablename__ = "idempotency_keys"

    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    video_id: Mapped[str] = mapped_column(ForeignKey("videos.id", ondelete="CASCADE"),
                                          index=True)
    #: Epoch seconds.
    created_at: Mapped[float] = mapped_column(Float, index=True)


class TusUpload(Base):
    """A resumable (tus) upload in progress or just finished (see ``tus``): its state lives
    here, not in a web process, so any instance can take its next PATCH."""

    __tablename__ = "tus_uploads"

    #: UUID4 hex: the last segment of the upload's URL.
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         index=True)
    #: ``Upload-Length``: the whole file's size.
    length_bytes: Mapped[int] = mapped_column(BigInteger)
    #: ``Upload-Offset``: bytes stored so far (the parts plus the tail).
    offset_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    #: Size of every multipart part but the last.
    part_bytes: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(MAX_TITLE_CHARS))
    description: Mapped[str | None] = mapped_column(Text)
    #: The client's file name, for display only: never part of a storage key.
    filename: Mapped[str | None] = mapped_column(String(MAX_FILENAME_CHARS))
    #: Where the parts are joined: ``uploads/{id}``.
    storage_key: Mapped[str] = mapped_column(String(255))
    #: The storage's multipart id; None once the parts are joined.
    multipart_id: Mapped[str | None] = mapped_column(String(1024))
    #: JSON list of ``[part number, tag]`` of the stored parts, in order.
    parts: Mapped[str] = mapped_column(Text, default="[]")
    #: The bytes past the last part (fewer than ``part_bytes``), as an object of their own.
    tail_key: Mapped[str | None] = mapped_column(String(255))
    tail_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    #: The request now writing this upload; a newer request takes it over.
    lease_token: Mapped[str | None] = mapped_column(String(32))
    #: The video the finished upload became.
    video_id: Mapped[str | None] = mapped_column(String(36))
    #: Epoch seconds.
    created_at: Mapped[float] = mapped_column(Float)
    #: Epoch seconds: ``Upload-Expires``, ``upload_expiry_s`` after creation (fixed, so
    #: the bucket's abort-incomplete-multipart rule can be the safety net behind it).
    expires_at: Mapped[float] = mapped_column(Float, index=True)
