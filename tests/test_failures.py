"""Failure semantics on real dramatiq-sqs over the emulator: retries, dead letters, redrive,
killed workers, poison messages, graceful stop, the visibility heartbeat, long delays."""

from __future__ import annotations

import json
import time
from pathlib import Path

import dramatiq
import pytest
from anb_test_plugins.sink import read_events

from anb_pipeline.brokers.sqs import sqs_client
from anb_pipeline.cli import main as anb_main
from anb_pipeline.dlq import DeadLetterQueue
from anb_pipeline.emulator import free_port
from anb_pipeline.events import CallbackSink
from anb_pipeline.pipeline import MediaPipeline
from conftest import make_video
from helpers import (
    EventLog,
    WorkerProcess,
    build_pipeline,
    run_until_final,
    settings_env,
    sqs_settings,
    start_video,
    wait_for,
)

pytestmark = pytest.mark.media


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


def final_event(events_file: Path, video_id: str) -> dict | None:
    for event in read_events(events_file):
        if event["video_id"] == video_id and event["kind"] in ("pipeline_done",
                                                               "pipeline_dead_lettered"):
            return event
    return None


@pytest.fixture
def subprocess_setup(aws_endpoint, namespace, tmp_path):
    """Settings, an enqueueing pipeline, and the env for worker subprocesses."""
    def setup(steps: tuple[str, ...], **overrides):
        settings = sqs_settings(endpoint=aws_endpoint, namespace=namespace, steps=steps,
                                visibility_timeout_s=3, sqs_wait_time_s=1, **overrides)
        pipeline = build_pipeline(settings, EventLog())
        env = settings_env(
            settings, ANB_EVENT_SINK="anb_test_plugins.sink:make_sink",
            ANB_TEST_EVENTS_FILE=str(tmp_path / "events.jsonl"),
            ANB_TEST_STARTED_MARKER=str(tmp_path / "started.txt"), ANB_TEST_SLOW_S="4",
        )
        return settings, pipeline, env
    return setup


def test_a_failing_step_is_tried_three_times_dead_lettered_then_redriven(
    aws_endpoint, namespace, tmp_path, monkeypatch, capsys
) -> None:
    flag = tmp_path / "fail.flag"
    flag.touch()
    monkeypatch.setenv("ANB_TEST_FAIL_FLAG", str(flag))
    settings = sqs_settings(endpoint=aws_endpoint, namespace=namespace,
                            steps=("trim", "flaky", "checksum"))
    log = EventLog()
    pipeline = build_pipeline(settings, log)
    start_video(pipeline, make_video(tmp_path / "in.mp4"), "v1")

    final = run_until_final(pipeline, log, ["v1"])["v1"]

    assert final.kind == "pipeline_dead_lettered"
    assert (final.step, final.attempt) == ("flaky", 3)
    assert "RuntimeError: flaky step was told to fail" in final.error
    assert flag.with_suffix(".calls").read_text() == "3"
    assert [e.attempt for e in log.of("v1", "step_failed")] == [1, 2, 3]

    for name, value in settings_env(settings).items():
        monkeypatch.setenv(name, value)
    assert anb_main(["dlq", "list", "--json"]) == 0
    [letter] = json.loads(capsys.readouterr().out)
    assert (letter["video_id"], letter["step"], letter["attempts"]) == ("v1", "flaky", 3)
    assert "flaky step was told to fail" in letter["error"]

    flag.unlink()  # the cause is fixed
    assert anb_main(["dlq", "redrive"]) == 0
    assert "1 message(s) redriven" in capsys.readouterr().out
    log.events.clear()
    final = run_until_final(pipeline, log, ["v1"])["v1"]

    assert final.kind == "pipeline_done", final.error
    assert [e.step for e in log.of("v1", "step_started")] == ["flaky", "checksum"]
    assert log.of("v1", "step_started")[0].attempt == 1, "redrive gives fresh attempts"
    assert DeadLetterQueue(pipeline.broker).letters() == []


@pytest.mark.slow
def test_a_worker_killed_mid_step_loses_nothing(subprocess_setup, tmp_path) -> None:
    settings, pipeline, env = subprocess_setup(
        ("trim", "slow", "resize", "watermark", "bumpers", "upload"))
    start_video(pipeline, make_video(tmp_path / "in.mp4"), "v1")
    started = tmp_path / "started.txt"

    first = WorkerProcess(env, tmp_path / "worker1.log")
    try:
        wait_for(lambda: lines(started), timeout_s=60, what="the slow step to start")
        first.kill_host()
    finally:
        first.close()
    second = WorkerProcess(env, tmp_path / "worker2.log")
    try:
        event = wait_for(lambda: final_event(tmp_path / "events.jsonl", "v1"), timeout_s=120,
                         what="the video to finish")
    finally:
        second.terminate()
        second.close()

    assert event["kind"] == "pipeline_done", event
    assert len(lines(started)) == 2, "the killed step ran again, once"
    assert pipeline.storage.list("processed/") == ["processed/v1.jpg", "processed/v1.mp4"]
    assert pipeline.storage.list("work/") == []


@pytest.mark.slow
def test_a_message_that_kills_every_worker_is_dead_lettered_after_three_receives(
    subprocess_setup, tmp_path
) -> None:
    settings, pipeline, env = subprocess_setup(("trim", "crash", "upload"))
    start_video(pipeline, make_video(tmp_path / "in.mp4"), "v1")
    events_file = tmp_path / "events.jsonl"

    for attempt in range(4):
        worker = WorkerProcess(env, tmp_path / f"worker{attempt}.log")
        try:
            wait_for(lambda w=worker: w.process.poll() is not None or final_event(events_file, "v1"),
                     timeout_s=60, what="the worker to crash or the video to dead-letter")
        finally:
            if worker.process.poll() is None:
                worker.terminate()
            worker.close()
        if final_event(events_file, "v1"):
            break

    event = final_event(events_file, "v1")
    assert event is not None and event["kind"] == "pipeline_dead_lettered"
    assert event["step"] == "crash"
    assert "delivered 3 times without completing" in event["error"]
    assert len(lines(tmp_path / "started.txt")) == 2, "two workers died; the third refused it"
    [letter] = DeadLetterQueue(pipeline.broker).letters()
    assert (letter.video_id, letter.step) == ("v1", "crash")


@pytest.mark.slow
def test_sigterm_mid_step_finishes_the_step_and_loses_nothing(subprocess_setup, tmp_path) -> None:
    settings, pipeline, env = subprocess_setup(("trim", "slow", "checksum"))
    start_video(pipeline, make_video(tmp_path / "in.mp4"), "v1")
    started = tmp_path / "started.txt"

    first = WorkerProcess(env, tmp_path / "worker1.log")
    try:
        wait_for(lambda: lines(started), timeout_s=60, what="the slow step to start")
        assert first.terminate() == 0
    finally:
        first.close()
    finished = [e for e in read_events(tmp_path / "events.jsonl")
                if e["kind"] == "step_finished" and e["step"] == "slow"]
    assert len(finished) == 1, "the in-flight step finished before the worker stopped"

    second = WorkerProcess(env, tmp_path / "worker2.log")
    try:
        event = wait_for(lambda: final_event(tmp_path / "events.jsonl", "v1"), timeout_s=60,
                         what="the video to finish")
    finally:
        second.terminate()
        second.close()
    assert event["kind"] == "pipeline_done"
    assert len(lines(started)) == 1, "the finished step was not redone"


def test_the_heartbeat_keeps_a_long_step_from_being_redelivered(
    aws_endpoint, namespace, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("ANB_TEST_SLOW_S", "8")
    monkeypatch.setenv("ANB_TEST_STARTED_MARKER", str(tmp_path / "started.txt"))
    settings = sqs_settings(endpoint=aws_endpoint, namespace=namespace, steps=("trim", "slow"),
                            visibility_timeout_s=3)
    log = EventLog()
    pipeline = build_pipeline(settings, log)
    start_video(pipeline, make_video(tmp_path / "in.mp4"), "v1")

    # Two threads: a redelivered copy would be picked up and run while the first still runs.
    final = run_until_final(pipeline, log, ["v1"], threads=2)["v1"]

    assert final.kind == "pipeline_done"
    assert len(lines(tmp_path / "started.txt")) == 1, "8 s step, 3 s visibility, one delivery"


def test_a_failed_hand_off_gives_the_message_back_instead_of_acking_it(
    aws_endpoint, namespace, tmp_path
) -> None:
    settings = sqs_settings(endpoint=aws_endpoint, namespace=namespace,
                            steps=("trim", "checksum"), visibility_timeout_s=3)
    log = EventLog()
    pipeline = build_pipeline(settings, log)
    start_video(pipeline, make_video(tmp_path / "in.mp4"), "v1")
    working_client = pipeline.broker.client
    # A real client whose endpoint refuses connections: sends fail as in an SQS outage,
    # while the consumer (its own client) still receives and acks.
    pipeline.broker.client = sqs_client(settings.replace(
        aws_endpoint_url=f"http://127.0.0.1:{free_port()}"))

    worker = dramatiq.Worker(pipeline.broker, worker_threads=1, worker_timeout=200)
    worker.start()
    try:
        wait_for(lambda: log.of("v1", "step_finished"), timeout_s=60, what="trim to finish")
        time.sleep(1)
        assert log.of("v1", "step_started")[-1].step == "trim", "checksum was never enqueued"
        attributes = working_client.get_queue_attributes(
            QueueUrl=pipeline.broker.queue_url(settings.queue_name),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                            "ApproximateNumberOfMessagesDelayed"],
        )["Attributes"]
        # Given back as a delayed fresh copy (or, if SQS refused that, left to time out).
        assert sum(int(v) for v in attributes.values()) == 1, "the trim message was kept"
        pipeline.broker.client = working_client  # the outage ends
        final = log.wait_final("v1", timeout_s=60)
    finally:
        worker.stop()

    assert final.kind == "pipeline_done"
    assert [e.step for e in log.of("v1", "step_finished")] == ["trim", "trim", "checksum"]


def run_with_sink_refusing_once(settings, log: EventLog, refusals: list, *, kind: str,
                                tmp_path: Path) -> MediaPipeline:
    """Start a video on a pipeline whose sink fails once on ``kind``, as a sink with its
    database down would, and records everything else in ``log``."""

    def record(event) -> None:
        if event.kind == kind and not refusals:
            refusals.append(event)
            raise ConnectionError("database is down")
        log(event)

    pipeline = MediaPipeline(settings, sink=CallbackSink(record))
    pipeline.storage.ensure_bucket()
    pipeline.broker.ensure_queues()
    start_video(pipeline, make_video(tmp_path / "in.mp4"), "v1")
    return pipeline


def test_a_pipeline_done_the_sink_could_not_record_is_redone_not_lost(
    aws_endpoint, namespace, tmp_path
) -> None:
    settings = sqs_settings(endpoint=aws_endpoint, namespace=namespace,
                            steps=("trim", "checksum"), visibility_timeout_s=3)
    log, refusals = EventLog(), []
    pipeline = run_with_sink_refusing_once(settings, log, refusals, kind="pipeline_done",
                                           tmp_path=tmp_path)

    final = run_until_final(pipeline, log, ["v1"])["v1"]

    assert final.kind == "pipeline_done" and len(refusals) == 1
    assert [e.step for e in log.of("v1", "step_finished")] == ["trim", "checksum", "checksum"]


def test_a_dead_letter_the_sink_could_not_record_is_retried_not_lost(
    aws_endpoint, namespace, tmp_path, monkeypatch
) -> None:
    flag = tmp_path / "fail.flag"
    flag.touch()
    monkeypatch.setenv("ANB_TEST_FAIL_FLAG", str(flag))
    settings = sqs_settings(endpoint=aws_endpoint, namespace=namespace,
                            steps=("trim", "flaky"), visibility_timeout_s=3)
    log, refusals = EventLog(), []
    pipeline = run_with_sink_refusing_once(settings, log, refusals,
                                           kind="pipeline_dead_lettered", tmp_path=tmp_path)

    final = run_until_final(pipeline, log, ["v1"])["v1"]

    assert final.kind == "pipeline_dead_lettered" and len(refusals) == 1
    # The last attempt ran again once the sink was back; the DLQ holds one letter.
    assert flag.with_suffix(".calls").read_text() == "4"
    assert len(DeadLetterQueue(pipeline.broker).letters()) == 1


def test_a_result_too_large_for_sqs_dead_letters_instead_of_vanishing(
    aws_endpoint, namespace, tmp_path
) -> None:
    settings = sqs_settings(endpoint=aws_endpoint, namespace=namespace,
                            steps=("trim", "bloat", "checksum"))
    log = EventLog()
    pipeline = build_pipeline(settings, log)
    start_video(pipeline, make_video(tmp_path / "in.mp4"), "v1")

    final = run_until_final(pipeline, log, ["v1"])["v1"]

    assert final.kind == "pipeline_dead_lettered"
    assert final.step == "bloat"
    assert "over the SQS limit" in final.error
    [letter] = DeadLetterQueue(pipeline.broker).letters()
    assert (letter.video_id, letter.step) == ("v1", "bloat")
    assert "too large a result" in letter.error


def test_a_delay_beyond_the_sqs_limit_is_clamped_not_dropped(aws_endpoint, namespace) -> None:
    settings = sqs_settings(endpoint=aws_endpoint, namespace=namespace)
    pipeline = build_pipeline(settings, EventLog())
    message = pipeline.actors["upload"].message({"video_id": "v", "source_key": "k",
                                               "input_key": "k"})

    pipeline.broker.enqueue(message, delay=2 * 3600 * 1000)

    attributes = pipeline.broker.client.get_queue_attributes(
        QueueUrl=pipeline.broker.queue_url(settings.queue_name),
        AttributeNames=["ApproximateNumberOfMessagesDelayed"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesDelayed"] == "1"


def test_queues_ensure_is_idempotent_and_sets_the_redrive_policy(
    aws_endpoint, namespace, monkeypatch, capsys
) -> None:
    settings = sqs_settings(endpoint=aws_endpoint, namespace=namespace)
    for name, value in settings_env(settings).items():
        monkeypatch.setenv(name, value)
    assert anb_main(["queues", "ensure"]) == 0
    assert anb_main(["queues", "ensure"]) == 0
    out = capsys.readouterr().out
    assert f"/{namespace}_video_dlq" in out

    broker = build_pipeline(settings, EventLog()).broker
    attributes = broker.client.get_queue_attributes(
        QueueUrl=broker.queue_url(settings.queue_name), AttributeNames=["All"])["Attributes"]
    redrive = json.loads(attributes["RedrivePolicy"])
    assert int(redrive["maxReceiveCount"]) == 3
    assert redrive["deadLetterTargetArn"].endswith(f":{namespace}_video_dlq")
    assert attributes["ReceiveMessageWaitTimeSeconds"] == "20"
    assert attributes["MessageRetentionPeriod"] == str(4 * 86400)


def test_dlq_commands_on_a_broker_without_them_explain_why(monkeypatch, capsys) -> None:
    monkeypatch.setenv("ANB_BROKER_URL", "stub://")
    assert anb_main(["dlq", "list"]) == 2
    assert "need the SQS broker" in capsys.readouterr().err


def test_stub_worker_keeps_dramatiq_semantics() -> None:
    assert dramatiq.get_broker() is not None
