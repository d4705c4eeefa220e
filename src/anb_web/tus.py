"""Resumable uploads: the tus 1.0.0 protocol (https://tus.io/protocols/resumable-upload)
under ``/api/uploads/``, with the creation, creation-with-upload, termination and
expiration extensions.

``POST`` creates an upload (``Upload-Length``, ``Upload-Metadata`` with ``title``,
``description``, ``filename``), ``HEAD`` tells its offset, ``PATCH`` appends at that offset,
``DELETE`` terminates it. Bytes go to storage as they arrive (see ``tus_body``); the state
lives in the database (see ``tus_state``). When the last byte is in, the stored file is
probed, the video created and the pipeline enqueued exactly as ``POST /api/videos`` does
(``videos.admit_video``); the new video's id is in the ``ANB-Video-Id`` header of that
PATCH's answer, and of every later HEAD.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import email.utils
import functools
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from anb_pipeline import MAX_PARTS, MIN_PART_BYTES, layout

from . import tus_state
from .auth import authenticate
from .errors import ApiError
from .models import TusUpload, Video
from .schemas import TusMetadata
from .state import Services, services
from .tus_body import BodyWriter, Superseded
from .tus_expiry import discard_storage
from .tus_state import UploadState
from .validation import digits, parse
from .videos import admit_video

logger = logging.getLogger(__name__)

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = ("creation", "creation-with-upload", "termination", "expiration")
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
#: The header that names the video a finished upload became.
VIDEO_ID_HEADER = "ANB-Video-Id"
MAX_METADATA_CHARS = 16 * 1024
#: Upload-Length and Upload-Offset: at most 19 digits (a signed 64-bit integer).
MAX_NUMBER_DIGITS = 19

Handler = Callable[[Request], Awaitable[Response]]


def _tus_headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {"Tus-Resumable": TUS_VERSION, **(extra or {})}


def tus_endpoint(handler: Handler) -> Handler:
    """Checks ``Tus-Resumable`` (412 with ``Tus-Version`` otherwise) and puts it on every
    answer, errors included."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            if request.headers.get("tus-resumable") != TUS_VERSION:
                raise ApiError(412, f"Send Tus-Resumable: {TUS_VERSION}; this server speaks "
                                    f"tus {TUS_VERSION}", headers={"Tus-Version": TUS_VERSION})
            response = await handler(request)
        except HTTPException as exc:
            exc.headers = _tus_headers(dict(exc.headers or {}))
            raise
        response.headers["Tus-Resumable"] = TUS_VERSION
        return response

    return wrapped


def _number(request: Request, header: str) -> int | None:
    raw = request.headers.get(header)
    if raw is None:
        return None
    value = digits(raw.strip(), max_digits=MAX_NUMBER_DIGITS)
    if value is None:
        raise ApiError(400, f"{header} must be a non-negative integer of at most "
                            f"{MAX_NUMBER_DIGITS} digits")
    return value


def parse_metadata(raw: str) -> dict[str, str]:
    """``Upload-Metadata``: comma-separated ``key base64value`` pairs (the value may be
    absent). Raises ApiError 400 when it is malformed or a value is not UTF-8 text."""
    if len(raw) > MAX_METADATA_CHARS:
        raise ApiError(400, f"Upload-Metadata is longer than {MAX_METADATA_CHARS} characters")
    pairs: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        key, _, value = item.partition(" ")
        if not key.isascii() or key in pairs:
            raise ApiError(400, f"Upload-Metadata key {key!r} is not ASCII or is repeated")
        try:
            pairs[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise ApiError(400, f"Upload-Metadata value of {key!r} is not base64 of UTF-8 "
                                "text") from None
    return pairs


def _expires(upload: UploadState | TusUpload) -> dict[str, str]:
    return {"Upload-Expires": email.utils.formatdate(upload.expires_at, usegmt=True)}


def _part_bytes(length_bytes: int) -> int:
    """Parts of MIN_PART_BYTES, larger only when the file would need over MAX_PARTS."""
    return max(MIN_PART_BYTES, math.ceil(length_bytes / MAX_PARTS))


async def options(request: Request) -> Response:
    """The server's tus capabilities; public, like any protocol discovery."""
    app = services(request)
    return Response(status_code=204, headers=_tus_headers({
        "Tus-Version": TUS_VERSION, "Tus-Extension": ",".join(TUS_EXTENSIONS),
        "Tus-Max-Size": str(app.settings.max_upload_bytes)}))


def _new_upload(request: Request, *, app: Services, user_id: str) -> TusUpload:
    """The row of a new upload from the creation headers; 400, 413, 415 or 422 first."""
    if "upload-defer-length" in request.headers:
        raise ApiError(400, "Upload-Defer-Length is not supported: send Upload-Length, the "
                            "file's size in bytes")
    length = _number(request, "Upload-Length")
    if length is None:
        raise ApiError(400, "Upload-Length is required: the file's size in bytes")
    limit = app.settings.max_upload_bytes
    if length > limit:
        raise ApiError(413, f"The file is larger than the {limit}-byte limit")
    if length == 0:
        raise ApiError(415, "The upload is not a video: it is empty")
    metadata = parse(TusMetadata, parse_metadata(request.headers.get("upload-metadata", "")),
                     prefix="Upload-Metadata ")
    upload_id = tus_state.new_upload_id()
    now_s = time.time()
    return TusUpload(
        id=upload_id, user_id=user_id, length_bytes=length, offset_bytes=0,
        part_bytes=_part_bytes(length), title=metadata.title, description=metadata.description,
        filename=metadata.filename, storage_key=layout.upload_key(upload_id), parts="[]",
        tail_bytes=0, created_at=now_s, expires_at=now_s + app.settings.upload_expiry_s)


def _check_body(request: Request, *, offset_bytes: int, length_bytes: int) -> None:
    """415 unless the body is ``application/offset+octet-stream``; 413 when its
    Content-Length alone passes the upload's length (before any byte is read)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != OFFSET_CONTENT_TYPE:
        raise ApiError(415, f"Send the bytes as Content-Type: {OFFSET_CONTENT_TYPE}")
    content_length = _number(request, "Content-Length")
    if content_length is not None and offset_bytes + content_length > length_bytes:
        raise ApiError(413, f"The body goes past the upload's Upload-Length of "
                            f"{length_bytes} bytes")


async def create(request: Request) -> Response:
    """creation (and creation-with-upload when the POST has a body): 201 with Location."""
    app = services(request)
    user_id = await authenticate(request)
    row = _new_upload(request, app=app, user_id=user_id)
    with_body = "content-type" in request.headers
    if with_body:
        _check_body(request, offset_bytes=0, length_bytes=row.length_bytes)
    row.multipart_id = await run_in_threadpool(app.pipeline.storage.start_multipart,
                                               row.storage_key)
    token = uuid.uuid4().hex
    row.lease_token = token if with_body else None
    await app.database.run(tus_state.insert, upload=row)
    base = f"{str(request.base_url).rstrip('/')}{request.url.path.rstrip('/')}"
    headers = {"Location": f"{base}/{row.id}", **_expires(row)}
    if with_body:
        upload = await app.database.run(tus_state.read, upload_id=row.id, user_id=user_id,
                                        now_s=time.time())
        headers.update(await _append(request, app=app, upload=upload, token=token))
    return Response(status_code=201, headers=_tus_headers(headers))


async def _append(
    request: Request, *, app: Services, upload: UploadState, token: str
) -> dict[str, str]:
    """Write the body as ``token``, and make the video when it was the last byte; the
    answer's headers (offset, then expiry or video id). The lease ends with the request."""
    try:
        progress = await BodyWriter(app, upload=upload, token=token).write(request)
        headers = {"Upload-Offset": str(progress.offset_bytes)}
        if progress.offset_bytes < upload.length_bytes:
            return {**headers, **_expires(upload)}
        done = await app.database.run(tus_state.read, upload_id=upload.id,
                                      user_id=upload.user_id, now_s=time.time())
        video_id = await _complete(request, app=app, upload=done, token=token)
        return {**headers, VIDEO_ID_HEADER: video_id}
    finally:
        await app.database.run(tus_state.release, upload_id=upload.id, token=token)


async def _complete(request: Request, *, app: Services, upload: UploadState, token: str) -> str:
    """Join the parts, then probe, create and enqueue the video; its id.

    A non-video is answered 415 and the upload, with every stored byte, is gone.
    """
    storage = app.pipeline.storage
    key = upload.storage_key
    if upload.multipart_id is not None:
        await run_in_threadpool(storage.finish_multipart, key,
                                multipart_id=upload.multipart_id, parts=upload.progress.parts)
        if not await app.database.run(tus_state.commit, upload_id=upload.id, token=token,
                                      progress=upload.progress, finished_parts=True):
            raise Superseded()
        upload = dataclasses.replace(upload, multipart_id=None)
    source = await run_in_threadpool(storage.read_url, key, expires_s=app.settings.url_ttl_s)

    def store(target: str, media_type: str | None) -> None:
        storage.copy(key, target, content_type=media_type)

    def record(session: Session, video: Video) -> None:
        tus_state.record_video(session, upload_id=upload.id, video_id=video.id)

    try:
        video, _ = await admit_video(app, source=source, store=store, user_id=upload.user_id,
                                     title=upload.title, description=upload.description,
                                     on_insert=record)
    except ApiError as exc:
        if exc.status_code == 415:
            await run_in_threadpool(discard_storage, storage, upload)
            await app.database.run(tus_state.forget, upload_id=upload.id)
        raise
    await run_in_threadpool(storage.delete, key)
    request.app.state.metrics.upload_bytes.inc(upload.length_bytes)
    logger.info("Video %s uploaded by tus (%d bytes) and enqueued", video.id,
                upload.length_bytes, extra={"video_id": video.id})
    return video.id


def _upload_id(request: Request) -> str:
    raw = str(request.path_params["upload_id"])
    if len(raw) != 32 or not all(char in "0123456789abcdef" for char in raw):
        raise ApiError(404, tus_state.NO_SUCH_UPLOAD)
    return raw


async def _sweep_if_expired(app: Services, *, upload_id: str) -> None:
    """An expired upload is removed (storage and row) before the request sees it: 404."""
    expired = await app.database.run(tus_state.expired_one, upload_id=upload_id,
                                     now_s=time.time())
    if expired is not None:
        if expired.video_id is None:
            await run_in_threadpool(discard_storage, app.pipeline.storage, expired)
        await app.database.run(tus_state.forget, upload_id=upload_id)


async def _one_upload(request: Request) -> tuple[Services, str, str]:
    """The services, the caller and the upload id of a request for one upload; an expired
    upload is removed first, so it answers 404."""
    app = services(request)
    user_id = await authenticate(request)
    upload_id = _upload_id(request)
    await _sweep_if_expired(app, upload_id=upload_id)
    return app, user_id, upload_id


async def head(request: Request) -> Response:
    """The upload's offset and length; the video id once finished. Never cached."""
    app, user_id, upload_id = await _one_upload(request)
    upload = await app.database.run(tus_state.read, upload_id=upload_id, user_id=user_id,
                                    now_s=time.time())
    headers = {"Upload-Offset": str(upload.progress.offset_bytes),
               "Upload-Length": str(upload.length_bytes), "Cache-Control": "no-store"}
    video_id = upload.video_id
    if video_id is None and upload.received_all:
        # Every byte arrived but the video was not made (storage or the queue was down):
        # this HEAD makes it, so a client that resumes at the end still gets its video.
        token = uuid.uuid4().hex
        upload = await app.database.run(tus_state.take_over, upload_id=upload_id,
                                        user_id=user_id, token=token, now_s=time.time())
        try:
            video_id = upload.video_id or await _complete(request, app=app, upload=upload,
                                                          token=token)
        finally:
            await app.database.run(tus_state.release, upload_id=upload_id, token=token)
    if video_id is None:
        headers.update(_expires(upload))
    else:
        headers[VIDEO_ID_HEADER] = video_id
    return Response(status_code=200, headers=_tus_headers(headers))


async def patch(request: Request) -> Response:
    """Append the body at ``Upload-Offset``: 204 with the new offset; 409 at a wrong
    offset, 413 past the length, 415 for another content type."""
    offset = _number(request, "Upload-Offset")
    if offset is None:
        raise ApiError(400, "Upload-Offset is required: the offset HEAD answered")
    app, user_id, upload_id = await _one_upload(request)
    token = uuid.uuid4().hex
    upload = await app.database.run(tus_state.take_over, upload_id=upload_id, user_id=user_id,
                                    token=token, now_s=time.time())
    if offset != upload.progress.offset_bytes or upload.video_id is not None:
        await app.database.run(tus_state.release, upload_id=upload_id, token=token)
        if offset != upload.progress.offset_bytes:
            raise ApiError(409, f"Upload-Offset {offset} is not the upload's offset "
                                f"{upload.progress.offset_bytes}; resume from the latter")
        assert upload.video_id is not None
        return Response(status_code=204, headers=_tus_headers({
            "Upload-Offset": str(upload.length_bytes), VIDEO_ID_HEADER: upload.video_id}))
    try:
        _check_body(request, offset_bytes=offset, length_bytes=upload.length_bytes)
    except ApiError:
        await app.database.run(tus_state.release, upload_id=upload_id, token=token)
        raise
    headers = await _append(request, app=app, upload=upload, token=token)
    return Response(status_code=204, headers=_tus_headers(headers))


async def terminate(request: Request) -> Response:
    """termination: the upload and every stored byte of it go (a video it became stays)."""
    app, user_id, upload_id = await _one_upload(request)
    upload = await app.database.run(tus_state.take_over, upload_id=upload_id, user_id=user_id,
                                    token=uuid.uuid4().hex, now_s=time.time())
    if upload.video_id is None:
        await run_in_threadpool(discard_storage, app.pipeline.storage, upload)
    await app.database.run(tus_state.forget, upload_id=upload_id)
    return Response(status_code=204, headers=_tus_headers())


#: The tus endpoints by method (OPTIONS aside), for the API's routes and the pages' bridge.
ENDPOINTS: dict[str, Handler] = {
    "POST": tus_endpoint(create), "HEAD": tus_endpoint(head), "PATCH": tus_endpoint(patch),
    "DELETE": tus_endpoint(terminate),
}
routes = [
    Route("/api/uploads/", options, methods=["OPTIONS"]),
    Route("/api/uploads/", ENDPOINTS["POST"], methods=["POST"]),
    *(Route("/api/uploads/{upload_id}", ENDPOINTS[method], methods=[method])
      for method in ("HEAD", "PATCH", "DELETE")),
]
