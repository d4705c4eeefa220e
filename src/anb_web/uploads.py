"""Streams a ``multipart/form-data`` upload to a temporary file, never into memory.

The body is fed chunk by chunk to python-multipart's streaming parser. File bytes go to
disk (through the threadpool) as they arrive, and the size limit is enforced while
streaming: the request is refused with 413 as soon as the file passes it, without reading
the rest. Text fields are small and capped.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import tempfile
from pathlib import Path
from typing import IO

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request

from .errors import ApiError, InvalidInput
from .validation import digits

FILE_FIELD = "file"
#: Room for the text fields and part headers on top of the file, for the early
#: Content-Length check.
FORM_OVERHEAD_BYTES = 1024 * 1024
MAX_FIELD_BYTES = 64 * 1024
MAX_PARTS = 16
SPOOL_PREFIX = "anb-upload-"

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Upload:
    fields: dict[str, str]
    file_path: Path | None = None
    file_bytes: int = 0

    def discard(self) -> None:
        if self.file_path is not None:
            self.file_path.unlink(missing_ok=True)


def check_upload_headers(request: Request, *, max_file_bytes: int) -> bytes:
    """Refuse what the headers alone rule out (before any body byte); returns the boundary."""
    content_type, params = parse_options_header(request.headers.get("content-type"))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise ApiError(415, "Send the video as multipart/form-data with a 'file' field")
    length = digits(request.headers.get("content-length", ""), max_digits=19)
    if length is not None and length > max_file_bytes + FORM_OVERHEAD_BYTES:
        raise ApiError(413, f"The file is larger than the {max_file_bytes}-byte limit")
    return boundary


class _FormReader:
    """python-multipart callbacks: fields into small buffers, file bytes into ``pending``."""

    def __init__(self) -> None:
        self.fields: dict[str, bytearray] = {}
        self.pending: list[bytes] = []
        self.parts = 0
        self.files = 0
        self.ended = False
        self._header_name = bytearray()
        self._header_value = bytearray()
        self._disposition = b""
        self._target: bytearray | None = None
        self._in_file = False

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._part_begin, "on_header_field": self._header_field,
            "on_header_value": self._header_value_data, "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished, "on_part_data": self._part_data,
            "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise InvalidInput({"body": f"At most {MAX_PARTS} form fields are accepted"})
        self._disposition, self._target, self._in_file = b"", None, False

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if bytes(self._header_name).lower() == b"content-disposition":
            self._disposition = bytes(self._header_value)
        self._header_name, self._header_value = bytearray(), bytearray()

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._disposition)
        name = params.get(b"name", b"").decode("latin-1")
        if name == FILE_FIELD:
            self.files += 1
            if self.files > 1:
                raise InvalidInput({FILE_FIELD: "Send exactly one file"})
            self._in_file = True
        elif name and name not in self.fields:
            self._target = self.fields[name] = bytearray()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self.pending.append(data[start:end])
        elif self._target is not None:
            self._target += data[start:end]
            if len(self._target) > MAX_FIELD_BYTES:
                raise ApiError(413, f"A form field is larger than {MAX_FIELD_BYTES} bytes")

    def _end(self) -> None:
        self.ended = True

    def take_pending(self) -> bytes:
        data, self.pending = b"".join(self.pending), []
        return data


async def receive_upload(
    request: Request, *, boundary: bytes, max_file_bytes: int, spool_dir: Path | None = None
) -> Upload:
    """Read the whole form; the caller owns the returned file and must ``discard`` it."""
    reader = _FormReader()
    parser = MultipartParser(boundary, reader.callbacks())  # type: ignore[arg-type]
    upload = Upload(fields={})
    spool: IO[bytes] | None = None
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            data = reader.take_pending()
            if not data:
                continue
            upload.file_bytes += len(data)
            if upload.file_bytes > max_file_bytes:
                raise ApiError(413, f"The file is larger than the {max_file_bytes}-byte limit")
            if spool is None:
                spool = await run_in_threadpool(_open_spool, spool_dir)
                upload.file_path = Path(spool.name)
            await run_in_threadpool(spool.write, data)
        parser.finalize()
        if not reader.ended:
            raise InvalidInput({"body": "The multipart body is incomplete"})
        if reader.files and spool is None:
            # An empty file part: keep an empty file so the probe, not the parser, refuses it.
            spool = await run_in_threadpool(_open_spool, spool_dir)
            upload.file_path = Path(spool.name)
        upload.fields = _decode_fields(reader.fields)
    except FormParserError:
        upload.discard()
        raise InvalidInput({"body": "The multipart body is malformed"}) from None
    except ClientDisconnect:
        upload.discard()
        raise ApiError(400, "The client disconnected during the upload") from None
    except BaseException:
        upload.discard()
        raise
    finally:
        if spool is not None:
            await run_in_threadpool(spool.close)
    return upload


def _open_spool(spool_dir: Path | None) -> IO[bytes]:
    if spool_dir is not None:
        os.makedirs(spool_dir, exist_ok=True)
    # The owner's pid in the name lets a later start tell orphans from a sibling's uploads.
    return tempfile.NamedTemporaryFile(prefix=f"{SPOOL_PREFIX}{os.getpid()}-", dir=spool_dir,
                                       delete=False)


def sweep_spool(spool_dir: Path | None) -> int:
    """Delete the spool files of processes that are gone; the number deleted.

    Run at start: a file whose owner pid is dead, is this process (a reused pid: this
    process has received nothing yet), or is not named by pid, was left by a process that
    was killed mid-upload. Files of live sibling processes (``--workers N``) are kept, and
    so is anything that is not a regular file (the directory is shared: ``ANB_WORK_DIR``
    or the system's temporary directory). A file that cannot be deleted is logged and
    left; the start goes on.
    """
    directory = Path(spool_dir if spool_dir is not None else tempfile.gettempdir())
    swept = 0
    for path in directory.glob(f"{SPOOL_PREFIX}*"):
        owner = path.name.removeprefix(SPOOL_PREFIX).split("-", 1)[0]
        if owner.isascii() and owner.isdigit() and int(owner) != os.getpid() and _alive(int(owner)):
            continue
        if path.is_symlink() or not path.is_file():
            continue
        try:
            path.unlink(missing_ok=True)
        except OSError as exc:
            logger.warning("Could not delete the leftover upload spool %s: %s", path, exc)
            continue
        swept += 1
    return swept


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    except OverflowError:
        return False
    return True


def _decode_fields(raw: dict[str, bytearray]) -> dict[str, str]:
    try:
        return {name: bytes(value).decode("utf-8") for name, value in raw.items()}
    except UnicodeDecodeError:
        raise InvalidInput({"body": "Form fields must be UTF-8 text"}) from None
