"""The storage contract on a local directory and on S3 (moto emulator)."""

from __future__ import annotations

import io
import os
from pathlib import Path

import httpx
import pytest

from anb_pipeline import ObjectNotFound, Settings, StorageError, open_storage
from anb_pipeline.storage import MIN_PART_BYTES, LocalStorage, S3Storage


@pytest.fixture(params=["file", "s3"])
def storage(request, tmp_path: Path, namespace: str):
    if request.param == "file":
        return open_storage(Settings(storage_url=f"file://{tmp_path / 'store'}"))
    endpoint = request.getfixturevalue("aws_endpoint")
    s3 = open_storage(Settings(storage_url=f"s3://{namespace}-bucket/media",
                               aws_endpoint_url=endpoint))
    assert isinstance(s3, S3Storage)
    s3.ensure_bucket()
    return s3


def test_put_get_list_delete(storage, tmp_path: Path) -> None:
    assert storage.put_stream("work/v1/a.mkv", io.BytesIO(b"a" * 3000)) == 3000
    source = tmp_path / "b.bin"
    source.write_bytes(b"b" * 10)
    storage.put_file("work/v1/b.mkv", source)
    storage.put_file("processed/v1.mp4", source)

    assert storage.list("work/v1/") == ["work/v1/a.mkv", "work/v1/b.mkv"]
    assert storage.size("work/v1/a.mkv") == 3000
    storage.get_file("work/v1/b.mkv", tmp_path / "copy")
    assert (tmp_path / "copy").read_bytes() == b"b" * 10
    assert storage.delete_prefix("work/v1/") == 2
    assert storage.list("") == ["processed/v1.mp4"]
    if isinstance(storage, LocalStorage):  # no empty work/<id>/ directory is left behind
        assert list((storage.root / "work").iterdir()) == []
    storage.delete("processed/v1.mp4")
    storage.delete("processed/v1.mp4")  # deleting twice is not an error
    assert not storage.exists("processed/v1.mp4")
    with pytest.raises(ObjectNotFound):
        storage.get_file("processed/v1.mp4", tmp_path / "missing")
    storage.check()


def test_copy_and_read_url(storage, tmp_path: Path) -> None:
    storage.put_stream("work/v2/final.mp4", io.BytesIO(b"clip-bytes"))
    storage.copy("work/v2/final.mp4", "processed/v2.mp4", content_type="video/mp4")
    assert storage.size("processed/v2.mp4") == 10
    location = storage.read_url("processed/v2.mp4", expires_s=60)
    if location.startswith("http"):
        response = httpx.get(location)
        assert response.content == b"clip-bytes"
        assert response.headers["content-type"] == "video/mp4"
    else:
        assert Path(location).read_bytes() == b"clip-bytes"
    with pytest.raises(ObjectNotFound):
        storage.read_url("processed/missing.mp4", expires_s=60)


@pytest.mark.parametrize("key", ["../etc/passwd", "work/../../x", "/abs", "a//b", "a\x00b", ""])
def test_keys_that_could_escape_are_refused(storage, key: str) -> None:
    with pytest.raises(StorageError, match="invalid storage key"):
        storage.put_stream(key, io.BytesIO(b"x"))


def test_s3_presigned_urls_fetch_without_credentials(aws_endpoint, namespace) -> None:
    s3 = open_storage(Settings(storage_url=f"s3://{namespace}-pub/p", aws_endpoint_url=aws_endpoint))
    assert isinstance(s3, S3Storage)
    s3.ensure_bucket()
    s3.put_stream("processed/v.mp4", io.BytesIO(b"clip"))
    url = s3.presigned_url("processed/v.mp4", expires_s=60)
    assert url is not None
    assert httpx.get(url).content == b"clip"


def test_local_storage_has_no_presigned_urls(tmp_path: Path) -> None:
    local = open_storage(Settings(storage_url=f"file://{tmp_path}"))
    assert local.presigned_url("processed/v.mp4", expires_s=60) is None


def test_unknown_storage_scheme_is_a_configuration_error() -> None:
    from anb_pipeline import ConfigurationError

    with pytest.raises(ConfigurationError, match="use file:// or s3://"):
        open_storage(Settings(storage_url="ftp://x"))


def test_multipart_parts_join_in_order_and_abort_leaves_nothing(storage, tmp_path: Path) -> None:
    first, last = tmp_path / "first", tmp_path / "last"
    first.write_bytes(os.urandom(MIN_PART_BYTES))
    last.write_bytes(b"the short last part")
    upload_id = storage.start_multipart("uploads/joined")
    assert not storage.exists("uploads/joined")  # nothing visible before the join
    # Parts may arrive again (a retried request): the later one replaces the earlier.
    tags = [storage.put_part("uploads/joined", multipart_id=upload_id, part_number=1, path=last),
            storage.put_part("uploads/joined", multipart_id=upload_id, part_number=1,
                             path=first),
            storage.put_part("uploads/joined", multipart_id=upload_id, part_number=2, path=last)]
    storage.finish_multipart("uploads/joined", multipart_id=upload_id,
                             parts=[(1, tags[1]), (2, tags[2])])
    # Again, as after a crash before the join was recorded: done already, not an error.
    storage.finish_multipart("uploads/joined", multipart_id=upload_id,
                             parts=[(1, tags[1]), (2, tags[2])])
    joined = tmp_path / "joined"
    storage.get_file("uploads/joined", joined)
    assert joined.read_bytes() == first.read_bytes() + last.read_bytes()
    unknown = storage.start_multipart("uploads/never")
    storage.abort_multipart("uploads/never", multipart_id=unknown)
    with pytest.raises(StorageError):  # forgotten, and nothing was joined
        storage.finish_multipart("uploads/never", multipart_id=unknown, parts=[(1, tags[1])])
    assert storage.list("uploads/") == ["uploads/joined"]

    dropped = storage.start_multipart("uploads/dropped")
    storage.put_part("uploads/dropped", multipart_id=dropped, part_number=1, path=first)
    storage.abort_multipart("uploads/dropped", multipart_id=dropped)
    storage.abort_multipart("uploads/dropped", multipart_id=dropped)  # twice: not an error
    assert storage.list("uploads/") == ["uploads/joined"]
    if isinstance(storage, LocalStorage):
        assert list(storage.root.rglob(".part-*")) == []
    else:
        uploads = storage.client.list_multipart_uploads(Bucket=storage.bucket)
        assert uploads.get("Uploads", []) == []
