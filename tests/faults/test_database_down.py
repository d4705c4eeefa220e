"""The database going away: /health says so with 503, requests get 503 not 500, and a
worker whose event sink cannot write retries the step instead of losing the message.

The database is taken away by renaming it under the running PostgreSQL server (the
machine's server is never stopped), which ends every session and refuses new ones.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from anb_pipeline import MediaPipeline, PipelineEvent, Settings
from anb_pipeline.emulator import free_port
from anb_web.app import create_app
from anb_web.db import Database, make_engine
from anb_web.settings import WebSettings
from anb_web.sink import DatabaseSink
from helpers import EventLog, run_until_final
from web.conftest import JWT_SECRET

from .support import insert_owner_and_videos, postgres_database, rename_database, statuses

pytestmark = pytest.mark.media

#: Requests that read or write the database; each must answer 503 while it is gone.
DATABASE_ROUTES = (
    ("GET", "/api/public/videos"), ("GET", "/api/public/rankings"),
    ("POST", "/api/auth/login"), ("POST", "/api/auth/signup"),
)


def stub_settings(tmp_path: Path, namespace: str, **overrides: object) -> Settings:
    values: dict[str, object] = {"broker_url": "stub://", "queue_namespace": namespace,
                                 "storage_url": f"file://{tmp_path / 'storage'}",
                                 "work_dir": tmp_path / "work"}
    return Settings(**{**values, **overrides})


def call_routes(client: TestClient) -> list[int]:
    body = {"username": "someone", "email": "someone@example.org", "password": "long enough pw"}
    return [client.request(method, path, json=body if method == "POST" else None).status_code
            for method, path in DATABASE_ROUTES]


def test_health_and_requests_say_503_when_the_database_is_unreachable(
    tmp_path: Path, namespace: str
) -> None:
    closed_port = free_port()
    web = WebSettings(pipeline=stub_settings(tmp_path, namespace), jwt_secret=JWT_SECRET,
                      database_url=f"postgresql+psycopg2://postgres@127.0.0.1:{closed_port}/anb",
                      health_timeout_s=3)
    with TestClient(create_app(web), raise_server_exceptions=False) as client:
        health = client.get("/health")
        codes = call_routes(client)

    print(f"\ndatabase on a closed port: /health {health.status_code}, "
          f"{len(codes)} requests, 5xx other than 503: {sum(c >= 500 and c != 503 for c in codes)}")
    assert health.status_code == 503
    assert health.json() == {"status": "unhealthy", "database": "unavailable",
                             "storage": "available", "queue": "available"}
    assert codes == [503] * len(DATABASE_ROUTES)


def test_a_dropped_out_database_is_reported_then_recovered(tmp_path: Path, namespace: str) -> None:
    with postgres_database() as (url, name):
        web = WebSettings(pipeline=stub_settings(tmp_path, namespace), jwt_secret=JWT_SECRET,
                          database_url=url)
        with TestClient(create_app(web), raise_server_exceptions=False) as client:
            before = client.get("/health").status_code
            rename_database(name, name + "_away")
            during, codes = client.get("/health"), call_routes(client)
            rename_database(name + "_away", name)
            after = client.get("/health").status_code

    print(f"\ndatabase renamed away: /health {before} -> {during.status_code} -> {after}; "
          f"requests during: {len(codes)}, 503: {codes.count(503)}")
    assert (before, during.status_code, after) == (200, 503, 200)
    assert during.json()["database"] == "unavailable"
    assert codes == [503] * len(DATABASE_ROUTES)


class RestoringSink:
    """The DatabaseSink, counting the events it failed to write; brings the database back
    after ``restore_after`` failures, as an operator would."""

    def __init__(self, sink: DatabaseSink, log: EventLog, *, name: str, restore_after: int) -> None:
        self.sink, self.log, self.name = sink, log, name
        self.restore_after = restore_after
        self.failures: list[str] = []
        self.lock = threading.Lock()

    def emit(self, event: PipelineEvent) -> None:
        try:
            self.sink.emit(event)
        except Exception as exc:
            with self.lock:
                self.failures.append(f"{event.kind}:{event.step}:{type(exc).__name__}")
                if len(self.failures) == self.restore_after:
                    rename_database(self.name + "_away", self.name)
            raise
        self.log(event)


def test_a_worker_retries_while_its_sink_cannot_reach_the_database(
    tmp_path: Path, namespace: str, small_video: Path
) -> None:
    settings = stub_settings(tmp_path, namespace, min_backoff_ms=300, max_backoff_ms=600,
                             bumper_s=0.5, video_preset="ultrafast", ffmpeg_timeout_s=60)
    with postgres_database() as (url, name):
        insert_owner_and_videos(url, ["v1"], source_keys={"v1": "originals/v1.mp4"})
        log = EventLog()
        sink = RestoringSink(DatabaseSink(Database(make_engine(url, pool_size=2))), log,
                             name=name, restore_after=2)
        pipeline = MediaPipeline(settings, sink=sink)
        pipeline.storage.put_file("originals/v1.mp4", small_video)
        rename_database(name, name + "_away")
        pipeline.enqueue(video_id="v1", source_key="originals/v1.mp4")

        final = run_until_final(pipeline, log, ["v1"], timeout_s=90)["v1"]
        status = statuses(url)["v1"]
        sink.sink.database.dispose()

    started = log.of("v1", "step_started")
    print(f"\nsink down at the first step start: failed writes {len(sink.failures)} "
          f"({', '.join(sink.failures)}); first recorded start attempt {started[0].attempt}; "
          f"outcome {final.kind}, database status {status}; lost: {int(status != 'processed')}")
    assert sink.failures[0].startswith("step_started:trim:OperationalError")
    assert started[0].attempt == 2, "the message was retried, not dropped"
    assert final.kind == "pipeline_done"
    assert status == "processed"
