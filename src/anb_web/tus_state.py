"""The state of resumable (tus) uploads, in the database so every web instance shares it.

An upload's bytes are ``parts`` (multipart parts of ``part_bytes`` each, already in
storage) followed by a ``tail`` (fewer than ``part_bytes`` bytes, kept as an object of its
own until the next part fills), so ``offset_bytes == len(parts) * part_bytes + tail_bytes``.

One request writes an upload at a time: each PATCH takes the upload over by setting a new
``lease_token``, and every write it makes is conditional on that token. A request whose
client vanished (a phone that lost signal) is thus superseded at once by the client's next
request, wherever it lands, and its late writes change nothing.
"""

from __future__ import annotations

import dataclasses
import json
import uuid

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from .errors import ApiError
from .models import TusUpload

NO_SUCH_UPLOAD = "No such upload: it never existed, was terminated, or expired"


@dataclasses.dataclass(frozen=True)
class Progress:
    """What is stored of an upload; see the module docstring for the invariant."""

    offset_bytes: int
    parts: tuple[tuple[int, str], ...]
    tail_key: str | None
    tail_bytes: int


@dataclasses.dataclass(frozen=True)
class UploadState:
    id: str
    user_id: str
    length_bytes: int
    part_bytes: int
    title: str
    description: str | None
    storage_key: str
    multipart_id: str | None
    progress: Progress
    video_id: str | None
    #: Epoch seconds.
    expires_at: float

    @property
    def received_all(self) -> bool:
        return self.progress.offset_bytes == self.length_bytes

    @classmethod
    def of(cls, row: TusUpload) -> UploadState:
        parts = tuple((int(number), str(tag)) for number, tag in json.loads(row.parts))
        return cls(id=row.id, user_id=row.user_id, length_bytes=row.length_bytes,
                   part_bytes=row.part_bytes, title=row.title, description=row.description,
                   storage_key=row.storage_key, multipart_id=row.multipart_id,
                   progress=Progress(offset_bytes=row.offset_bytes, parts=parts,
                                     tail_key=row.tail_key, tail_bytes=row.tail_bytes),
                   video_id=row.video_id, expires_at=row.expires_at)


def new_upload_id() -> str:
    return uuid.uuid4().hex


def insert(session: Session, *, upload: TusUpload) -> None:
    session.add(upload)


def _owned(session: Session, *, upload_id: str, user_id: str, now_s: float) -> TusUpload:
    """The row, locked for this transaction; 404 when missing, 403 when another user's.

    An expired row is answered 404 too: the caller's sweep removes it and its storage.
    """
    row = session.scalar(select(TusUpload).where(TusUpload.id == upload_id).with_for_update())
    if row is None or (row.video_id is None and row.expires_at <= now_s):
        raise ApiError(404, NO_SUCH_UPLOAD)
    if row.user_id != user_id:
        raise ApiError(403, "This upload belongs to another user")
    return row


def read(session: Session, *, upload_id: str, user_id: str, now_s: float) -> UploadState:
    return UploadState.of(_owned(session, upload_id=upload_id, user_id=user_id, now_s=now_s))


def take_over(
    session: Session, *, upload_id: str, user_id: str, token: str, now_s: float
) -> UploadState:
    """Make ``token`` the upload's only writer; any earlier writer's later writes fail."""
    row = _owned(session, upload_id=upload_id, user_id=user_id, now_s=now_s)
    row.lease_token = token
    return UploadState.of(row)


def commit(
    session: Session, *, upload_id: str, token: str, progress: Progress,
    finished_parts: bool = False,
) -> bool:
    """Record ``progress`` if ``token`` still holds the upload; False when superseded.

    ``finished_parts`` records that the parts were joined (the multipart id is dropped).
    """
    values: dict[str, object] = {
        "offset_bytes": progress.offset_bytes,
        "parts": json.dumps([list(part) for part in progress.parts]),
        "tail_key": progress.tail_key, "tail_bytes": progress.tail_bytes,
    }
    if finished_parts:
        values["multipart_id"] = None
    result = session.execute(update(TusUpload).where(
        TusUpload.id == upload_id, TusUpload.lease_token == token).values(**values))
    return bool(getattr(result, "rowcount", 0))


def release(session: Session, *, upload_id: str, token: str) -> None:
    session.execute(update(TusUpload).where(
        TusUpload.id == upload_id, TusUpload.lease_token == token).values(lease_token=None))


def record_video(session: Session, *, upload_id: str, video_id: str) -> None:
    """Mark the upload finished as ``video_id`` (in the video row's own transaction)."""
    session.execute(update(TusUpload).where(TusUpload.id == upload_id)
                    .values(video_id=video_id, lease_token=None))


def forget(session: Session, *, upload_id: str) -> None:
    session.execute(delete(TusUpload).where(TusUpload.id == upload_id))


def expired_one(session: Session, *, upload_id: str, now_s: float) -> UploadState | None:
    """The upload if it exists and is past its expiry, else None."""
    row = session.get(TusUpload, upload_id)
    return UploadState.of(row) if row is not None and row.expires_at <= now_s else None


def expired(session: Session, *, now_s: float, limit: int) -> list[UploadState]:
    """Uploads past their expiry, unfinished or finished, oldest first."""
    rows = session.scalars(select(TusUpload).where(TusUpload.expires_at <= now_s)
                           .order_by(TusUpload.expires_at).limit(limit)).all()
    return [UploadState.of(row) for row in rows]
