"""Dependencies going away and coming back: the queue at upload time, storage mid-pipeline.

Each outage is a TCP proxy in front of the moto server being stopped: clients see refused
and reset connections, the emulator keeps its state, and the recovery is the same port
answering again.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient

from anb_pipeline import MediaPipeline, PipelineEvent
from anb_pipeline.dlq import DeadLetterQueue
from anb_pipeline.events import CallbackSink
from anb_pipeline.storage import S3Storage
from anb_web.app import create_app
from anb_web.settings import WebSettings
from helpers import EventLog, quick_settings, run_until_final
from web.conftest import JWT_SECRET, signup, upload

from .support import TcpProxy

pytestmark = pytest.mark.media


@pytest.fixture
def proxy(aws_endpoint: str) -> Iterator[TcpProxy]:
    proxy = TcpProxy(aws_endpoint).start()
    yield proxy
    proxy.stop()


def count_rows(database_url: str) -> int:
    engine = sa.create_engine(database_url)
    with engine.connect() as connection:
        count = int(connection.execute(sa.text("SELECT count(*) FROM videos")).scalar_one())
    engine.dispose()
    return count


def test_upload_with_the_queue_down_is_503_and_keeps_nothing(
    proxy: TcpProxy, namespace: str, tmp_path: Path, database_url: str, small_video: Path
) -> None:
    settings = quick_settings(broker_url="sqs://", aws_endpoint_url=proxy.url,
                              queue_namespace=namespace, storage_url=f"file://{tmp_path / 'st'}",
                              work_dir=tmp_path / "work")
    pipeline = MediaPipeline(settings)
    pipeline.broker.ensure_queues()
    app = create_app(WebSettings(pipeline=settings, jwt_secret=JWT_SECRET,
                                 database_url=database_url), pipeline=pipeline)
    with TestClient(app, raise_server_exceptions=False) as client:
        token = signup(client, "outage")
        assert upload(client, token, small_video).status_code == 201

        proxy.stop()
        down = [upload(client, token, small_video).status_code for _ in range(3)]
        rows_during, objects_during = count_rows(database_url), pipeline.storage.list("")
        health = client.get("/health")

        proxy.start()
        after = [upload(client, token, small_video).status_code for _ in range(2)]

    print(f"\nuploads with the queue down: {len(down)}, 503: {down.count(503)}, "
          f"rows kept: {rows_during - 1}, objects kept: {len(objects_during) - 1}; "
          f"after recovery: {after.count(201)}/{len(after)} accepted")
    assert down == [503] * 3
    assert rows_during == 1 and len(objects_during) == 1, "a refused upload left something"
    assert health.status_code == 503 and health.json()["queue"] == "unavailable"
    assert after == [201, 201]
    assert count_rows(database_url) == 3
    attributes = pipeline.broker.client.get_queue_attributes(
        QueueUrl=pipeline.broker.queue_url(settings.queue_name),
        AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "3", "one message per accepted upload"


class OutageLog(EventLog):
    """Cuts storage off as the upload step first starts; restores it after some failures."""

    def __init__(self, proxy: TcpProxy, *, restore_after_failures: int | None) -> None:
        super().__init__()
        self.proxy = proxy
        self.restore_after_failures = restore_after_failures

    def __call__(self, event: PipelineEvent) -> None:
        super().__call__(event)
        if event.kind == "step_started" and event.step == "upload" and event.attempt == 1:
            self.proxy.stop()
        if event.kind == "step_failed" and len(self.of(event.video_id, "step_failed")) == (
            self.restore_after_failures
        ):
            self.proxy.start()


def storage_outage_run(
    *, aws_endpoint: str, log: OutageLog, namespace: str, source: Path,
    monkeypatch: pytest.MonkeyPatch, **overrides: object,
) -> tuple[MediaPipeline, PipelineEvent]:
    """SQS straight to the emulator, S3 through the proxy (per-service endpoint variables)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", aws_endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", log.proxy.url)
    settings = quick_settings(broker_url="sqs://", aws_endpoint_url=None, queue_namespace=namespace,
                              storage_url=f"s3://{namespace}-media/anb", bumper_s=0.5,
                              video_preset="ultrafast", **overrides)
    pipeline = MediaPipeline(settings, sink=CallbackSink(log))
    assert isinstance(pipeline.storage, S3Storage)
    pipeline.storage.ensure_bucket()
    pipeline.broker.ensure_queues()
    pipeline.storage.put_file("originals/v1.mp4", source)
    pipeline.enqueue(video_id="v1", source_key="originals/v1.mp4")
    return pipeline, run_until_final(pipeline, log, ["v1"])["v1"]


def test_storage_outage_mid_pipeline_is_retried_then_completes(
    aws_endpoint: str, proxy: TcpProxy, namespace: str, small_video: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log = OutageLog(proxy, restore_after_failures=2)
    pipeline, final = storage_outage_run(
        aws_endpoint=aws_endpoint, log=log, namespace=namespace, source=small_video,
        monkeypatch=monkeypatch, max_attempts=4, min_backoff_ms=500, max_backoff_ms=1000)

    failed = log.of("v1", "step_failed")
    print(f"\nstorage outage during upload: attempts {len(failed) + 1}, failed while down: "
          f"{len(failed)}, outcome: {final.kind}")
    assert final.kind == "pipeline_done", final.error
    assert [e.step for e in failed] == ["upload", "upload"]
    assert all("StorageUnavailable" in (e.error or "") for e in failed), failed
    assert pipeline.storage.list("processed/") == ["processed/v1.jpg", "processed/v1.mp4"]
    assert pipeline.storage.list("work/") == []


def test_storage_outage_longer_than_the_retries_dead_letters_with_the_cause(
    aws_endpoint: str, proxy: TcpProxy, namespace: str, small_video: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log = OutageLog(proxy, restore_after_failures=None)
    pipeline, final = storage_outage_run(
        aws_endpoint=aws_endpoint, log=log, namespace=namespace, source=small_video,
        monkeypatch=monkeypatch, max_attempts=3)

    print(f"\nstorage outage outlasting retries: attempts {len(log.of('v1', 'step_failed'))}, "
          f"outcome: {final.kind}: {final.error}")
    assert final.kind == "pipeline_dead_lettered"
    assert (final.step, final.attempt) == ("upload", 3)
    assert final.error is not None and final.error.startswith("StorageUnavailable: S3 is unreachable")
    [letter] = DeadLetterQueue(pipeline.broker).letters()
    assert (letter.video_id, letter.step, letter.attempts) == ("v1", "upload", 3)
    assert "StorageUnavailable" in letter.error
