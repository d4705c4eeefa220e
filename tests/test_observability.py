"""Observability: worker and web metrics, JSON logs that follow a video, ``anb status``."""

from __future__ import annotations

import io
import json
import logging
import re
import uuid
from base64 import b64encode
from pathlib import Path

import dramatiq
import httpx
import pytest
from starlette.testclient import TestClient

from anb_pipeline import MediaPipeline, Settings
from anb_pipeline.cli import main as anb_main
from anb_pipeline.emulator import free_port
from anb_pipeline.events import FanoutSink, LoggingSink
from anb_pipeline.logs import ContextFilter, JsonFormatter
from anb_web.app import create_app
from anb_web.db import Database, make_engine, upgrade
from anb_web.models import User, Video
from anb_web.settings import WebSettings
from anb_web.sink import DatabaseSink
from conftest import make_video
from helpers import EventLog, WorkerProcess, build_pipeline, settings_env, sqs_settings, start_video, wait_for
from test_failures import final_event

pytestmark = pytest.mark.media
SECRET = "observability-test-secret-" + "x" * 32


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format; 0 if it is absent."""
    wanted = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    for line in text.splitlines():
        match = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
        if not match or match.group(1) != name:
            continue
        found = ",".join(sorted((match.group(2) or "").split(","))) if match.group(2) else ""
        if found == wanted:
            return float(match.group(3))
    return 0.0


def test_worker_metrics_count_steps_attempts_failures_and_dead_letters(
    aws_endpoint, namespace, tmp_path
) -> None:
    flag = tmp_path / "fail.flag"
    flag.touch()
    port = free_port()
    settings = sqs_settings(endpoint=aws_endpoint, namespace=namespace,
                            steps=("trim", "flaky", "checksum"), visibility_timeout_s=5,
                            sqs_wait_time_s=1)
    pipeline = build_pipeline(settings, EventLog())
    events_file = tmp_path / "events.jsonl"
    env = settings_env(settings, ANB_METRICS_PORT=str(port), ANB_LOG_FORMAT="json",
                       ANB_TEST_FAIL_FLAG=str(flag), ANB_TEST_EVENTS_FILE=str(events_file),
                       ANB_EVENT_SINK="anb_test_plugins.sink:make_sink")
    worker = WorkerProcess(env, tmp_path / "worker.log")
    try:
        start_video(pipeline, make_video(tmp_path / "a.mp4"), "bad")
        wait_for(lambda: final_event(events_file, "bad"), timeout_s=60, what="a dead letter")
        flag.unlink()
        start_video(pipeline, make_video(tmp_path / "b.mp4"), "good")
        wait_for(lambda: final_event(events_file, "good"), timeout_s=60, what="a success")
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    finally:
        worker.terminate()
        worker.close()

    assert metric(text, "anb_step_attempts_total", step="flaky") == 4
    assert metric(text, "anb_step_failures_total", step="flaky") == 3
    assert metric(text, "anb_step_dead_letters_total", step="flaky") == 1
    assert metric(text, "anb_step_duration_seconds_count", step="trim") == 2
    assert metric(text, "anb_step_duration_seconds_count", step="flaky") == 1
    assert metric(text, "anb_step_duration_seconds_count", step="checksum") == 1
    assert metric(text, "anb_pipelines_done_total") == 1
    assert metric(text, "dramatiq_messages_total", actor_name="anb_step_trim",
                  queue_name=settings.queue_name) == 2

    # The worker's JSON log lines carry the message's fields.
    lines = [json.loads(line) for line in (tmp_path / "worker.log").read_text().splitlines()
             if line.startswith("{")]
    failures = [line for line in lines if line.get("video_id") == "bad"
                and line.get("step") == "flaky" and line["level"] == "ERROR"]
    assert [line["attempt"] for line in failures] == [1, 2, 3]
    assert all(line["message_id"] for line in failures)


def _web_app(tmp_path: Path, pipeline: MediaPipeline, **web: object):
    database_url = f"sqlite:///{tmp_path / 'web.db'}"
    upgrade(database_url)
    settings = WebSettings.from_env({}, pipeline=pipeline.settings, jwt_secret=SECRET,
                                    database_url=database_url, **web)
    return create_app(settings, pipeline=pipeline), database_url


def test_web_metrics_label_routes_by_template_and_count_upload_bytes(tmp_path) -> None:
    pipeline = build_pipeline(Settings(broker_url="stub://",
                                       storage_url=f"file://{tmp_path / 'store'}"), EventLog())
    app, _ = _web_app(tmp_path, pipeline, metrics_token="scrape-me")
    source = make_video(tmp_path / "in.mp4")
    with TestClient(app) as client:
        token = client.post("/api/auth/signup", json={
            "username": "metrics", "email": "m@example.org", "password": "long-enough-1",
        }).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        with open(source, "rb") as stream:
            assert client.post("/api/videos", headers=auth, data={"title": "t"},
                               files={"file": ("in.mp4", stream, "video/mp4")}).status_code == 201
        for _ in range(3):
            assert client.get(f"/api/videos/{uuid.uuid4()}", headers=auth).status_code == 404
        assert client.get("/metrics").status_code == 401
        text = client.get("/metrics", headers={"Authorization": "Bearer scrape-me"}).text

    assert metric(text, "anb_http_responses_total", method="GET",
                  route="/api/videos/{video_id}", status="404") == 3
    assert metric(text, "anb_http_request_duration_seconds_count", method="GET",
                  route="/api/videos/{video_id}") == 3
    assert metric(text, "anb_http_responses_total", method="POST",
                  route="/api/auth/signup", status="201") == 1
    assert metric(text, "anb_upload_bytes_total") == source.stat().st_size


def test_metrics_endpoint_does_not_exist_without_a_token(tmp_path) -> None:
    pipeline = build_pipeline(Settings(broker_url="stub://",
                                       storage_url=f"file://{tmp_path / 'store'}"), EventLog())
    app, _ = _web_app(tmp_path, pipeline)
    with TestClient(app) as client:
        assert client.get("/metrics").status_code == 404


def test_json_logs_follow_one_video_from_upload_to_publish(tmp_path) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    previous_level = root.level
    root.setLevel(logging.INFO)  # setLevel, not .level: it clears the loggers' caches
    try:
        settings = Settings(broker_url="stub://", storage_url=f"file://{tmp_path / 'store'}",
                            log_format="json")
        database_url = f"sqlite:///{tmp_path / 'web.db'}"
        upgrade(database_url)
        sink = FanoutSink(LoggingSink(settings),
                          DatabaseSink(Database(make_engine(database_url)), steps=settings.steps))
        pipeline = MediaPipeline(settings, sink=sink)
        app, _ = _web_app(tmp_path, pipeline)
        with TestClient(app) as client:
            token = client.post("/api/auth/signup", json={
                "username": "logs", "email": "l@example.org", "password": "long-enough-1",
            }).json()["access_token"]
            with open(make_video(tmp_path / "in.mp4"), "rb") as video_file:
                video_id = client.post(
                    "/api/videos", headers={"Authorization": f"Bearer {token}"},
                    data={"title": "t"}, files={"file": ("in.mp4", video_file, "video/mp4")},
                ).json()["id"]
            worker = dramatiq.Worker(pipeline.broker, worker_threads=1, worker_timeout=100)
            worker.start()
            pipeline.broker.join(settings.queue_name)
            worker.join()
            worker.stop()
    finally:
        root.removeHandler(handler)
        root.setLevel(previous_level)

    trail = [json.loads(line) for line in stream.getvalue().splitlines()]
    mine = [line for line in trail if line.get("video_id") == video_id]
    messages = [line["message"] for line in mine]
    uploaded = next(i for i, m in enumerate(messages) if " uploaded " in m)
    first_step = next(i for i, m in enumerate(messages) if m.startswith("step_started"))
    assert uploaded < first_step, "the trail starts at the upload"
    for step in settings.steps:
        assert any(m.startswith(f"step_finished video={video_id} step={step} ") for m in messages)
    assert any(m.startswith(f"pipeline_done video={video_id}") for m in messages), "publish"
    assert all(line.get("message_id") for line in mine if line.get("step"))


def test_status_reports_waiting_in_flight_and_dead_lettered_counts(
    aws_endpoint, namespace, tmp_path, monkeypatch, capsys
) -> None:
    settings = sqs_settings(endpoint=aws_endpoint, namespace=namespace)
    pipeline = build_pipeline(settings, EventLog())
    database_url = f"sqlite:///{tmp_path / 'status.db'}"
    upgrade(database_url)
    database = Database(make_engine(database_url))
    database.call(_seed_videos)
    for video_id in ("w1", "w2", "w3"):
        pipeline.enqueue(video_id=video_id, source_key=f"originals/{video_id}.mp4")
    queue_url = pipeline.broker.queue_url(settings.queue_name)
    taken = pipeline.broker.client.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1,
                                                   VisibilityTimeout=300)["Messages"]
    dead = pipeline.actors["upload"].message({"video_id": "d1", "source_key": "k", "input_key": "k"})
    dead.options.update(retries=3, traceback="Traceback...\nRuntimeError: disk on fire")
    pipeline.broker.client.send_message(QueueUrl=pipeline.broker.queue_url(settings.dlq_name),
                                        MessageBody=b64encode(dead.encode()).decode())
    for name, value in settings_env(settings, ANB_DATABASE_URL=database_url).items():
        monkeypatch.setenv(name, value)

    assert anb_main(["status", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)

    queue, dlq = report["queues"]
    assert (queue["visible"], queue["in_flight"]) == (2, len(taken))
    assert dlq["visible"] == 1
    assert report["dead_letters"] == [{
        "message_id": dead.message_id, "video_id": "d1", "step": "upload",
        "error": "RuntimeError: disk on fire", "attempts": 3,
        "dead_lettered_at_ms": report["dead_letters"][0]["dead_lettered_at_ms"],
        "receive_count": 1, "size_bytes": len(b64encode(dead.encode())), "foreign": False,
        "preview": ""}]
    assert report["videos"] == {"pending": 2, "processed": 1}
    assert anb_main(["status"]) == 0
    assert "RuntimeError: disk on fire" in capsys.readouterr().out


def _seed_videos(session) -> None:
    session.add(User(id="u1", username="op", username_key="op", email="op@example.org",
                     email_key="op@example.org", password_hash="x"))
    session.flush()
    for video_id, status in (("w1", "pending"), ("w2", "pending"), ("p1", "processed")):
        session.add(Video(id=video_id, user_id="u1", title=video_id, status=status,
                          source_key=f"originals/{video_id}.mp4"))
    session.flush()
