"""The owner's videos: upload, list, detail, delete."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import and_, delete, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from anb_pipeline import MediaError, StorageError, layout, probe

from . import retry, schemas
from .answers import body, respond
from .auth import authenticate
from .errors import ACCOUNT_GONE, ApiError, InvalidInput, unauthorized
from .failures import failure
from .models import IdempotencyKey, Video, VideoStep, Vote
from .state import Services, services
from .statuses import StepStatus, VideoStatus
from .uploads import FILE_FIELD, Upload, check_upload_headers, receive_upload
from .validation import parse, video_id

logger = logging.getLogger(__name__)

#: Probed container (PyAV's first format name) -> stored extension. The user's filename
#: never picks the extension: it is input, the probe is fact.
CONTAINER_EXTENSIONS = {
    "mov": "mp4", "matroska": "mkv", "avi": "avi", "mpegts": "ts", "flv": "flv",
    "asf": "wmv", "mpeg": "mpg", "ogg": "ogv", "h264": "h264", "hevc": "hevc",
}
IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_IDEMPOTENCY_KEY_CHARS = 255
#: An idempotency key's characters: visible ASCII (no space, no control character).
IDEMPOTENCY_KEY = re.compile(r"[!-~]+")
#: How long a key keeps returning its video: a mobile client's retries fit well inside.
IDEMPOTENCY_TTL_S = 24 * 3600
MEDIA_TYPES = {"mp4": "video/mp4", "mkv": "video/x-matroska", "webm": "video/webm",
               "avi": "video/x-msvideo", "ts": "video/mp2t", "mpg": "video/mpeg"}


def votes_count() -> Any:
    """Votes of the outer query's video, as a correlated subquery: no per-row round trip."""
    return (select(func.count(Vote.id)).where(Vote.video_id == Video.id)
            .correlate(Video).scalar_subquery().label("votes"))


def stored_extension(format_name: str) -> str:
    first = format_name.split(",")[0]
    if "webm" in format_name.split(","):
        return "webm"
    return CONTAINER_EXTENSIONS.get(first, first if first.isalnum() else "bin")


def _upload_result_fields(app: Services, video: Video) -> dict[str, Any]:
    return {"id": video.id, "title": video.title, "description": video.description,
            "processing_status": video.status, "original_url": app.urls.url(video.source_key),
            "created_at": video.created_at}


def _video_fields(app: Services, video: Video, votes: int) -> dict[str, Any]:
    """The fields of ``schemas.Video``."""
    processed = video.status == VideoStatus.PROCESSED
    return {
        **_upload_result_fields(app, video), "processed_at": video.processed_at,
        "processed_url": app.urls.url(video.output_key) if processed else None,
        "poster_url": app.urls.url(video.poster_key) if processed else None,
        "votes": votes,
    }


def upload_fields(upload: Upload) -> schemas.Upload:
    """The checked form.

    Raises:
        InvalidInput: (422) names every wrong field, ``file`` when no file was sent.
    """
    file = {FILE_FIELD: upload.file_path} if upload.file_path is not None else {}
    return parse(schemas.Upload, {**upload.fields, **file})


def idempotency_key(request: Request) -> str | None:
    """The ``Idempotency-Key`` header, or None; 422 unless it is 1 to 255 visible ASCII
    characters (the IETF httpapi draft's key is an opaque string, typically a UUID)."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not (len(key) <= MAX_IDEMPOTENCY_KEY_CHARS and IDEMPOTENCY_KEY.fullmatch(key)):
        raise InvalidInput({IDEMPOTENCY_HEADER: f"Must be 1 to {MAX_IDEMPOTENCY_KEY_CHARS} "
                                                "visible ASCII characters, e.g. a UUID"})
    return key


def _replayed(session: Session, *, user_id: str, key: str) -> Video | None:
    """The video this user's key created within ``IDEMPOTENCY_TTL_S``, if any."""
    return session.scalar(
        select(Video).join(IdempotencyKey, IdempotencyKey.video_id == Video.id)
        .where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key,
               IdempotencyKey.created_at > time.time() - IDEMPOTENCY_TTL_S))


def _insert_video(
    session: Session, *, video: Video, steps: tuple[str, ...], idempotency_key: str | None,
    on_insert: Callable[[Session, Video], None] | None,
) -> None:
    session.add(video)
    session.flush()
    if idempotency_key is not None:
        now_s = time.time()
        # Expired keys go (this user's, so the key can be reused, and everyone's old ones).
        session.execute(delete(IdempotencyKey).where(
            IdempotencyKey.created_at <= now_s - IDEMPOTENCY_TTL_S))
        # Same transaction as the video: a concurrent retry with the key fails here, on the
        # primary key, and answers with this video instead.
        session.add(IdempotencyKey(user_id=video.user_id, key=idempotency_key,
                                   video_id=video.id, created_at=now_s))
    # Every configured step is listed from the start, so the owner sees what is coming.
    session.add_all(VideoStep(video_id=video.id, name=name, position=index, attempts=0,
                              status=StepStatus.PENDING) for index, name in enumerate(steps))
    if on_insert is not None:
        on_insert(session, video)


def _delete_video_row(session: Session, *, video_id: str) -> None:
    session.execute(delete(Video).where(Video.id == video_id))


async def _discard_upload(app: Services, *, video_id: str, source_key: str) -> None:
    """Undo a half-done upload: no orphan row, no orphan object."""
    try:
        await app.database.run(_delete_video_row, video_id=video_id)
        await run_in_threadpool(app.pipeline.storage.delete, source_key)
    except Exception:
        logger.exception("Could not clean up the failed upload of video %s", video_id)


#: Stores the original at a storage key, given the key and its media type (or None).
StoreOriginal = Callable[[str, "str | None"], None]


async def admit_video(
    app: Services, *, source: Path | str, store: StoreOriginal, user_id: str, title: str,
    description: str | None, idempotency_key: str | None = None,
    on_insert: Callable[[Session, Video], None] | None = None,
) -> tuple[Video, bool]:
    """Probe ``source`` (a local path or a URL ffmpeg reads), store the original with
    ``store``, insert the video row (and run ``on_insert`` in its transaction), then
    enqueue the pipeline: all or nothing.

    Returns the new video and False; or, when a concurrent request with the same
    idempotency key won, that request's video and True (nothing of this one is kept).
    Raises ApiError 415 when ``source`` is not a video (nothing stored), 401 when the
    owner's account went away meanwhile.
    """
    try:
        info = await run_in_threadpool(probe, source)
    except MediaError as exc:
        raise ApiError(415, f"The upload is not a video: {exc}") from None
    new_id = str(uuid.uuid4())
    extension = stored_extension(info.format_name)
    key = layout.original_key(video_id=new_id, extension=extension)
    await run_in_threadpool(store, key, MEDIA_TYPES.get(extension))
    video = Video(id=new_id, user_id=user_id, title=title, description=description,
                  source_key=key, status=VideoStatus.PENDING)
    try:
        await app.database.run(_insert_video, video=video, steps=app.pipeline.settings.steps,
                               idempotency_key=idempotency_key, on_insert=on_insert)
        # The row is committed before the message leaves: a fast worker's first event must
        # find it.
        await run_in_threadpool(app.pipeline.enqueue, video_id=new_id, source_key=key)
    except BaseException as exc:
        await _discard_upload(app, video_id=new_id, source_key=key)
        if not isinstance(exc, IntegrityError):
            raise
        # New rows break a constraint only when a concurrent request with the same key
        # won, or the owner's account was deleted while the upload streamed.
        first = None if idempotency_key is None else await app.database.run(
            _replayed, user_id=user_id, key=idempotency_key)
        if first is None:
            raise unauthorized(ACCOUNT_GONE) from None
        return first, True
    return video, False


def _put_original(app: Services, *, path: Path) -> StoreOriginal:
    def store(key: str, media_type: str | None) -> None:
        with open(path, "rb") as stream:
            app.pipeline.storage.put_stream(key, stream, content_type=media_type)

    return store


def _created(app: Services, video: Video, *, replayed: bool) -> JSONResponse:
    return respond(schemas.UploadResult(**_upload_result_fields(app, video)), status_code=201,
                   headers={REPLAYED_HEADER: "true"} if replayed else None)


async def create_video(request: Request) -> JSONResponse:
    """Upload, store and enqueue a video; 201 with the new video.

    With an ``Idempotency-Key`` the first request that completes creates the video, and
    every retry with the same key by the same user within ``IDEMPOTENCY_TTL_S`` answers 201
    with that video and ``Idempotent-Replayed: true``, storing and enqueueing nothing.
    """
    app = services(request)
    user_id = await authenticate(request)
    key = idempotency_key(request)
    if key is not None and (first := await app.database.run(_replayed, user_id=user_id,
                                                             key=key)):
        # The body is read and dropped so the client sees a clean answer, not a reset.
        async for _ in request.stream():
            pass
        return _created(app, first, replayed=True)
    limit = app.settings.max_upload_bytes
    boundary = check_upload_headers(request, max_file_bytes=limit)
    upload = await receive_upload(request, boundary=boundary, max_file_bytes=limit,
                                  spool_dir=app.pipeline.settings.work_dir)
    try:
        form = upload_fields(upload)
        video, replayed = await admit_video(
            app, source=form.file, store=_put_original(app, path=form.file),
            user_id=user_id, title=form.title, description=form.description,
            idempotency_key=key)
    finally:
        await run_in_threadpool(upload.discard)
    if not replayed:
        request.app.state.metrics.upload_bytes.inc(upload.file_bytes)
        logger.info("Video %s uploaded (%d bytes) and enqueued", video.id, upload.file_bytes,
                    extra={"video_id": video.id})
    return _created(app, video, replayed=replayed)


def _owned_videos(session: Session, *, user_id: str) -> list[tuple[Video, int]]:
    rows = session.execute(
        select(Video, votes_count()).where(Video.user_id == user_id)
        .order_by(Video.created_at.desc(), Video.seq.desc())
    ).all()
    return [(row[0], int(row[1])) for row in rows]


async def list_videos(request: Request) -> JSONResponse:
    app = services(request)
    user_id = await authenticate(request)
    rows = await app.database.run(_owned_videos, user_id=user_id)
    return JSONResponse([body(schemas.Video(**_video_fields(app, video, votes)))
                         for video, votes in rows])


def _video_with_steps(session: Session, *, video_id: str) -> tuple[Video, int, list[VideoStep]]:
    row = session.execute(select(Video, votes_count()).where(Video.id == video_id)).first()
    if row is None:
        raise ApiError(404, "No such video")
    steps = session.scalars(
        select(VideoStep).where(VideoStep.video_id == video_id)
        .order_by(VideoStep.position, VideoStep.name)
    ).all()
    return row[0], int(row[1]), list(steps)


def step_answer(step: VideoStep, *, passes: dict[str, str]) -> schemas.Step:
    return schemas.Step(name=step.name, status=StepStatus(step.status), started_at=step.started_at,
                        finished_at=step.finished_at, seconds=step.seconds,
                        attempts=step.attempts, pass_=passes.get(step.name, step.name))


def _path_video_id(request: Request) -> str:
    found = video_id(request.path_params["video_id"])
    if found is None:
        raise ApiError(404, "No such video")
    return found


async def get_video(request: Request) -> JSONResponse:
    app = services(request)
    user_id = await authenticate(request)
    video, votes, steps = await app.database.run(_video_with_steps,
                                                 video_id=_path_video_id(request))
    if video.user_id != user_id:
        raise ApiError(403, "This video belongs to another user")
    passes = app.pipeline.passes()
    detail = schemas.VideoDetail(**_video_fields(app, video, votes),
                                 steps=[step_answer(step, passes=passes) for step in steps])
    if video.status == VideoStatus.FAILED:
        detail.error = failure(video, max_retries=app.settings.max_retries_per_video)
    return respond(detail)


def _delete_owned(session: Session, *, video_id: str, user_id: str) -> str:
    """Delete the row unless it is published with votes; one guarded statement decides."""
    row = session.execute(select(Video.user_id, Video.source_key)
                          .where(Video.id == video_id)).first()
    if row is None:
        raise ApiError(404, "No such video")
    if row.user_id != user_id:
        raise ApiError(403, "This video belongs to another user")
    voted = and_(Video.status == VideoStatus.PROCESSED, exists().where(Vote.video_id == Video.id))
    deleted = session.execute(delete(Video).where(Video.id == video_id, ~voted))
    if getattr(deleted, "rowcount", 0) == 0:
        raise ApiError(409, "A published video that has votes cannot be deleted")
    return str(row.source_key)


def delete_objects(app: Services, *, video_id: str, source_key: str) -> None:
    storage = app.pipeline.storage
    for key in (source_key, layout.clip_key(video_id), layout.poster_key(video_id)):
        storage.delete(key)
    storage.delete_prefix(layout.work_prefix(video_id))


async def delete_video(request: Request) -> Response:
    app = services(request)
    user_id = await authenticate(request)
    target = _path_video_id(request)
    source_key = await app.database.run(_delete_owned, video_id=target, user_id=user_id)
    # The row goes first, atomically with the vote check. Objects follow; if storage fails
    # now they are orphaned, which is logged, rather than leaving a row without files.
    try:
        await run_in_threadpool(delete_objects, app, video_id=target, source_key=source_key)
    except StorageError:
        logger.exception("Video %s deleted, but some of its objects were not", target)
    return Response(status_code=204)


routes = [
    Route("/api/videos", create_video, methods=["POST"]),
    Route("/api/videos", list_videos, methods=["GET"]),
    Route("/api/videos/{video_id}", get_video, methods=["GET"]),
    Route("/api/videos/{video_id}", delete_video, methods=["DELETE"]),
    *retry.routes,
]
