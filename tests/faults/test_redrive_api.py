"""A dead-lettered video, seen through the API: failed with its step and error, then
processed after the cause is fixed and ``anb dlq redrive`` runs."""

from __future__ import annotations

from pathlib import Path

import dramatiq
import pytest
from starlette.testclient import TestClient

from anb_pipeline import MediaPipeline
from anb_pipeline.cli import main as anb_main
from anb_pipeline.storage import S3Storage
from anb_web.app import create_app
from anb_web.db import Database, make_engine
from anb_web.settings import WebSettings
from anb_web.sink import DatabaseSink
from helpers import settings_env, sqs_settings, wait_for
from web.conftest import JWT_SECRET, bearer, signup, upload

pytestmark = pytest.mark.media


def test_a_failed_video_is_processed_after_the_fix_and_a_redrive(
    aws_endpoint: str, namespace: str, database_url: str, small_video: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flag = tmp_path / "fail.flag"
    flag.touch()
    monkeypatch.setenv("ANB_TEST_FAIL_FLAG", str(flag))
    settings = sqs_settings(endpoint=aws_endpoint, namespace=namespace, sqs_wait_time_s=1,
                            steps=("trim", "flaky", "resize", "watermark", "bumpers", "upload"),
                            bumper_s=0.5, video_preset="ultrafast")
    sink_database = Database(make_engine(database_url, pool_size=2))
    pipeline = MediaPipeline(settings, sink=DatabaseSink(sink_database, steps=settings.steps))
    assert isinstance(pipeline.storage, S3Storage)
    pipeline.storage.ensure_bucket()
    pipeline.broker.ensure_queues()
    app = create_app(WebSettings(pipeline=settings, jwt_secret=JWT_SECRET,
                                 database_url=database_url), pipeline=pipeline)
    worker = dramatiq.Worker(pipeline.broker, worker_threads=1, worker_timeout=200)
    worker.start()
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            token = signup(client, "redriven")
            video = upload(client, token, small_video).json()["id"]

            def detail() -> dict[str, object]:
                body: dict[str, object] = client.get(f"/api/videos/{video}",
                                                     headers=bearer(token)).json()
                return body

            failed = wait_for(lambda: (d := detail())["processing_status"] == "failed" and d,
                              timeout_s=90, what="the video to fail")
            flag.unlink()  # the cause is fixed
            for name, value in settings_env(settings).items():
                monkeypatch.setenv(name, value)
            assert anb_main(["dlq", "redrive"]) == 0
            done = wait_for(lambda: (d := detail())["processing_status"] == "processed" and d,
                            timeout_s=90, what="the redriven video to be processed")
    finally:
        worker.stop()
        sink_database.dispose()

    print(f"\nredrive through the API: 1 video, failed at {failed['error']}, then "
          f"{done['processing_status']} after the redrive")
    assert (failed["error"]["step"], failed["error"]["message"]) == (
        "flaky", "RuntimeError: flaky step was told to fail")
    assert "error" not in done
    assert {step["name"]: step["status"] for step in done["steps"]} == dict.fromkeys(
        settings.steps, "succeeded")
    assert pipeline.storage.list(f"processed/{video}") == [f"processed/{video}.jpg",
                                                             f"processed/{video}.mp4"]
