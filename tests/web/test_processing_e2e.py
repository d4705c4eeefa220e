"""Through the API to a finished clip: emulated SQS and S3, a real Dramatiq worker, and the
database sink writing the status the API reports."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dramatiq
import httpx
import pytest
from starlette.testclient import TestClient

from anb_pipeline import MediaPipeline, Settings, StepContext, StepRegistry
from anb_pipeline.media.invariants import clip_problems
from anb_pipeline.storage import S3Storage
from anb_web.app import create_app
from anb_web.db import Database, make_engine
from anb_web.settings import WebSettings
from anb_web.sink import DatabaseSink

from .conftest import JWT_SECRET, bearer, signup, upload

pytestmark = pytest.mark.media
FINAL = ("processed", "failed")


class ExplodeStep:
    name = "explode"

    def run(self, ctx: StepContext) -> Any:
        raise RuntimeError("the explode step always fails")


@pytest.fixture
def sqs_settings(aws_endpoint: str, namespace: str, tmp_path: Path) -> Settings:
    return Settings(broker_url="sqs://", aws_endpoint_url=aws_endpoint,
                    queue_namespace=namespace, storage_url=f"s3://{namespace}-media/anb",
                    min_backoff_ms=50, max_backoff_ms=200, sqs_wait_time_s=1,
                    visibility_timeout_s=30, ffmpeg_timeout_s=120, work_dir=tmp_path / "work")


@contextlib.contextmanager
def running_stack(settings: Settings, database_url: str, *,
                  registry: StepRegistry | None = None) -> Iterator[TestClient]:
    """The web app and one worker, sharing the queue, storage and database like in prod."""
    worker_database = Database(make_engine(database_url))
    pipeline = MediaPipeline(settings, registry=registry,
                             sink=DatabaseSink(worker_database, steps=settings.steps))
    assert isinstance(pipeline.storage, S3Storage)
    pipeline.storage.ensure_bucket()
    pipeline.broker.ensure_queues()  # type: ignore[attr-defined]
    web = WebSettings(pipeline=settings, jwt_secret=JWT_SECRET, database_url=database_url)
    worker = dramatiq.Worker(pipeline.broker, worker_threads=1, worker_timeout=200)
    worker.start()
    try:
        with TestClient(create_app(web, pipeline=pipeline)) as client:
            yield client
    finally:
        worker.stop()
        worker_database.dispose()


def wait_final(client: TestClient, token: str, video_id: str, *,
               timeout_s: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        detail: dict[str, Any] = client.get(f"/api/videos/{video_id}",
                                            headers=bearer(token)).json()
        if detail["processing_status"] in FINAL:
            return detail
        time.sleep(0.5)
    raise AssertionError(f"video {video_id} did not finish: {detail}")


def test_an_upload_is_processed_into_a_valid_clip(
    sqs_settings: Settings, database_url: str, small_video: Path, tmp_path: Path
) -> None:
    with running_stack(sqs_settings, database_url) as client:
        token = signup(client, "e2e_player", city="Cali")
        video_id = upload(client, token, small_video).json()["id"]
        detail = wait_final(client, token, video_id)
        assert detail["processing_status"] == "processed", detail
        assert [(s["name"], s["status"], s["attempts"]) for s in detail["steps"]] == [
            (name, "succeeded", 1) for name in sqs_settings.steps]
        assert all(step["seconds"] is not None for step in detail["steps"])
        assert detail["processed_at"] is not None
        clip = tmp_path / "clip.mp4"
        clip.write_bytes(httpx.get(detail["processed_url"]).raise_for_status().content)
        assert clip_problems(clip, settings=sqs_settings, source_duration_s=2.0) == []
        assert httpx.get(detail["poster_url"]).content[:2] == b"\xff\xd8"  # a JPEG
        public = client.get("/api/public/videos").json()
        assert [item["id"] for item in public["items"]] == [video_id]


def test_a_video_whose_pipeline_dead_letters_ends_failed_with_step_and_error(
    sqs_settings: Settings, database_url: str, small_video: Path
) -> None:
    registry = StepRegistry()
    registry.register(ExplodeStep())
    settings = sqs_settings.replace(steps=("trim", "explode"))
    with running_stack(settings, database_url, registry=registry) as client:
        token = signup(client, "unlucky_player")
        video_id = upload(client, token, small_video).json()["id"]
        detail = wait_final(client, token, video_id, timeout_s=90)
        assert detail["processing_status"] == "failed"
        error = detail["error"]
        assert (error["step"], error["message"]) == (
            "explode", "RuntimeError: the explode step always fails")
        # Our failure, not the file's: the owner may try again (the pages' fields).
        assert (error["retryable"], error["retries_left"]) == (True, 3)
        assert [(s["name"], s["status"], s["attempts"]) for s in detail["steps"]] == [
            ("trim", "succeeded", 1), ("explode", "failed", settings.max_attempts)]
        assert client.get("/api/public/videos").json()["total"] == 0
