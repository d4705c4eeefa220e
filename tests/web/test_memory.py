"""Uploads stream: memory stays flat whatever the size of the body."""

from __future__ import annotations

import asyncio
import tracemalloc

import httpx
import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from anb_pipeline import MediaPipeline
from anb_web.app import create_app
from anb_web.settings import WebSettings

from .conftest import bearer, signup
from .test_videos import BOUNDARY, CountingBody

MIB = 1024 * 1024
#: Far below either body: holding even the small one whole would break it.
MAX_GROWTH_BYTES = 6 * MIB


@pytest.fixture
def roomy_app(web_settings: WebSettings, pipeline: MediaPipeline) -> Starlette:
    return create_app(web_settings.replace(max_upload_bytes=128 * MIB), pipeline=pipeline)


def peak_growth_of_upload(app: Starlette, token: str, size_bytes: int) -> tuple[int, int]:
    """(status, peak bytes allocated above the baseline) for one streamed upload."""
    body = CountingBody(size_bytes)

    async def send() -> int:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://anb.test") as http:
            response = await http.post(
                "/api/videos", content=body,
                headers={**bearer(token), "Content-Length": str(body.length),
                         "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"})
            return response.status_code

    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        status = asyncio.run(send())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert body.sent_bytes == body.length - len(body.tail), "the whole body was read"
    return status, peak - baseline


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_upload_memory_does_not_grow_with_the_body(roomy_app: Starlette) -> None:
    with TestClient(roomy_app) as client:
        token = signup(client, "memory_probe")
    growth = {size: peak_growth_of_upload(roomy_app, token, size) for size in (8 * MIB, 64 * MIB)}
    # Zeros are no video: the body is streamed to disk in full, probed, then refused.
    assert {status for status, _ in growth.values()} == {415}
    for size, (_, peak) in growth.items():
        assert peak < MAX_GROWTH_BYTES, f"{size} B upload peaked at {peak} B of new memory"
