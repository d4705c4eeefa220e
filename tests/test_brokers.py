"""The same pipeline on every broker: SQS (moto emulator + S3), Redis, RabbitMQ, stub."""

from __future__ import annotations

import uuid
from pathlib import Path

import dramatiq
import pytest
import sqlalchemy as sa

from anb_pipeline import ConfigurationError, MediaPipeline, Settings, open_storage
from anb_pipeline.brokers import make_broker
from anb_pipeline.events import CallbackSink, FanoutSink
from anb_web.db import Database, make_engine
from anb_web.models import Video
from anb_web.sink import DatabaseSink
from conftest import RABBITMQ_URL, REDIS_URL, make_video, require_service
from faults.support import insert_owner_and_videos, postgres_database
from helpers import (
    EventLog,
    assert_clip_ok,
    build_pipeline,
    quick_settings,
    run_until_final,
    sqs_settings,
    start_video,
    wait_for,
)

SQS_INPUTS = {
    "landscape-1080p": {"width": 1920, "height": 1080, "seconds": 2},
    "portrait": {"width": 720, "height": 1280, "seconds": 2},
    "four-by-three": {"width": 640, "height": 480, "seconds": 3},
    "long": {"width": 160, "height": 90, "seconds": 31, "fps": 10},
}


@pytest.mark.media
@pytest.mark.slow
def test_sqs_and_s3_process_every_shape(aws_endpoint: str, namespace: str, tmp_path: Path) -> None:
    log = EventLog()
    pipeline = build_pipeline(sqs_settings(endpoint=aws_endpoint, namespace=namespace), log)
    for shape, spec in SQS_INPUTS.items():
        start_video(pipeline, make_video(tmp_path / f"{shape}.mp4", **spec), shape)

    finals = run_until_final(pipeline, log, list(SQS_INPUTS), timeout_s=300, threads=2)

    for shape, spec in SQS_INPUTS.items():
        assert finals[shape].kind == "pipeline_done", finals[shape].error
        assert_clip_ok(pipeline, shape, tmp_path, source_duration_s=spec["seconds"])
    # Messages carry references: the S3 bucket holds the media, the queue is empty.
    attributes = pipeline.broker.client.get_queue_attributes(
        QueueUrl=pipeline.broker.queue_url(pipeline.settings.queue_name),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    assert attributes == {"ApproximateNumberOfMessages": "0",
                          "ApproximateNumberOfMessagesNotVisible": "0"}


def _run_one(settings: Settings, tmp_path: Path) -> None:
    log = EventLog()
    pipeline = build_pipeline(settings, log)
    video_id = uuid.uuid4().hex
    start_video(pipeline, make_video(tmp_path / "in.mp4"), video_id)
    final = run_until_final(pipeline, log, [video_id])[video_id]
    assert final.kind == "pipeline_done", final.error
    assert_clip_ok(pipeline, video_id, tmp_path, source_duration_s=2)


@pytest.mark.media
def test_redis_broker(tmp_path: Path, namespace: str) -> None:
    require_service("Redis", "127.0.0.1", 6379)
    _run_one(quick_settings(broker_url=REDIS_URL, queue_namespace=namespace,
                            storage_url=f"file://{tmp_path / 'store'}"), tmp_path)


@pytest.mark.media
def test_rabbitmq_broker(tmp_path: Path, namespace: str) -> None:
    require_service("RabbitMQ", "127.0.0.1", 5672)
    _run_one(quick_settings(broker_url=RABBITMQ_URL, queue_namespace=namespace,
                            storage_url=f"file://{tmp_path / 'store'}"), tmp_path)


@pytest.mark.media
def test_stub_broker(tmp_path: Path) -> None:
    _run_one(quick_settings(broker_url="stub://", storage_url=f"file://{tmp_path / 'store'}"),
             tmp_path)


def test_every_broker_gets_the_same_middleware_stack(namespace: str) -> None:
    from anb_pipeline.pipeline import middleware_stack

    stacks = []
    for url in ("stub://", "sqs://", REDIS_URL, RABBITMQ_URL):
        settings = quick_settings(broker_url=url, queue_namespace=namespace)
        broker = make_broker(settings, middleware=middleware_stack(settings, sink=EventLog()))
        stacks.append([type(m).__name__ for m in broker.middleware])
    assert all(stack == stacks[0] for stack in stacks), stacks
    assert stacks[0][:5] == ["CurrentMessage", "LogContext", "VideoGuard", "PoisonGuard",
                             "LifecycleEvents"]
    assert "Retries" in stacks[0] and "Pipelines" in stacks[0]


def test_an_unknown_broker_scheme_says_what_is_supported() -> None:
    with pytest.raises(ConfigurationError, match="use sqs://, redis://, amqp:// or stub://"):
        make_broker(quick_settings(broker_url="kafka://x"), middleware=[])


@pytest.mark.media
@pytest.mark.parametrize("broker", ["redis", "rabbitmq", "stub"])
def test_a_deleted_video_ends_quietly_and_events_are_ordered_on_every_broker(
    broker: str, tmp_path: Path, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    urls = {"redis": (REDIS_URL, "Redis", 6379), "rabbitmq": (RABBITMQ_URL, "RabbitMQ", 5672),
            "stub": ("stub://", None, 0)}
    url, service, port = urls[broker]
    if service:
        require_service(service, "127.0.0.1", port)
    monkeypatch.setenv("ANB_TEST_SLOW_S", "2")
    settings = quick_settings(broker_url=url, queue_namespace=namespace,
                              storage_url=f"file://{tmp_path / 'store'}",
                              steps=("trim", "resize", "slow", "checksum"))
    log = EventLog()
    with postgres_database() as (database_url, _name):
        database = Database(make_engine(database_url))
        pipeline = MediaPipeline(settings, sink=FanoutSink(
            CallbackSink(log), DatabaseSink(database, storage=open_storage(settings),
                                            steps=settings.steps)))
        keys = {"kept": "originals/kept.mp4", "gone": "originals/gone.mp4"}
        for key in keys.values():
            pipeline.storage.put_file(key, make_video(tmp_path / "in.mp4", seconds=1))
        insert_owner_and_videos(database_url, list(keys), source_keys=keys)
        worker = dramatiq.Worker(pipeline.broker, worker_threads=1, worker_timeout=200)
        worker.start()
        try:
            for video_id, key in keys.items():
                pipeline.enqueue(video_id=video_id, source_key=key)
            wait_for(lambda: log.of("gone", "step_finished"), timeout_s=60, what="a step to end")
            # What DELETE /api/videos/{id} does: the row, then the stored objects.
            database.call(lambda session: session.execute(
                sa.delete(Video).where(Video.id == "gone")))
            pipeline.storage.delete(keys["gone"])
            pipeline.storage.delete_prefix("work/gone/")
            assert log.wait_final("kept", timeout_s=120).kind == "pipeline_done"
            pipeline.broker.join(settings.queue_name, timeout=60_000)
        finally:
            worker.stop()
            database.dispose()
    assert log.of("gone", "pipeline_done") == log.of("gone", "pipeline_dead_lettered") == []
    assert "checksum" not in [event.step for event in log.of("gone")]
    assert [key for key in pipeline.storage.list("") if "gone" in key] == [], "no orphan objects"
    kept = log.of("kept")
    assert {event.step for event in kept} <= set(settings.steps), "no fused name"
    assert [event.order for event in kept] == sorted(event.order for event in kept)
