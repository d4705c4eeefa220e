"""Storage in a local directory (``file:///dir``), for one machine."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from ..errors import ObjectNotFound, StorageUnavailable
from .base import check_key

CHUNK_BYTES = 1024 * 1024


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        # check_key already refuses "..": this guards against symlinks planted under root.
        if self.root not in path.parents:
            raise ObjectNotFound(key)
        return path

    def put_file(self, key: str, path: Path, *, content_type: str | None = None) -> None:
        with open(path, "rb") as stream:
            self.put_stream(key, stream)

    def put_stream(self, key: str, stream: BinaryIO, *, content_type: str | None = None) -> int:
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
        source = self._path(key)
        if not source.is_file():
            raise ObjectNotFound(key)
        shutil.copyfile(source, path)

    def open_read(self, key: str) -> BinaryIO:
        try:
            return open(self._path(key), "rb")
        except FileNotFoundError as exc:
            raise ObjectNotFound(key) from exc

    def read_url(self, key: str, *, expires_s: int) -> str:
        path = self._path(key)
        if not path.is_file():
            raise ObjectNotFound(key)
        return str(path)

    def copy(self, source_key: str, target_key: str, *, content_type: str | None = None) -> None:
        with self.open_read(source_key) as stream:
            self.put_stream(target_key, stream)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def size(self, key: str) -> int:
        try:
            return self._path(key).stat().st_size
        except FileNotFoundError as exc:
            raise ObjectNotFound(key) from exc

    def delete(self, key: str) -> None:
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
        if not self.root.is_dir():
            return []
        keys = (
            path.relative_to(self.root).as_posix()
            for path in self.root.rglob("*")
            if path.is_file() and not path.name.startswith(".part-")
        )
        return sorted(key for key in keys if key.startswith(prefix))

    def presigned_url(self, key: str, *, expires_s: int) -> str | None:
        return None

    def check(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=self.root, prefix=".part-check-"):
                pass
        except OSError as exc:
            raise StorageUnavailable(f"storage directory {self.root} is not writable: {exc}") from exc
