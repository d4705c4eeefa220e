"""Faults real SQS deployments see, on real dramatiq-sqs over the emulator: failed calls in
the consumer, purges, foreign messages, deletes during processing, duplicates."""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from base64 import b64encode
from pathlib import Path

import dramatiq
import pytest
import sqlalchemy as sa

from anb_pipeline import MediaPipeline, open_storage
from anb_pipeline.brokers.sqs import STANDARD_MODE_MAX_BACKOFF_S, sqs_client
from anb_pipeline.brokers.watchdog import STALLED_EXIT_CODE, ConsumerWatchdog
from anb_pipeline.cli import main as anb_main
from anb_pipeline.commands import worker_command
from anb_pipeline.dlq import DeadLetterQueue
from anb_pipeline.events import CallbackSink, FanoutSink
from anb_web.db import Database, make_engine, upgrade
from anb_web.sink import DatabaseSink
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

from .support import TcpProxy, insert_owner_and_videos, postgres_database, statuses

pytestmark = pytest.mark.media


def receive(consumer: dramatiq.Consumer, *, timeout_s: float = 20) -> dramatiq.MessageProxy:
    return wait_for(lambda: next(consumer), timeout_s=timeout_s, what="a message", interval_s=0)


@pytest.fixture
def proxied(aws_endpoint, namespace):
    """A pipeline whose every SQS and S3 call goes through a proxy the test can cut."""
    proxy = TcpProxy(aws_endpoint).start()
    settings = sqs_settings(endpoint=proxy.url, namespace=namespace, steps=("checksum",),
                            visibility_timeout_s=3, sqs_wait_time_s=1)
    pipeline = build_pipeline(settings, EventLog())
    consumer = pipeline.broker.consume(settings.queue_name, prefetch=1, timeout=1000)
    yield proxy, pipeline, consumer
    consumer.close()
    proxy.stop()


@pytest.mark.parametrize("settle", ["ack", "nack", "give back"])
def test_a_failed_sqs_call_never_keeps_a_slot_and_the_message_comes_back(proxied, settle) -> None:
    proxy, pipeline, consumer = proxied
    pipeline.actors["checksum"].send({"video_id": "v1", "input_key": "k"})
    message = receive(consumer)
    assert consumer.slots.free() == 0

    proxy.stop()  # SQS is unreachable exactly when the message is settled
    if settle == "give back":
        pipeline.broker.give_back(message.message_id)
        consumer.ack(message)
    elif settle == "nack":
        message.fail()
        consumer.nack(message)
    else:
        consumer.ack(message)
    assert consumer.slots.free() == 1, "the slot was released"
    assert not consumer.heartbeat.tracks(message.receipt_handle), "renewal stopped"
    assert next(consumer) is None, "a failed receive is retried, not raised"

    proxy.start()
    again = receive(consumer)
    assert again.message_id == message.message_id, "back by its visibility timeout"
    assert again.receive_count == 2
    consumer.ack(again)


def test_a_given_back_message_returns_as_a_fresh_copy_not_as_a_lost_delivery(proxied) -> None:
    proxy, pipeline, consumer = proxied
    pipeline.actors["checksum"].send({"video_id": "v1", "input_key": "k"})
    message = receive(consumer)
    pipeline.broker.give_back(message.message_id)  # its hand-off failed; SQS is fine now
    consumer.ack(message)
    again = receive(consumer, timeout_s=40)
    assert again.message_id == message.message_id
    assert again.receive_count == 1, "a give-back does not count towards the poison limit"
    consumer.ack(again)


def test_the_watchdog_frees_a_leaked_slot_and_notices_a_stalled_consumer(proxied) -> None:
    proxy, pipeline, consumer = proxied
    consumer.watchdog.stop()
    stalled = threading.Event()
    watchdog = ConsumerWatchdog(consumer=consumer, max_hold_s=1, stall_after_s=4,
                                on_stall=stalled.set, check_interval_s=0.2)
    try:
        pipeline.actors["checksum"].send({"video_id": "v1", "input_key": "k"})
        leaked = receive(consumer)  # and never settled by anyone
        wait_for(lambda: consumer.slots.free() == 1, timeout_s=5, what="the leaked slot")
        assert not consumer.heartbeat.tracks(leaked.receipt_handle)
        watchdog.polled()
        again = receive(consumer)
        assert again.message_id == leaked.message_id, "back by its visibility timeout"
        consumer.ack(again)
        watchdog.polled()
        assert not stalled.is_set()
        assert stalled.wait(10), "no poll for 4 s: the consumer counts as stalled"
    finally:
        watchdog.stop()


def test_a_call_retrying_through_a_partition_is_never_taken_for_a_stall(proxied) -> None:
    """The stall limit comes from the consumer's own client: every attempt of one receive
    timing out on connect and read, with the longest backoff between, fits in it twice."""
    _proxy, _pipeline, consumer = proxied
    config = consumer.client.meta.config
    attempts = config.retries["total_max_attempts"]  # the first attempt included
    worst_receive_s = (attempts * (config.connect_timeout + config.read_timeout)
                       + (attempts - 1) * STANDARD_MODE_MAX_BACKOFF_S)
    assert config.read_timeout > consumer.wait_time_s, "the client outwaits its long poll"
    assert consumer.watchdog.stall_after_s >= 2 * worst_receive_s


def test_a_stalled_worker_process_exits_for_its_supervisor(tmp_path: Path) -> None:
    script = (
        "import time\n"
        "from anb_pipeline.brokers.watchdog import ConsumerWatchdog, SlotTable\n"
        "class Consumer:\n"
        "    slots = SlotTable(capacity=1)\n"
        "    def release_leaked(self, handle): pass\n"
        "    def report(self): pass\n"
        "ConsumerWatchdog(consumer=Consumer(), max_hold_s=60, stall_after_s=0.5,\n"
        "                 check_interval_s=0.1)\n"
        "time.sleep(30)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], timeout=60, capture_output=True,
                          text=True)
    assert done.returncode == STALLED_EXIT_CODE
    assert "has not polled" in done.stderr


def test_purging_the_queue_mid_step_does_not_wedge_the_worker(
    aws_endpoint, namespace, tmp_path, monkeypatch
) -> None:
    monkeypatch.setenv("ANB_TEST_SLOW_S", "3")
    monkeypatch.setenv("ANB_TEST_STARTED_MARKER", str(tmp_path / "started.txt"))
    settings = sqs_settings(endpoint=aws_endpoint, namespace=namespace, steps=("slow", "checksum"),
                            visibility_timeout_s=3, sqs_wait_time_s=1)
    log = EventLog()
    pipeline = build_pipeline(settings, log)
    worker = dramatiq.Worker(pipeline.broker, worker_threads=1, worker_timeout=200)
    worker.start()
    try:
        start_video(pipeline, make_video(tmp_path / "in.mp4", seconds=1), "v1")
        wait_for(lambda: log.of("v1", "step_started"), timeout_s=30, what="the slow step")
        client = sqs_client(settings)
        client.purge_queue(QueueUrl=pipeline.broker.queue_url(settings.queue_name))
        # The slow step ends, hands off, and its ack fails: the purge invalidated its receipt.
        start_video(pipeline, make_video(tmp_path / "in2.mp4", seconds=1), "v2")
        final = log.wait_final("v2", timeout_s=60)
    finally:
        worker.stop()
    assert final.kind == "pipeline_done", final


def test_foreign_bodies_and_unknown_actors_are_dead_lettered_at_once_and_listed(
    aws_endpoint, namespace, tmp_path, monkeypatch, capsys
) -> None:
    settings = sqs_settings(endpoint=aws_endpoint, namespace=namespace, steps=("checksum",),
                            visibility_timeout_s=3, sqs_wait_time_s=1)
    pipeline = build_pipeline(settings, EventLog())
    client = sqs_client(settings)
    queue_url = pipeline.broker.queue_url(settings.queue_name)
    client.send_message(QueueUrl=queue_url, MessageBody='{"hello": "from another system"}')
    client.send_message(QueueUrl=queue_url, MessageBody=b64encode(b"\x00\xffnot json").decode())
    stranger = dramatiq.Message(queue_name=settings.queue_name, actor_name="anb_step_denoise",
                                args=({"video_id": "v9"},), kwargs={}, options={})
    client.send_message(QueueUrl=queue_url, MessageBody=b64encode(stranger.encode()).decode())

    consumer = pipeline.broker.consume(settings.queue_name, prefetch=1, timeout=1000)
    try:
        for _ in range(5):
            assert next(consumer) is None, "nothing here is ours to run"
    finally:
        consumer.close()

    letters = DeadLetterQueue(pipeline.broker).letters()
    foreign = sorted((letter for letter in letters if letter.foreign), key=lambda x: x.size_bytes)
    assert [(x.error, x.receive_count > 0) for x in foreign] == [
        ("not a Dramatiq message", True)] * 2
    assert foreign[1].preview.startswith('{"hello"') and foreign[1].size_bytes == 32
    [unknown] = [letter for letter in letters if not letter.foreign]
    assert (unknown.video_id, unknown.step, unknown.error) == ("v9", "denoise",
                                                               "unknown actor anb_step_denoise")

    database_url = f"sqlite:///{tmp_path / 'status.db'}"
    upgrade(database_url)
    for name, value in settings_env(settings, ANB_DATABASE_URL=database_url).items():
        monkeypatch.setenv(name, value)
    assert anb_main(["dlq", "list"]) == 0
    listing = capsys.readouterr().out
    assert listing.count("foreign message") == 2 and "step=denoise" in listing
    assert anb_main(["status"]) == 0
    assert "denoise" in capsys.readouterr().out
    assert anb_main(["dlq", "redrive"]) == 0
    redrive = capsys.readouterr().out
    assert "0 message(s) redriven, 3 skipped" in redrive
    assert "unknown actor anb_step_denoise" in redrive
    assert anb_main(["dlq", "purge", "--yes"]) == 0
    assert "3 message(s) purged" in capsys.readouterr().out
    assert DeadLetterQueue(pipeline.broker).letters() == []


def test_a_fused_failure_names_a_configured_step(aws_endpoint, namespace, tmp_path) -> None:
    settings = sqs_settings(endpoint=aws_endpoint, namespace=namespace, ffmpeg_timeout_s=1,
                            max_attempts=1)
    log = EventLog()
    pipeline = build_pipeline(settings, log)
    # 1 s of ffmpeg is not enough for 20 s of 640x360: the fused pass times out.
    start_video(pipeline, make_video(tmp_path / "in.mp4", width=640, height=360, seconds=20),
                "v1")
    final = run_until_final(pipeline, log, ["v1"])["v1"]
    assert final.kind == "pipeline_dead_lettered"
    assert final.step == "trim", "a failure of the shared pass belongs to the first step"
    assert {event.step for event in log.of("v1")} <= set(settings.steps)
    [letter] = DeadLetterQueue(pipeline.broker).letters()
    assert (letter.step, letter.video_id) == ("trim", "v1")
    assert "MediaTimeout: ffmpeg ran longer than 1 s" in letter.error


def test_the_broker_joins_on_sqs_and_builds_no_boto3_resource(aws_endpoint, namespace) -> None:
    settings = sqs_settings(endpoint=aws_endpoint, namespace=namespace, steps=("checksum",),
                            visibility_timeout_s=3, sqs_wait_time_s=1)
    pipeline = build_pipeline(settings, EventLog())
    assert not hasattr(pipeline.broker, "sqs")
    pipeline.actors["checksum"].send({"video_id": "v1", "input_key": "k"})
    with pytest.raises(dramatiq.QueueJoinTimeout):
        pipeline.broker.join(settings.queue_name, timeout=1500)
    consumer = pipeline.broker.consume(settings.queue_name, prefetch=1, timeout=1000)
    try:
        message = receive(consumer)
        joined = threading.Thread(target=pipeline.broker.join, args=(settings.queue_name,))
        joined.start()
        time.sleep(1.5)
        assert joined.is_alive(), "an in-flight message still counts"
        consumer.ack(message)
        joined.join(timeout=10)
        assert not joined.is_alive()
    finally:
        consumer.close()


def test_the_worker_drains_for_the_configured_window() -> None:
    settings = sqs_settings(endpoint="http://127.0.0.1:1", namespace="x", worker_drain_s=1234)
    command = worker_command(settings, processes=1, threads=2)
    timeout = command[command.index("--worker-shutdown-timeout") + 1]
    assert timeout == "1234000"


@pytest.fixture
def tracked(aws_endpoint, namespace, tmp_path, monkeypatch):
    """A pipeline on SQS whose events go to the web tier's database sink on PostgreSQL."""
    monkeypatch.setenv("ANB_TEST_STARTED_MARKER", str(tmp_path / "started.txt"))

    def make(steps: tuple[str, ...], video_ids: list[str]):
        settings = sqs_settings(endpoint=aws_endpoint, namespace=namespace, steps=steps,
                                visibility_timeout_s=3, sqs_wait_time_s=1)
        log = EventLog()
        database = Database(make_engine(url))
        database_sink = DatabaseSink(database, storage=open_storage(settings), steps=steps)
        pipeline = MediaPipeline(settings, sink=FanoutSink(CallbackSink(log), database_sink))
        pipeline.storage.ensure_bucket()
        pipeline.broker.ensure_queues()
        sources = {}
        for video_id in video_ids:
            sources[video_id] = f"originals/{video_id}.mp4"
            pipeline.storage.put_file(sources[video_id],
                                      make_video(tmp_path / f"{video_id}.mp4", seconds=1))
        insert_owner_and_videos(url, video_ids, source_keys=sources)
        cleanup.append(database.dispose)
        return settings, pipeline, log

    cleanup: list = []
    with postgres_database() as (url, _name):
        yield make, url
        for dispose in cleanup:
            dispose()


def wait_for_step(log: EventLog, video_id: str, step: str) -> None:
    """Until ``step`` of ``video_id`` has started (at most 60 s)."""
    wait_for(lambda: [e for e in log.of(video_id, "step_started") if e.step == step],
             timeout_s=60, what=f"{video_id}'s {step} step to start")


def delete_video(url: str, pipeline: MediaPipeline, video_id: str) -> None:
    """What DELETE /api/videos/{id} does: the row and the stored objects go."""
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text("DELETE FROM videos WHERE id = :id"), {"id": video_id})
    engine.dispose()
    pipeline.storage.delete_prefix(f"originals/{video_id}.")
    pipeline.storage.delete_prefix(f"work/{video_id}/")


def test_a_video_deleted_during_processing_ends_its_pipeline_quietly(
    tracked, tmp_path, monkeypatch, caplog
) -> None:
    monkeypatch.setenv("ANB_TEST_SLOW_S", "3")
    caplog.set_level(logging.INFO, logger="anb_pipeline")
    make, url = tracked
    settings, pipeline, log = make(("trim", "slow", "checksum"), ["v1", "v2"])
    pipeline.enqueue(video_id="v1", source_key="originals/v1.mp4")
    worker = dramatiq.Worker(pipeline.broker, worker_threads=1, worker_timeout=200)
    worker.start()
    try:
        # Deleted between steps: the next step never starts.
        wait_for(lambda: log.of("v1", "step_finished"), timeout_s=60, what="trim to finish")
        delete_video(url, pipeline, "v1")
        # Deleted while its step runs: the step fails on its vanished input, once.
        pipeline.enqueue(video_id="v2", source_key="originals/v2.mp4")
        wait_for_step(log, "v2", "slow")
        delete_video(url, pipeline, "v2")
        pipeline.broker.join(settings.queue_name, timeout=60_000)
    finally:
        worker.stop()

    assert [e.kind for e in log.events if e.kind in ("pipeline_done", "pipeline_dead_lettered")] == []
    assert [e.step for e in log.of("v2", "step_started")] == ["trim", "slow"], "no retry"
    assert [e.step for e in log.of("v1", "step_started")][-1] != "checksum"
    assert DeadLetterQueue(pipeline.broker).letters() == []
    assert pipeline.storage.list("") == [], "no orphan objects"
    assert "video v1 was deleted by its owner" in caplog.text
    assert "video v2 was deleted by its owner" in caplog.text


def test_duplicates_of_finished_work_are_acknowledged_quietly(tracked, tmp_path) -> None:
    make, url = tracked
    settings, pipeline, log = make(("trim", "checksum"), ["v1"])
    pipeline.enqueue(video_id="v1", source_key="originals/v1.mp4")
    assert run_until_final(pipeline, log, ["v1"])["v1"].kind == "pipeline_done"
    # A duplicate of the last step (a retried send whose first try did arrive), delivered
    # and lost twice already: PoisonGuard alone would dead-letter it at this receive.
    duplicate = pipeline.actors["checksum"].message(
        {"video_id": "v1", "source_key": "originals/v1.mp4", "input_key": "work/v1/trim.mkv",
         "meta": {}})
    pipeline.broker.enqueue(duplicate)
    client = sqs_client(settings)
    queue_url = pipeline.broker.queue_url(settings.queue_name)
    for _ in range(settings.max_receives - 1):
        wait_for(lambda: client.receive_message(QueueUrl=queue_url, VisibilityTimeout=0,
                                                WaitTimeSeconds=1).get("Messages"),
                 timeout_s=10, what="the duplicate")
    log.events.clear()
    worker = dramatiq.Worker(pipeline.broker, worker_threads=1, worker_timeout=200)
    worker.start()
    try:
        pipeline.broker.join(settings.queue_name, timeout=30_000)
    finally:
        worker.stop()
    assert log.events == [], "the duplicate ran nothing and reported nothing"
    assert DeadLetterQueue(pipeline.broker).letters() == []
    assert statuses(url) == {"v1": "processed"}


def test_a_redelivery_after_the_hand_off_is_acknowledged_not_dead_lettered(
    tracked, tmp_path, monkeypatch, caplog
) -> None:
    """An ack that keeps failing after its step handed off: SQS delivers the step's
    message again and again. The video has moved on, so the delivery is a duplicate, not
    a message that keeps losing its worker: it is acked without running, even at
    PoisonGuard's receive limit, and the pipeline ends once."""
    monkeypatch.setenv("ANB_TEST_SLOW_S", "1")
    caplog.set_level(logging.INFO, logger="anb_pipeline")
    make, url = tracked
    settings, pipeline, log = make(("trim", "slow", "checksum"), ["v1"])
    pipeline.enqueue(video_id="v1", source_key="originals/v1.mp4")
    worker = dramatiq.Worker(pipeline.broker, worker_threads=1, worker_timeout=200)
    worker.start()
    try:
        wait_for_step(log, "v1", "slow")
    finally:
        worker.stop()  # slow finishes and hands off to checksum, which waits in the queue
    client = sqs_client(settings)
    queue_url = pipeline.broker.queue_url(settings.queue_name)
    held = wait_for(lambda: client.receive_message(QueueUrl=queue_url, VisibilityTimeout=120,
                                                   WaitTimeSeconds=1).get("Messages"),
                    timeout_s=10, what="checksum's message")
    # trim's message again, as SQS redelivers it after an ack that failed, received up to
    # one short of the limit: PoisonGuard alone would dead-letter it at the next receive.
    pipeline.broker.enqueue(pipeline.actors["trim"].message(
        {"video_id": "v1", "source_key": "originals/v1.mp4", "meta": {}}))
    for _ in range(settings.max_receives - 1):
        wait_for(lambda: client.receive_message(QueueUrl=queue_url, VisibilityTimeout=0,
                                                WaitTimeSeconds=1).get("Messages"),
                 timeout_s=10, what="trim's redelivery")
    # checksum's message back as a fresh copy: holding it aside must not count against it.
    client.send_message(QueueUrl=queue_url, MessageBody=held[0]["Body"])
    client.delete_message(QueueUrl=queue_url, ReceiptHandle=held[0]["ReceiptHandle"])
    log.events.clear()
    assert run_until_final(pipeline, log, ["v1"])["v1"].kind == "pipeline_done"
    pipeline.broker.join(settings.queue_name, timeout=30_000)

    assert [e.step for e in log.of("v1", "step_started")] == ["checksum"], "trim never reran"
    assert [e.kind for e in log.events].count("pipeline_done") == 1
    assert DeadLetterQueue(pipeline.broker).letters() == []
    assert statuses(url) == {"v1": "processed"}
    assert "this message is a duplicate of work already handed off" in caplog.text


def test_a_step_that_ends_after_another_delivery_finished_the_pipeline_leaves_nothing(
    tracked, monkeypatch, caplog
) -> None:
    """A duplicate delivery runs a step while another delivery's chain finishes the video:
    what the duplicate wrote is removed and it does not hand off a second chain."""
    monkeypatch.setenv("ANB_TEST_SLOW_S", "3")
    caplog.set_level(logging.INFO, logger="anb_pipeline")
    make, url = tracked
    settings, pipeline, log = make(("trim", "slow", "checksum"), ["v1"])
    pipeline.enqueue(video_id="v1", source_key="originals/v1.mp4")
    worker = dramatiq.Worker(pipeline.broker, worker_threads=1, worker_timeout=200)
    worker.start()
    try:
        wait_for_step(log, "v1", "slow")
        engine = sa.create_engine(url)
        with engine.begin() as connection:  # what the other chain's pipeline_done does
            connection.execute(sa.text("UPDATE videos SET status = 'processed' WHERE id = 'v1'"))
        engine.dispose()
        pipeline.broker.join(settings.queue_name, timeout=60_000)
    finally:
        worker.stop()

    assert [e.step for e in log.of("v1", "step_started")] == ["trim", "slow"], "no hand-off"
    assert [e.kind for e in log.events if e.kind.startswith("pipeline_")] == []
    assert pipeline.storage.list("work/") == [], "the duplicate's output is removed"
    assert DeadLetterQueue(pipeline.broker).letters() == []
    assert "its output is removed and the pipeline not continued" in caplog.text


@pytest.mark.slow
def test_a_worker_whose_clock_runs_300_s_ahead_does_not_hide_the_failure(
    aws_endpoint, namespace, tmp_path
) -> None:
    faketime = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
    if not faketime.exists():
        pytest.fail("libfaketime is missing: .ci/run installs Debian's faketime package")
    flag = tmp_path / "fail.flag"
    flag.touch()
    settings = sqs_settings(endpoint=aws_endpoint, namespace=namespace,
                            steps=("trim", "flaky", "checksum"), visibility_timeout_s=3,
                            sqs_wait_time_s=1, min_backoff_ms=2000, max_backoff_ms=2000)
    pipeline = build_pipeline(settings, EventLog())
    with postgres_database() as (url, _name):
        start_video(pipeline, make_video(tmp_path / "in.mp4", seconds=1), "v1")
        insert_owner_and_videos(url, ["v1"], source_keys={"v1": "originals/v1.mp4"})
        env = settings_env(settings, ANB_EVENT_SINK="anb_web.sink:make_sink",
                           ANB_DATABASE_URL=url, ANB_TEST_FAIL_FLAG=str(flag))
        calls = flag.with_suffix(".calls")
        # libfaketime shifts every clock of that process, as a host whose NTP failed.
        ahead = WorkerProcess({**env, "LD_PRELOAD": str(faketime), "FAKETIME": "+300s"},
                              tmp_path / "ahead.log")
        try:
            wait_for(calls.exists, timeout_s=60, what="the first attempt, on the fast clock")
            assert ahead.terminate() == 0  # it finishes the attempt: its retry is queued
        finally:
            ahead.close()
        on_time = WorkerProcess(env, tmp_path / "on-time.log")
        try:
            wait_for(lambda: statuses(url)["v1"] == "failed", timeout_s=90,
                     what="the video to show its failure")
        finally:
            on_time.terminate()
            on_time.close()
    assert calls.read_text() == "3"


def test_status_shows_when_each_worker_last_received(tracked, monkeypatch, capsys) -> None:
    make, url = tracked
    settings, pipeline, log = make(("checksum",), ["v1"])
    worker = dramatiq.Worker(pipeline.broker, worker_threads=1, worker_timeout=200)
    worker.start()
    try:
        engine = sa.create_engine(url)

        def worker_rows() -> list[sa.Row]:
            # Each poll gives its connection back (a leaked one per poll emptied the pool
            # on Python 3.13).
            with engine.connect() as connection:
                return list(connection.execute(sa.text(
                    "SELECT worker_id, last_receive_at FROM workers")).all())

        beats = wait_for(worker_rows, timeout_s=30, what="a worker beat")
        engine.dispose()
    finally:
        worker.stop()
    [(worker_id, last_receive_at)] = beats
    assert worker_id == f"{socket.gethostname()}:{os.getpid()}"
    assert last_receive_at is not None
    for name, value in settings_env(settings, ANB_DATABASE_URL=url).items():
        monkeypatch.setenv(name, value)
    assert anb_main(["status"]) == 0
    out = capsys.readouterr().out
    assert re.search(rf"{re.escape(worker_id)} +alive, last received \d+ s ago, (\d+)/\1 slots free",
                     out), out


def test_a_message_whose_receives_were_lost_in_transit_runs_instead_of_being_dead_lettered(
    tracked, caplog
) -> None:
    """SQS counts a receive whose response a reset dropped (or an outage cut) although no
    worker saw the message. Received and lost up to one short of the limit, the message
    still runs: no delivery ever started it, so no worker was lost."""
    caplog.set_level(logging.INFO, logger="anb_pipeline")
    make, url = tracked
    settings, pipeline, log = make(("trim", "checksum"), ["v1"])
    pipeline.enqueue(video_id="v1", source_key="originals/v1.mp4")
    client = sqs_client(settings)
    queue_url = pipeline.broker.queue_url(settings.queue_name)
    for _ in range(settings.max_receives - 1):  # what SQS saw of the lost responses
        wait_for(lambda: client.receive_message(QueueUrl=queue_url, VisibilityTimeout=0,
                                                WaitTimeSeconds=1).get("Messages"),
                 timeout_s=10, what="trim's message")

    assert run_until_final(pipeline, log, ["v1"])["v1"].kind == "pipeline_done"
    pipeline.broker.join(settings.queue_name, timeout=30_000)
    assert [e.step for e in log.of("v1", "step_started")] == ["trim", "checksum"]
    assert DeadLetterQueue(pipeline.broker).letters() == []
    assert statuses(url) == {"v1": "processed"}
    assert "the earlier receives were lost on the way to a worker" in caplog.text


@pytest.mark.slow
def test_a_message_that_kills_every_worker_is_dead_lettered_with_the_database_sink(
    aws_endpoint, namespace, tmp_path
) -> None:
    """The same poison message as in test_failures, with the web tier's sink, which can
    tell that each delivery started: two workers die, the third dead-letters it."""
    settings = sqs_settings(endpoint=aws_endpoint, namespace=namespace,
                            steps=("trim", "crash", "upload"), visibility_timeout_s=3,
                            sqs_wait_time_s=1)
    pipeline = build_pipeline(settings, EventLog())
    key = "originals/v1.mp4"
    pipeline.storage.put_file(key, make_video(tmp_path / "in.mp4", seconds=1))
    started = tmp_path / "started.txt"
    with postgres_database() as (url, _name):
        insert_owner_and_videos(url, ["v1"], source_keys={"v1": key})
        env = settings_env(settings, ANB_EVENT_SINK="anb_web.sink:make_sink",
                           ANB_DATABASE_URL=url, ANB_TEST_STARTED_MARKER=str(started))
        pipeline.enqueue(video_id="v1", source_key=key)
        for attempt in range(4):
            worker = WorkerProcess(env, tmp_path / f"worker{attempt}.log")
            try:
                wait_for(lambda w=worker: w.process.poll() is not None
                         or statuses(url)["v1"] == "failed",
                         timeout_s=60, what="the worker to crash or the video to fail")
            finally:
                if worker.process.poll() is None:
                    worker.terminate()
                worker.close()
            if statuses(url)["v1"] == "failed":
                break
        with sa.create_engine(url).connect() as connection:
            error_step, error = connection.execute(sa.text(
                "SELECT error_step, error_message FROM videos WHERE id = 'v1'")).one()

    assert error_step == "crash"
    assert "delivered 3 times without completing" in error
    assert len(started.read_text().splitlines()) == 2, "two workers died; the third refused it"
    [letter] = DeadLetterQueue(pipeline.broker).letters()
    assert (letter.video_id, letter.step) == ("v1", "crash")
