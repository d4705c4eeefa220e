"""The same pipeline on every broker: SQS (moto emulator + S3), Redis, RabbitMQ, stub."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from anb_pipeline import ConfigurationError, Settings
from anb_pipeline.brokers import make_broker
from conftest import RABBITMQ_URL, REDIS_URL, make_video, require_service
from helpers import (
    EventLog,
    assert_clip_ok,
    build_pipeline,
    quick_settings,
    run_until_final,
    sqs_settings,
    start_video,
)

SQS_INPUTS = {
    "landscape-1080p": {"width": 1920, "height": 1080, "seconds": 2},
    "portrait": {"width": 720, "height": 1280, "seconds": 2},
    "four-by-three": {"width": 640, "height": 480, "seconds": 3},
    "long": {"width": 160, "height": 90, "seconds": 31, "fps": 10},
}


@pytest.mark.media
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
    assert stacks[0][:4] == ["CurrentMessage", "LogContext", "PoisonGuard", "LifecycleEvents"]
    assert "Retries" in stacks[0] and "Pipelines" in stacks[0]


def test_an_unknown_broker_scheme_says_what_is_supported() -> None:
    with pytest.raises(ConfigurationError, match="use sqs://, redis://, amqp:// or stub://"):
        make_broker(quick_settings(broker_url="kafka://x"), middleware=[])
