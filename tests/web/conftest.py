"""Fixtures of the web tests: the app on SQLite and on a fresh PostgreSQL database.

The ``database_url`` fixture is parametrized, so every test that uses it runs on both.
PostgreSQL tests skip when the server is absent, and fail under ANB_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import io
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from starlette.applications import Starlette
from starlette.testclient import TestClient

from anb_pipeline import MediaPipeline, PipelineEvent, Settings
from anb_pipeline.emulator import free_port
from anb_web.app import create_app
from anb_web.db import Database, make_engine
from anb_web.models import Base
from anb_web.settings import WebSettings
from anb_web.sink import DatabaseSink
from conftest import POSTGRES_URL, make_video, require_service

JWT_SECRET = "test-secret-of-the-web-suite"
PASSWORD = "correct horse battery"
TABLES = ("votes", "video_steps", "idempotency_keys", "tus_uploads", "videos", "users",
          "revoked_tokens", "login_failures", "workers")


def _server_url(url: str, database: str) -> str:
    return str(sa.engine.make_url(url).set(database=database))


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A database of this test session's own, created and schema'd once, dropped at the end."""
    parsed = urlparse(POSTGRES_URL.replace("postgresql+psycopg2", "postgresql"))
    require_service("PostgreSQL", parsed.hostname or "127.0.0.1", parsed.port or 5432)
    name = f"anb_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = _server_url(POSTGRES_URL, name)
    engine = sa.create_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    yield url
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'anb.db'}"
        engine = make_engine(url)
        Base.metadata.create_all(engine)
        engine.dispose()
        return url
    url: str = request.getfixturevalue("postgres_database")
    engine = sa.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sa.text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture
def pipeline_settings(tmp_path: Path, namespace: str) -> Settings:
    return Settings(broker_url="stub://", storage_url=f"file://{tmp_path / 'storage'}",
                    queue_namespace=namespace, work_dir=tmp_path / "work",
                    min_backoff_ms=50, max_backoff_ms=200)


@pytest.fixture
def pipeline(pipeline_settings: Settings) -> MediaPipeline:
    return MediaPipeline(pipeline_settings)


@pytest.fixture
def web_settings(database_url: str, pipeline_settings: Settings) -> WebSettings:
    return WebSettings(pipeline=pipeline_settings, jwt_secret=JWT_SECRET,
                       database_url=database_url, max_upload_bytes=4 * 1024 * 1024)


@pytest.fixture
def app(web_settings: WebSettings, pipeline: MediaPipeline) -> Starlette:
    return create_app(web_settings, pipeline=pipeline)


@pytest.fixture
def client(app: Starlette) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def database(app: Starlette) -> Database:
    return app.state.services.database  # type: ignore[no-any-return]


@pytest.fixture
def sink(database: Database, pipeline: MediaPipeline) -> DatabaseSink:
    return DatabaseSink(database, storage=pipeline.storage, steps=pipeline.settings.steps)


def signup(client: TestClient, username: str, **fields: Any) -> str:
    body = {"username": username, "email": f"{username}@example.org", "password": PASSWORD,
            **fields}
    response = client.post("/api/auth/signup", json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["access_token"])


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def upload(client: TestClient, token: str, video: Path, *, title: str = "My skills",
           **fields: str) -> httpx.Response:
    with open(video, "rb") as stream:
        return client.post("/api/videos", headers=bearer(token),
                           data={"title": title, **fields},
                           files={"file": ("clip.mp4", stream, "video/mp4")})


def publish(sink: DatabaseSink, pipeline: MediaPipeline, video_id: str, *,
            at: float | None = None) -> None:
    """What a finished pipeline leaves: the output objects, then a pipeline_done event."""
    output_key, poster_key = f"processed/{video_id}.mp4", f"processed/{video_id}.jpg"
    pipeline.storage.put_stream(output_key, io.BytesIO(b"processed clip"))
    pipeline.storage.put_stream(poster_key, io.BytesIO(b"poster"))
    sink.emit(PipelineEvent(
        kind="pipeline_done", video_id=video_id, step="upload", attempt=1, message_id="m-done",
        output={"output_key": output_key, "poster_key": poster_key},
        **({"at": at} if at is not None else {}),
    ))


class LiveServer:
    """The app under a real uvicorn in a thread: real sockets, real concurrency."""

    def __init__(self, app: Starlette) -> None:
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            threading.Event().wait(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture(scope="session")
def small_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real 2-second 320x180 H.264 MP4, made once per session."""
    return make_video(tmp_path_factory.mktemp("videos") / "small.mp4")
