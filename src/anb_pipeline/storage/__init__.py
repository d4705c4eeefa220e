"""Storage chosen by URL: ``file:///dir`` or ``s3://bucket/prefix``.

``S3Storage`` (and boto3 with it) loads on first use: local runs such as ``anb process``
never pay for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

from ..errors import ConfigurationError
from ..settings import Settings
from .base import MAX_PARTS, MIN_PART_BYTES, Storage, check_key
from .local import LocalStorage

if TYPE_CHECKING:
    from .s3 import S3Storage

__all__ = ["MAX_PARTS", "MIN_PART_BYTES", "LocalStorage", "S3Storage", "Storage", "check_key", "open_storage"]


def __getattr__(name: str) -> Any:
    if name != "S3Storage":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from .s3 import S3Storage

    return S3Storage


def open_storage(settings: Settings) -> Storage:
    """The storage ``ANB_STORAGE_URL`` names: ``file:///dir`` or ``s3://bucket/prefix``.

    Raises: ``ConfigurationError`` for another scheme, a ``file://`` URL without a
    directory or an ``s3://`` URL without a bucket.
    """
    url = urlparse(settings.storage_url)
    if url.scheme == "file":
        path = url.netloc + url.path
        if not path:
            raise ConfigurationError("ANB_STORAGE_URL file:// needs a directory, e.g. file:///srv/anb")
        return LocalStorage(Path(path))
    if url.scheme == "s3":
        if not url.netloc:
            raise ConfigurationError("ANB_STORAGE_URL s3:// needs a bucket, e.g. s3://bucket/prefix")
        from .s3 import S3Storage

        return S3Storage(
            bucket=url.netloc,
            prefix=url.path,
            endpoint_url=settings.aws_endpoint_url,
            region=settings.aws_region,
        )
    raise ConfigurationError(
        f"ANB_STORAGE_URL scheme {url.scheme!r} is not supported; use file:// or s3://"
    )
