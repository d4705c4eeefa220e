"""A tus request body into storage, part by part, as it arrives.

The bytes past the last stored part go to a spool file on local disk (at most one part,
``part_bytes``); each time it fills, it is stored as the next multipart part and the new
offset is committed. When the body ends, completely or not (a dropped connection, a
stalled client), what the spool holds is stored as the upload's tail object, so the next
request, on any instance, resumes from every byte that arrived. No process ever holds more
than one chunk of the body in memory.
"""

from __future__ import annotations

import dataclasses
import os
import tempfile
import uuid
from pathlib import Path
from typing import BinaryIO

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from anb_pipeline import layout

from . import tus_state
from .errors import ApiError
from .state import Services
from .tus_state import Progress, UploadState
from .uploads import SPOOL_PREFIX

SUPERSEDED = ("A newer request took this upload over; ask HEAD for its offset and resume "
              "from there")


class Superseded(ApiError):
    """This request no longer holds the upload: a newer one took it over."""

    def __init__(self) -> None:
        super().__init__(409, SUPERSEDED)


class TooLong(ApiError):
    """More body than the upload has room for: refused, nothing past the length stored."""

    def __init__(self, length_bytes: int) -> None:
        super().__init__(413, f"The body goes past the upload's Upload-Length of "
                              f"{length_bytes} bytes")


@dataclasses.dataclass
class _Spool:
    """The bytes of the part being filled, on disk."""

    path: Path
    stream: BinaryIO
    size_bytes: int = 0

    def write(self, data: bytes) -> None:
        self.stream.write(data)
        self.size_bytes += len(data)

    def flush(self) -> None:
        self.stream.flush()

    def reset(self) -> None:
        self.stream.seek(0)
        self.stream.truncate()
        self.size_bytes = 0


class BodyWriter:
    """Writes one request's body into ``upload`` as the holder of ``token``."""

    def __init__(self, app: Services, *, upload: UploadState, token: str) -> None:
        self.app = app
        self.storage = app.pipeline.storage
        self.upload = upload
        self.token = token
        self.progress = upload.progress
        self.received_bytes = 0

    @property
    def _parts_bytes(self) -> int:
        return len(self.progress.parts) * self.upload.part_bytes

    async def write(self, request: Request) -> Progress:
        """Store the body of ``request``; the progress committed at the end.

        Raises Superseded (409) when another request took the upload over, TooLong (413)
        when the body passes ``Upload-Length``; a broken body (ClientDisconnect, the
        idle deadline's 408) is re-raised after what arrived of it is stored.
        """
        work_dir = self.app.pipeline.settings.work_dir
        if work_dir is not None:
            work_dir.mkdir(parents=True, exist_ok=True)
        # Named like the form uploads' spools: a killed process's file is swept at start.
        fd, name = tempfile.mkstemp(dir=work_dir, prefix=f"{SPOOL_PREFIX}{os.getpid()}-")
        spool = _Spool(path=Path(name), stream=os.fdopen(fd, "w+b"))
        try:
            if self.progress.tail_key is not None:
                await run_in_threadpool(self._load_tail, spool)
            try:
                async for chunk in request.stream():
                    await self._take(spool, chunk, request)
            except Superseded:
                raise
            except BaseException:
                await self._keep(spool)
                raise
            await self._keep(spool)
            return self.progress
        finally:
            spool.stream.close()
            spool.path.unlink(missing_ok=True)

    def _load_tail(self, spool: _Spool) -> None:
        assert self.progress.tail_key is not None
        with self.storage.open_read(self.progress.tail_key) as tail:
            while data := tail.read(1024 * 1024):
                spool.write(data)

    async def _take(self, spool: _Spool, chunk: bytes, request: Request) -> None:
        self.received_bytes += len(chunk)
        request.app.state.metrics.tus_received_bytes.inc(len(chunk))
        if self._parts_bytes + spool.size_bytes + len(chunk) > self.upload.length_bytes:
            raise TooLong(self.upload.length_bytes)
        view = memoryview(chunk)
        while view:
            room = self.upload.part_bytes - spool.size_bytes
            await run_in_threadpool(spool.write, bytes(view[:room]))
            view = view[room:]
            if spool.size_bytes == self.upload.part_bytes:
                await self._store_part(spool)

    async def _store_part(self, spool: _Spool) -> None:
        spool.flush()
        number = len(self.progress.parts) + 1
        assert self.upload.multipart_id is not None
        tag = await run_in_threadpool(
            self.storage.put_part, self.upload.storage_key,
            multipart_id=self.upload.multipart_id, part_number=number, path=spool.path)
        await self._commit(Progress(
            offset_bytes=self._parts_bytes + spool.size_bytes,
            parts=(*self.progress.parts, (number, tag)), tail_key=None, tail_bytes=0))
        spool.reset()

    async def _keep(self, spool: _Spool) -> None:
        """Store what the spool holds: the last part when the upload is complete, else
        the new tail (only when bytes arrived since the old one)."""
        if self._parts_bytes + spool.size_bytes == self.upload.length_bytes:
            if spool.size_bytes:
                await self._store_part(spool)
            return
        if spool.size_bytes <= self.progress.tail_bytes:
            return
        spool.flush()
        tail_key = layout.upload_tail_key(self.upload.id, nonce=uuid.uuid4().hex)
        await run_in_threadpool(self.storage.put_file, tail_key, spool.path)
        try:
            await self._commit(Progress(offset_bytes=self._parts_bytes + spool.size_bytes,
                                        parts=self.progress.parts, tail_key=tail_key,
                                        tail_bytes=spool.size_bytes))
        except Superseded:
            await run_in_threadpool(self.storage.delete, tail_key)
            raise

    async def _commit(self, progress: Progress) -> None:
        old_tail = self.progress.tail_key
        committed = await self.app.database.run(
            tus_state.commit, upload_id=self.upload.id, token=self.token, progress=progress)
        if not committed:
            raise Superseded()
        self.progress = progress
        if old_tail is not None and old_tail != progress.tail_key:
            await run_in_threadpool(self.storage.delete, old_tail)
