"""App-signed URLs for local storage: valid links serve the file, anything else is 403."""

from __future__ import annotations

import io
import time
from urllib.parse import parse_qs, urlsplit

from starlette.applications import Starlette
from starlette.testclient import TestClient

from anb_pipeline import MediaPipeline
from anb_web.media import MediaUrls

from .conftest import JWT_SECRET


def test_signed_urls_serve_files_with_ranges_and_refuse_tampering(
    client: TestClient, app: Starlette, pipeline: MediaPipeline
) -> None:
    pipeline.storage.put_stream("processed/x.mp4", io.BytesIO(b"0123456789"))
    urls: MediaUrls = app.state.services.urls
    url = urls.url("processed/x.mp4")
    assert url is not None and url.startswith("/media/processed/x.mp4?")
    assert client.get(url).content == b"0123456789"
    partial = client.get(url, headers={"Range": "bytes=2-4"})
    assert (partial.status_code, partial.content) == (206, b"234")
    query = parse_qs(urlsplit(url).query)
    expires, signature = query["expires"][0], query["signature"][0]
    forged = {
        "other key": f"/media/processed/y.mp4?expires={expires}&signature={signature}",
        "later expiry": f"/media/processed/x.mp4?expires={int(expires) + 1}"
                        f"&signature={signature}",
        "no signature": f"/media/processed/x.mp4?expires={expires}",
        "bad signature": f"/media/processed/x.mp4?expires={expires}&signature=00",
        "not a number": f"/media/processed/x.mp4?expires=soon&signature={signature}",
    }
    for name, link in forged.items():
        response = client.get(link)
        assert response.status_code == 403, name
        assert response.json()["detail"]


def test_expired_links_are_403_and_missing_files_404(
    client: TestClient, pipeline: MediaPipeline
) -> None:
    urls = MediaUrls(storage=pipeline.storage, secret=JWT_SECRET, ttl_s=60)
    past = int(time.time()) - 1
    stale = f"/media/a.mp4?expires={past}&signature={urls.sign('a.mp4', expires=past)}"
    assert client.get(stale).status_code == 403
    assert client.get(urls.url("processed/none.mp4") or "").status_code == 404
    assert client.get(urls.url("../etc/passwd") or "").status_code in (403, 404)


def test_public_base_url_prefixes_app_signed_links(pipeline: MediaPipeline) -> None:
    urls = MediaUrls(storage=pipeline.storage, secret=JWT_SECRET, ttl_s=60,
                     public_base_url="https://anb.example.org/")
    assert (urls.url("processed/x.mp4") or "").startswith(
        "https://anb.example.org/media/processed/x.mp4?expires=")


def test_presigned_urls_are_reused_for_a_tenth_of_their_life_and_fetch_the_object(
    aws_endpoint: str, namespace: str
) -> None:
    import httpx

    from anb_pipeline import Settings, open_storage
    from anb_pipeline.storage import S3Storage

    storage = open_storage(Settings(storage_url=f"s3://{namespace}", aws_endpoint_url=aws_endpoint))
    assert isinstance(storage, S3Storage)
    storage.ensure_bucket()
    storage.put_stream("processed/x.mp4", io.BytesIO(b"0123456789"))
    urls = MediaUrls(storage=storage, secret=JWT_SECRET, ttl_s=20)
    first = urls.url("processed/x.mp4")
    assert first is not None and httpx.get(first).content == b"0123456789"
    time.sleep(1.1)  # a fresh signature would carry a new X-Amz-Date
    assert urls.url("processed/x.mp4") == first
    assert urls.url("processed/y.mp4") != first
    time.sleep(1.5)  # past the 2 s window: signed again
    assert urls.url("processed/x.mp4") != first
