"""Storage in a local directory (``file:///dir``), for one machine."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from ..errors import ObjectNotFound, StorageError, StorageUnavailable
from .base import check_key

CHUNK_BYTES = 1024 * 1024
#: A multipart id of this storage: the hex of a UUID4, as start_multipart makes them.
_MULTIPART_ID = re.compile(r"^[0-9a-f]{32}$")


class LocalStorage:
    """The :class:`Storage` on a local directory (``file://`` URLs): one file per key
    below ``root``; writes go to a temporary file first and are renamed into place.
    """
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        # check_key already refuses "..": this guards against symlinks planted under root.
        if self.root not in path.parents:
            raise ObjectNotFound(key)
        return path

    def put_file(self, key: str, path: Path, *, content_type: str | None = None) -> None:
        """See :meth:`Storage.put_file`."""
        with open(path, "rb") as stream:
            self.put_stream(key, stream)

    def put_stream(self, key: str, stream: BinaryIO, *, content_type: str | None = None) -> int:
        """See :meth:`Storage.put_stream`. Raises: ``StorageUnavailable`` on an OS error
        (a full or unwritable disk).
        """
        target = self._path(key)
        try:
            return self._write_atomically(target, stream)
        except OSError as exc:
            # A full or unwritable disk is an outage of this storage, not a bug.
            raise StorageUnavailable(f"cannot write {key} under {self.root}: {exc}") from exc

    @staticmethod
    def _write_atomically(target: Path, stream: BinaryIO) -> int:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".part-")
        written = 0
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(CHUNK_BYTES):
                    out.write(chunk)
                    written += len(chunk)
            os.replace(tmp_name, target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return written

    def get_file(self, key: str, path: Path) -> None:
        """See :meth:`Storage.get_file`. Raises: ``ObjectNotFound`` when there is no such
        object."""
        source = self._path(key)
        if not source.is_file():
            raise ObjectNotFound(key)
        shutil.copyfile(source, path)

    def open_read(self, key: str) -> BinaryIO:
        """See :meth:`Storage.open_read`. Raises: ``ObjectNotFound`` when there is no such
        object."""
        try:
            return open(self._path(key), "rb")
        except FileNotFoundError as exc:
            raise ObjectNotFound(key) from exc

    def read_url(self, key: str, *, expires_s: int) -> str:
        """The object's local path (ffmpeg reads it in place); ``expires_s`` does not apply.

        Raises: ``ObjectNotFound`` when there is no such object.
        """
        path = self._path(key)
        if not path.is_file():
            raise ObjectNotFound(key)
        return str(path)

    def copy(self, source_key: str, target_key: str, *, content_type: str | None = None) -> None:
        """See :meth:`Storage.copy`."""
        with self.open_read(source_key) as stream:
            self.put_stream(target_key, stream)

    def exists(self, key: str) -> bool:
        """See :meth:`Storage.exists`."""
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        """See :meth:`Storage.size`. Raises: ``ObjectNotFound`` when there is no such object."""
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError as exc:
            raise ObjectNotFound(key) from exc

    def delete(self, key: str) -> None:
        """See :meth:`Storage.delete`."""
        self._path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix``, then the directories that left empty (a
        bucket has no directories: ``work/<id>/`` must not outlive its objects). Top-level
        directories (``work/``) stay: another writer may be creating its own under them."""
        keys = self.list(prefix)
        for key in keys:
            self.delete(key)
        emptied = {parent for key in keys for parent in self._path(key).parents
                   if parent.is_relative_to(self.root)
                   and len(parent.relative_to(self.root).parts) >= 2}
        for directory in sorted(emptied, key=lambda path: len(path.parts), reverse=True):
            with contextlib.suppress(OSError):  # not empty: other objects live there
                directory.rmdir()
        return len(keys)

    def list(self, prefix: str) -> list[str]:
        """See :meth:`Storage.list`."""
        if not self.root.is_dir():
            return []
        keys = (
            path.relative_to(self.root).as_posix()
            for path in self.root.rglob("*")
            if path.is_file() and not path.name.startswith(".part-")
        )
        return sorted(key for key in keys if key.startswith(prefix))

    def _part_path(self, key: str, *, multipart_id: str, part_number: int) -> Path:
        if not _MULTIPART_ID.match(multipart_id):
            raise ObjectNotFound(f"{key} (multipart {multipart_id!r})")
        # A hidden ".part-" name beside the target: list() never shows it.
        return self._path(key).with_name(f".part-{multipart_id}-{part_number:05d}")

    def start_multipart(self, key: str, *, content_type: str | None = None) -> str:
        """See :meth:`Storage.start_multipart`; the id is a random hex string."""
        self._path(key).parent.mkdir(parents=True, exist_ok=True)
        return uuid.uuid4().hex

    def put_part(self, key: str, *, multipart_id: str, part_number: int, path: Path) -> str:
        """See :meth:`Storage.put_part`; the part is a hidden ``.part-<id>-<n>`` file beside
        ``key``, written atomically. Raises: StorageError when it cannot be written."""
        target = self._part_path(key, multipart_id=multipart_id, part_number=part_number)
        try:
            with open(path, "rb") as stream:
                self._write_atomically(target, stream)
        except OSError as exc:
            raise StorageUnavailable(f"cannot write a part of {key} under {self.root}: {exc}") from exc
        return str(part_number)

    def finish_multipart(
        self, key: str, *, multipart_id: str, parts: Sequence[tuple[int, str]]
    ) -> None:
        """See :meth:`Storage.finish_multipart`: the parts are appended to the first, which
        is then renamed to ``key``.

        Raises: ``StorageError`` for no parts, ``ObjectNotFound`` when a part is missing,
        ``StorageUnavailable`` when the parts cannot be joined (a full disk).
        """
        paths = [self._part_path(key, multipart_id=multipart_id, part_number=number)
                 for number, _ in parts]
        if not paths:
            raise StorageError(f"{key}: a multipart object needs at least one part")
        if not any(path.is_file() for path in paths) and self.exists(key):
            return  # joined before: the parts became ``key``
        if not all(path.is_file() for path in paths):
            raise ObjectNotFound(f"{key} (a part of multipart {multipart_id} is missing)")
        target = self._path(key)
        # Appended to the first part in place, then renamed: only the later parts are copied.
        try:
            with open(paths[0], "ab") as out:
                for path in paths[1:]:
                    with open(path, "rb") as part:
                        shutil.copyfileobj(part, out, CHUNK_BYTES)
            os.replace(paths[0], target)
        except OSError as exc:
            raise StorageUnavailable(f"cannot join the parts of {key}: {exc}") from exc
        for path in paths[1:]:
            path.unlink(missing_ok=True)

    def abort_multipart(self, key: str, *, multipart_id: str) -> None:
        """See :meth:`Storage.abort_multipart`: removes the part files."""
        first = self._part_path(key, multipart_id=multipart_id, part_number=1)
        for path in first.parent.glob(f".part-{multipart_id}-*"):
            path.unlink(missing_ok=True)

    def presigned_url(self, key: str, *, expires_s: int) -> str | None:
        """Always None: the web tier serves local objects itself, through signed URLs."""
        return None

    def check(self) -> None:
        """Nothing when the root directory exists (or can be made) and takes a file.

        Raises: ``StorageUnavailable`` when the root directory cannot be created or written.
        """
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=".part-check-"):
                pass
        except OSError as exc:
            raise StorageUnavailable(f"storage directory {self.root} is not writable: {exc}") from exc
