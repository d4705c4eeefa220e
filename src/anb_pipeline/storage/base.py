"""The storage contract: objects under keys that the code builds, never user input."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO, Protocol

from ..errors import StorageError

_KEY = re.compile(r"^[A-Za-z0-9_.+\-]+(/[A-Za-z0-9_.+\-]+)*$")
#: The smallest part of a multipart object, but for its last part (S3's own minimum).
MIN_PART_BYTES = 5 * 1024 * 1024
#: Part numbers run from 1 to this (S3's limit).
MAX_PARTS = 10_000


def check_key(key: str) -> str:
    """``key`` itself when it is one our code builds: ``/``-separated parts of letters,
    digits and ``_.+-``, none of them ``.`` or ``..``.

    Raises: ``StorageError`` for any other key (one that could escape a prefix).
    """
    if not _KEY.match(key) or any(part in (".", "..") for part in key.split("/")):
        raise StorageError(f"invalid storage key {key!r}")
    return key


class Storage(Protocol):
    """Where originals, intermediates and outputs live.

    Writes are atomic: a reader sees the old object, the new one, or none, never a
    half-written one. That is what makes a redelivered step safe to redo. Keys are
    ``/``-separated, relative to the storage's root (see :func:`check_key` and
    :mod:`anb_pipeline.layout`).

    Raises (every method): ``StorageError`` for a key the code would not build;
    ``StorageUnavailable`` when the storage cannot be reached or written (an outage: a step
    that meets it is retried).
    """

    def put_file(self, key: str, path: Path, *, content_type: str | None = None) -> None:
        """Store the file at ``path`` under ``key``, atomically.

        Raises: ``StorageError`` for a key the code would not build, ``StorageUnavailable``
        when the storage cannot be written.
        """
        ...

    def put_stream(self, key: str, stream: BinaryIO, *, content_type: str | None = None) -> int:
        """Copy ``stream`` (a binary file object, read to its end) to ``key`` in chunks,
        atomically; returns the bytes written.

        Raises: ``StorageUnavailable`` when the storage cannot be written.
        """
        ...

    def get_file(self, key: str, path: Path) -> None:
        """Copy the object at ``key`` to the local file ``path``.

        Raises: ``ObjectNotFound`` when there is no such object.
        """
        ...

    def open_read(self, key: str) -> BinaryIO:
        """A binary file object reading the object at ``key``; the caller closes it.

        Raises: ``ObjectNotFound`` when there is no such object.
        """
        ...

    def read_url(self, key: str, *, expires_s: int) -> str:
        """Where ffmpeg can read the object in place: a local path or a presigned URL.

        ffmpeg then reads only the bytes it needs (the first 30 s of a long upload) instead
        of a full download first. ``expires_s``: seconds a presigned URL stays valid.

        Raises: ``ObjectNotFound`` when there is no such object.
        """
        ...

    def copy(self, source_key: str, target_key: str, *, content_type: str | None = None) -> None:
        """Copy the object at ``source_key`` to ``target_key`` within the storage
        (server-side on S3), atomically.

        Raises: ``ObjectNotFound`` when there is no object at ``source_key``.
        """
        ...

    def exists(self, key: str) -> bool:
        """Whether an object is stored under ``key``."""
        ...

    def size(self, key: str) -> int:
        """The object's size in bytes. Raises: ``ObjectNotFound`` when there is none."""
        ...

    def delete(self, key: str) -> None:
        """Delete one object; deleting a missing object is not an error."""
        ...

    def delete_prefix(self, prefix: str) -> int:
        """Delete every object under ``prefix``; returns how many were deleted."""
        ...

    def list(self, prefix: str) -> list[str]:
        """The keys under ``prefix`` (a key prefix, usually ending in ``/``), relative to the
        storage's root, sorted; ``[]`` when there are none.

        Raises: ``StorageUnavailable`` when the storage cannot be listed.
        """
        ...

    def start_multipart(self, key: str, *, content_type: str | None = None) -> str:
        """Begin an object written part by part; returns the id that names its parts.

        Nothing is visible at ``key`` until ``finish_multipart``.
        """
        ...

    def put_part(self, key: str, *, multipart_id: str, part_number: int, path: Path) -> str:
        """Store the file at ``path`` as part ``part_number`` (1 to MAX_PARTS); returns the
        part's tag for ``finish_multipart``. Every part but the last must hold at least
        MIN_PART_BYTES. Storing a part number again replaces it."""
        ...

    def finish_multipart(
        self, key: str, *, multipart_id: str, parts: Sequence[tuple[int, str]]
    ) -> None:
        """Join ``parts`` (``(part number, tag)`` pairs, as ``put_part`` returned the tags), in
        order, into the object at ``key``, atomically.

        Finishing again an upload that was already joined into ``key`` (a retry after a
        crash or a lost answer, before the caller could record the join) is not an error.
        Raises: ``StorageError`` for no parts or (S3) a part below ``MIN_PART_BYTES`` but the
        last; ``ObjectNotFound`` (or, where the store cannot say so, ``StorageError``) when
        the upload is unknown or a (local) part is missing and ``key`` holds nothing.
        """
        ...

    def abort_multipart(self, key: str, *, multipart_id: str) -> None:
        """Drop every stored part; aborting a finished or unknown upload is not an error.

        Raises: ``StorageUnavailable`` when the storage cannot be reached.
        """
        ...

    def presigned_url(self, key: str, *, expires_s: int) -> str | None:
        """A URL anyone can fetch, or None when the app must serve the object itself."""
        ...

    def check(self) -> None:
        """Nothing when the storage can be reached and written (for health checks).

        Raises: ``StorageUnavailable`` otherwise.
        """
        ...
