"""Storage in an S3 bucket (``s3://bucket/prefix``), with multipart transfers."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ..errors import ObjectNotFound, StorageError, StorageUnavailable
from .base import check_key

#: Objects above this size go up in 8 MiB parts, so a large upload never sits in memory.
TRANSFER = TransferConfig(multipart_threshold=8 * 1024 * 1024, multipart_chunksize=8 * 1024 * 1024)


def _translate(exc: Exception, key: str) -> StorageError:
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("404", "NoSuchKey", "NotFound", "NoSuchUpload"):
            return ObjectNotFound(key)
        if code in ("NoSuchBucket", "AccessDenied", "SlowDown", "ServiceUnavailable"):
            return StorageUnavailable(f"S3 refused {key!r}: {code}")
        return StorageError(f"S3 error on {key!r}: {code}")
    return StorageUnavailable(f"S3 is unreachable: {exc}")


class S3Storage:
    """The :class:`Storage` on an S3 bucket (``s3://bucket/prefix`` URLs), through one
    thread-safe boto3 client; ``endpoint_url`` points at an emulator (moto) or is None for AWS.
    Every S3 or botocore error becomes ``ObjectNotFound`` (404/NoSuchKey),
    ``StorageUnavailable`` (S3 unreachable, NoSuchBucket, AccessDenied, SlowDown,
    ServiceUnavailable) or ``StorageError`` (any other refusal).
    """
    def __init__(
        self, *, bucket: str, prefix: str, endpoint_url: str | None, region: str
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        # boto3 clients are thread-safe; resources are not, so only a client is kept.
        self.client = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5),
        )

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _call(self, key: str, method: str, **kwargs: Any) -> Any:
        try:
            return getattr(self.client, method)(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, key) from exc

    def put_file(self, key: str, path: Path, *, content_type: str | None = None) -> None:
        """See :meth:`Storage.put_file` (a multipart upload for large files: S3 writes an
        object whole or not at all).
        """
        extra = {"ContentType": content_type} if content_type else None
        self._call(key, "upload_file", Filename=str(path), Bucket=self.bucket,
                   Key=self._key(key), ExtraArgs=extra, Config=TRANSFER)

    def put_stream(self, key: str, stream: BinaryIO, *, content_type: str | None = None) -> int:
        """See :meth:`Storage.put_stream`."""
        counter = _CountingReader(stream)
        extra = {"ContentType": content_type} if content_type else None
        self._call(key, "upload_fileobj", Fileobj=counter, Bucket=self.bucket,
                   Key=self._key(key), ExtraArgs=extra, Config=TRANSFER)
        return counter.count

    def get_file(self, key: str, path: Path) -> None:
        """See :meth:`Storage.get_file`."""
        self._call(key, "download_file", Bucket=self.bucket, Key=self._key(key),
                   Filename=str(path), Config=TRANSFER)

    def open_read(self, key: str) -> BinaryIO:
        """See :meth:`Storage.open_read` (the response body, streamed)."""
        response = self._call(key, "get_object", Bucket=self.bucket, Key=self._key(key))
        return response["Body"]

    def read_url(self, key: str, *, expires_s: int) -> str:
        """A presigned GET URL valid ``expires_s`` seconds, after checking the object exists.

        Raises: ``ObjectNotFound`` when there is no such object.
        """
        self.size(key)  # ObjectNotFound now, not an HTTP 404 inside ffmpeg later
        url = self.presigned_url(key, expires_s=expires_s)
        assert url is not None
        return url

    def copy(self, source_key: str, target_key: str, *, content_type: str | None = None) -> None:
        """See :meth:`Storage.copy` (server-side: the bytes never leave S3)."""
        extra = {"ContentType": content_type, "MetadataDirective": "REPLACE"} if content_type else None
        self._call(source_key, "copy", CopySource={"Bucket": self.bucket,
                                                   "Key": self._key(source_key)},
                   Bucket=self.bucket, Key=self._key(target_key), ExtraArgs=extra,
                   Config=TRANSFER)

    def exists(self, key: str) -> bool:
        """See :meth:`Storage.exists` (a HEAD request; 404 means no)."""
        try:
            self.size(key)
        except ObjectNotFound:
            return False
        return True

    def size(self, key: str) -> int:
        """See :meth:`Storage.size` (the HEAD request's ContentLength)."""
        head = self._call(key, "head_object", Bucket=self.bucket, Key=self._key(key))
        return int(head["ContentLength"])

    def delete(self, key: str) -> None:
        """See :meth:`Storage.delete`."""
        self._call(key, "delete_object", Bucket=self.bucket, Key=self._key(key))

    def delete_prefix(self, prefix: str) -> int:
        """See :meth:`Storage.delete_prefix` (listed, then deleted 1000 keys per DeleteObjects
        call, its limit)."""
        keys = self.list(prefix)
        for start in range(0, len(keys), 1000):
            batch = [{"Key": self.prefix + key} for key in keys[start : start + 1000]]
            self._call(prefix, "delete_objects", Bucket=self.bucket, Delete={"Objects": batch})
        return len(keys)

    def list(self, prefix: str) -> list[str]:
        """See :meth:`Storage.list` (ListObjectsV2, every page). Raises: ``StorageUnavailable``
        when S3 cannot be reached."""
        paginator = self.client.get_paginator("list_objects_v2")
        keys: list[str] = []
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                keys.extend(item["Key"][len(self.prefix) :] for item in page.get("Contents", []))
        except (ClientError, BotoCoreError) as exc:
            raise _translate(exc, prefix) from exc
        return sorted(keys)

    def start_multipart(self, key: str, *, content_type: str | None = None) -> str:
        """S3's CreateMultipartUpload; returns its UploadId. Raises: StorageUnavailable."""
        extra = {"ContentType": content_type} if content_type else {}
        answer = self._call(key, "create_multipart_upload", Bucket=self.bucket,
                            Key=self._key(key), **extra)
        return str(answer["UploadId"])

    def put_part(self, key: str, *, multipart_id: str, part_number: int, path: Path) -> str:
        """S3's UploadPart (parts of 5 MiB to 5 GiB but the last, numbers 1 to 10,000);
        returns the part's ETag. Raises: StorageUnavailable, StorageError."""
        with open(path, "rb") as body:
            answer = self._call(key, "upload_part", Bucket=self.bucket, Key=self._key(key),
                                UploadId=multipart_id, PartNumber=part_number, Body=body)
        return str(answer["ETag"])

    def finish_multipart(
        self, key: str, *, multipart_id: str, parts: Sequence[tuple[int, str]]
    ) -> None:
        """S3's CompleteMultipartUpload with ``parts`` (number, ETag). S3 forgets a finished
        upload (a repeat answers NoSuchUpload; moto answers 500), so a refused repeat
        succeeds when ``key`` exists: upload keys are unique per upload. Raises:
        StorageUnavailable, ObjectNotFound (an unknown upload, S3's NoSuchUpload),
        StorageError (a part too small, other refusals)."""
        try:
            self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=self._key(key), UploadId=multipart_id,
                MultipartUpload={"Parts": [{"PartNumber": number, "ETag": tag}
                                           for number, tag in parts]})
        except ClientError as exc:
            if not self.exists(key):
                raise _translate(exc, key) from exc
        except BotoCoreError as exc:
            raise _translate(exc, key) from exc

    def abort_multipart(self, key: str, *, multipart_id: str) -> None:
        """S3's AbortMultipartUpload; an unknown upload (already finished or aborted) is
        not an error.

        Raises: ``StorageUnavailable`` when S3 cannot be reached; ``StorageError`` for
        another refusal.
        """
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self._key(key),
                                               UploadId=multipart_id)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchUpload":
                raise _translate(exc, key) from exc
        except BotoCoreError as exc:
            raise _translate(exc, key) from exc

    def presigned_url(self, key: str, *, expires_s: int) -> str | None:
        """A presigned GET URL valid ``expires_s`` seconds (S3 allows at most 7 days)."""
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._key(key)},
            ExpiresIn=expires_s,
        )

    def check(self) -> None:
        """Raise ``StorageUnavailable`` when the bucket cannot be reached (a HEAD bucket call)."""
        self._call("", "head_bucket", Bucket=self.bucket)

    def ensure_bucket(self) -> None:
        """Create the bucket if it is missing (local emulator and first runs)."""
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError:
            self._call("", "create_bucket", Bucket=self.bucket)


class _CountingReader:
    """Counts the bytes boto3 pulls from a stream, without buffering them."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self.stream.read(size)
        self.count += len(chunk)
        return chunk
