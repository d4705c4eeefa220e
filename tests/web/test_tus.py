"""Resumable uploads (tus 1.0.0) with tuspy, a client nobody on the project wrote.

The end-to-end tests run two real ``anb web`` processes on one database and one storage,
alternate chunks between them, break a connection mid-chunk, resume from the server's
offset, and follow the video to ``processed`` with a real Dramatiq worker; on the S3
emulator (PostgreSQL) and on local storage (SQLite).
"""

from __future__ import annotations

import base64
import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import dramatiq
import httpx
import pytest
import sqlalchemy as sa
from starlette.testclient import TestClient
from tusclient.client import TusClient
from tusclient.uploader import Uploader

from anb_pipeline import MediaPipeline, Settings
from anb_pipeline.storage import MIN_PART_BYTES, S3Storage
from anb_web.db import Database, make_engine
from anb_web.models import TusUpload
from anb_web.sink import DatabaseSink
from anb_web.tus_expiry import sweep_expired
from conftest import make_video

from .conftest import bearer, signup
from .webproc import WebProcess, web_env

TUS = {"Tus-Resumable": "1.0.0"}
CHUNK_BYTES = 2 * 1024 * 1024


def metadata(**values: str) -> str:
    return ",".join(f"{key} {base64.b64encode(value.encode()).decode()}"
                    for key, value in values.items())


@pytest.fixture(scope="module")
def big_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real 1-second video of about 12 MiB (noise does not compress): three parts."""
    path = make_video(tmp_path_factory.mktemp("tus") / "noisy.mp4", width=640, height=360,
                      seconds=1.0, extra_args=("-qp", "0", "-vf", "noise=alls=60:allf=t"))
    assert path.stat().st_size > 2 * MIN_PART_BYTES
    return path


def break_mid_chunk(url: str, *, token: str, offset: int, data: bytes) -> None:
    """A PATCH that promises ``len(data) * 2`` bytes, sends ``data`` and hangs up."""
    parsed = urlparse(url)
    head = (f"PATCH {parsed.path} HTTP/1.1\r\nHost: {parsed.netloc}\r\n"
            f"Authorization: Bearer {token}\r\nTus-Resumable: 1.0.0\r\n"
            f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: {offset}\r\n"
            f"Content-Length: {len(data) * 2}\r\n\r\n").encode()
    with socket.create_connection((parsed.hostname, parsed.port)) as connection:
        connection.sendall(head + data)
        time.sleep(0.5)


def server_offset(url: str, token: str) -> int:
    response = httpx.head(url, headers={**TUS, **bearer(token)})
    assert response.status_code == 200, response.text
    return int(response.headers["Upload-Offset"])


def wait_offset(url: str, token: str, *, at_least: int, timeout_s: float = 20) -> int:
    """The server stores a broken body's bytes once it notices the hang-up."""
    deadline = time.monotonic() + timeout_s
    while (offset := server_offset(url, token)) < at_least and time.monotonic() < deadline:
        time.sleep(0.1)
    return offset


@contextlib.contextmanager
def worker_for(settings: Settings, database_url: str) -> Iterator[MediaPipeline]:
    database = Database(make_engine(database_url))
    pipeline = MediaPipeline(settings, sink=DatabaseSink(database, steps=settings.steps))
    if isinstance(pipeline.storage, S3Storage):
        pipeline.storage.ensure_bucket()
    pipeline.broker.ensure_queues()  # type: ignore[attr-defined]
    worker = dramatiq.Worker(pipeline.broker, worker_threads=1, worker_timeout=200)
    worker.start()
    try:
        yield pipeline
    finally:
        worker.stop()
        database.dispose()


def wait_processed(base: str, token: str, video_id: str, *, timeout_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        detail: dict[str, Any] = httpx.get(f"{base}/api/videos/{video_id}",
                                           headers=bearer(token)).json()
        if detail["processing_status"] in ("processed", "failed"):
            return detail
        time.sleep(0.5)
    raise AssertionError(f"video {video_id} did not finish: {detail}")


@pytest.mark.media
@pytest.mark.parametrize("storage", ["s3", "local"])
def test_tuspy_resumes_across_two_processes_after_a_broken_chunk(
    storage: str, request: pytest.FixtureRequest, aws_endpoint: str, namespace: str,
    tmp_path: Path, big_video: Path,
) -> None:
    database_url = (request.getfixturevalue("postgres_url") if storage == "s3"
                    else f"sqlite:///{tmp_path / 'anb.db'}")
    storage_url = (f"s3://{namespace}-media/anb" if storage == "s3"
                   else f"file://{tmp_path / 'storage'}")
    settings = Settings(broker_url="sqs://", aws_endpoint_url=aws_endpoint,
                        queue_namespace=namespace, storage_url=storage_url,
                        sqs_wait_time_s=1, visibility_timeout_s=30, ffmpeg_timeout_s=120,
                        work_dir=tmp_path / "worker")
    if storage == "local":
        from anb_web.db import upgrade
        upgrade(database_url)
    env = web_env(database_url=database_url, tmp_path=tmp_path, ANB_BROKER_URL="sqs://",
                  ANB_AWS_ENDPOINT_URL=aws_endpoint, ANB_QUEUE_NAMESPACE=namespace,
                  ANB_STORAGE_URL=storage_url, ANB_MAX_UPLOAD_BYTES=str(64 * 1024 * 1024))
    with worker_for(settings, database_url) as pipeline:
        webs = [WebProcess(env, log_path=tmp_path / f"web{n}.log") for n in (1, 2)]
        try:
            for web in webs:
                web.wait_ready()
            token = signup_http(webs[0].url, "tus_player")
            data = big_video.read_bytes()
            client = TusClient(f"{webs[0].url}/api/uploads/", headers=bearer(token))
            uploader = Uploader(file_path=str(big_video), client=client,
                                chunk_size=CHUNK_BYTES,
                                metadata={"title": "Resumed", "filename": "../../etc/x.mp4"})
            uploader.set_url(uploader.create_url())
            path = urlparse(uploader.url).path
            uploader.upload_chunk()  # on process 1
            # Process 2 gets half a chunk, then the connection breaks.
            half = data[uploader.offset:uploader.offset + CHUNK_BYTES // 2]
            break_mid_chunk(webs[1].url + path, token=token, offset=uploader.offset, data=half)
            resumed = wait_offset(webs[1].url + path, token, at_least=uploader.offset + len(half))
            assert resumed == uploader.offset + len(half)  # the half chunk was kept
            uploader.offset = resumed
            turn = 0
            last: httpx.Headers | None = None
            while uploader.offset < len(data):
                uploader.set_url(webs[turn % 2].url + path)
                uploader.upload_chunk()
                last = httpx.Headers(uploader.request.response_headers)
                turn += 1
            assert turn >= 3
            assert last is not None
            video_id = last["ANB-Video-Id"]
            head = httpx.head(webs[turn % 2].url + path, headers={**TUS, **bearer(token)})
            assert head.headers["ANB-Video-Id"] == video_id
            detail = wait_processed(webs[0].url, token, video_id)
            assert detail["processing_status"] == "processed", detail
            original = httpx.get(detail["original_url"]
                                 if detail["original_url"].startswith("http")
                                 else webs[0].url + detail["original_url"])
            assert original.content == data
            # The parts, tails and joined file are gone; only the original and outputs stay.
            leftovers = pipeline.storage.list("uploads/")
            assert leftovers == []
        finally:
            for web in webs:
                web.terminate()


def signup_http(base: str, username: str) -> str:
    response = httpx.post(f"{base}/api/auth/signup", json={
        "username": username, "email": f"{username}@example.org",
        "password": "correct horse battery"})
    assert response.status_code == 201, response.text
    return str(response.json()["access_token"])


@pytest.fixture
def postgres_url(postgres_database: str) -> str:
    import sqlalchemy as sa

    from .conftest import TABLES
    engine = sa.create_engine(postgres_database)
    with engine.begin() as connection:
        connection.execute(sa.text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return postgres_database


def create(client: TestClient, token: str, *, length: int, content: bytes = b"",
           **headers: str) -> httpx.Response:
    return client.post("/api/uploads/", content=content, headers={
        **TUS, **bearer(token), "Upload-Length": str(length),
        "Upload-Metadata": metadata(title="Clip"), **headers})


def test_options_advertise_version_extensions_and_max_size(client: TestClient) -> None:
    response = client.options("/api/uploads/")
    assert response.status_code == 204
    assert response.headers["Tus-Version"] == "1.0.0"
    assert set(response.headers["Tus-Extension"].split(",")) == {
        "creation", "creation-with-upload", "termination", "expiration"}
    assert response.headers["Tus-Max-Size"] == str(4 * 1024 * 1024)


def test_protocol_errors(client: TestClient, small_video: Path) -> None:
    owner, other = signup(client, "tus_owner"), signup(client, "tus_other")
    data = small_video.read_bytes()
    assert client.post("/api/uploads/", headers={**TUS, "Upload-Length": "10"}).status_code == 401
    assert client.post("/api/uploads/", headers={
        **TUS, "Authorization": "Bearer nonsense", "Upload-Length": "10"}).status_code == 401
    missing_version = client.post("/api/uploads/", headers={**bearer(owner), "Upload-Length": "1"})
    assert missing_version.status_code == 412
    assert missing_version.headers["Tus-Version"] == "1.0.0"
    deferred = create(client, owner, length=1, **{"Upload-Defer-Length": "1"})
    assert deferred.status_code == 400
    assert "Upload-Defer-Length" in deferred.json()["detail"]
    untitled = client.post("/api/uploads/", headers={**TUS, **bearer(owner),
                                                     "Upload-Length": "10"})
    assert untitled.status_code == 422
    assert client.post("/api/uploads/", headers={
        **TUS, **bearer(owner), "Upload-Length": "10",
        "Upload-Metadata": "title not-base64!"}).status_code == 400

    created = create(client, owner, length=len(data))
    assert created.status_code == 201, created.text
    assert created.headers["Tus-Resumable"] == "1.0.0"
    assert "Upload-Expires" in created.headers
    url = urlparse(created.headers["Location"]).path
    patch = {**TUS, **bearer(owner), "Content-Type": "application/offset+octet-stream"}
    wrong = client.patch(url, headers={**patch, "Upload-Offset": "5"}, content=data[5:100])
    assert wrong.status_code == 409
    assert wrong.headers["Tus-Resumable"] == "1.0.0"
    assert client.patch(url, headers={**bearer(other), **TUS, "Upload-Offset": "0",
                                      "Content-Type": "application/offset+octet-stream"},
                        content=data[:10]).status_code == 403
    assert client.head(url, headers={**TUS, **bearer(other)}).status_code == 403
    assert client.patch(url, headers={**patch, "Upload-Offset": "0",
                                      "Content-Type": "application/octet-stream"},
                        content=data[:10]).status_code == 415
    past = client.patch(url, headers={**patch, "Upload-Offset": "0"}, content=data + b"x")
    assert past.status_code == 413
    first = client.patch(url, headers={**patch, "Upload-Offset": "0"}, content=data[:1000])
    assert first.status_code == 204
    assert first.headers["Upload-Offset"] == "1000"
    head = client.head(url, headers={**TUS, **bearer(owner)})
    assert (head.status_code, head.headers["Upload-Offset"], head.headers["Upload-Length"],
            head.headers["Cache-Control"]) == (200, "1000", str(len(data)), "no-store")
    last = client.patch(url, headers={**patch, "Upload-Offset": "1000"}, content=data[1000:])
    assert last.status_code == 204, last.text
    video_id = last.headers["ANB-Video-Id"]
    assert client.get(f"/api/videos/{video_id}", headers=bearer(owner)).json()["title"] == "Clip"
    assert client.head(url, headers={**TUS, **bearer(owner)}).headers["ANB-Video-Id"] == video_id


def test_over_size_is_refused_before_anything_is_stored(
    client: TestClient, pipeline: MediaPipeline
) -> None:
    token = signup(client, "tus_big")
    response = create(client, token, length=4 * 1024 * 1024 + 1)
    assert response.status_code == 413
    assert response.headers["Tus-Resumable"] == "1.0.0"
    assert pipeline.storage.list("") == []


def test_a_non_video_is_415_at_completion_with_nothing_kept(
    client: TestClient, pipeline: MediaPipeline, database: Database
) -> None:
    token = signup(client, "tus_text")
    body = b"this is not a video " * 500
    created = create(client, token, length=len(body), content=body,
                     **{"Content-Type": "application/offset+octet-stream"})
    # creation-with-upload: the whole file in the POST.
    assert created.status_code == 415, created.text
    assert "not a video" in created.json()["detail"]
    assert pipeline.storage.list("") == []
    assert client.get("/api/videos", headers=bearer(token)).json() == []
    assert database.call(lambda session: session.scalar(
        sa.select(sa.func.count()).select_from(TusUpload))) == 0


def test_termination_and_expiry_remove_the_upload_and_its_storage(
    client: TestClient, pipeline: MediaPipeline, small_video: Path
) -> None:
    token = signup(client, "tus_gone")
    data = small_video.read_bytes()
    patch = {**TUS, **bearer(token), "Content-Type": "application/offset+octet-stream"}
    urls = []
    for _ in range(2):
        url = urlparse(create(client, token, length=len(data)).headers["Location"]).path
        assert client.patch(url, headers={**patch, "Upload-Offset": "0"},
                            content=data[:500]).status_code == 204
        urls.append(url)
    assert len(pipeline.storage.list("uploads/")) == 2  # the two tails
    terminated, expiring = urls
    assert client.delete(terminated, headers={**TUS, **bearer(token)}).status_code == 204
    assert client.head(terminated, headers={**TUS, **bearer(token)}).status_code == 404
    assert len(pipeline.storage.list("uploads/")) == 1
    services = client.app.state.services  # type: ignore[attr-defined]
    assert sweep_expired(services, now_s=time.time() + 25 * 3600) == 1
    assert client.head(expiring, headers={**TUS, **bearer(token)}).status_code == 404
    assert client.patch(expiring, headers={**patch, "Upload-Offset": "500"},
                        content=data[500:]).status_code == 404
    assert pipeline.storage.list("uploads/") == []
    assert list(pipeline.storage.root.rglob(".part-*")) == []  # type: ignore[attr-defined]


def test_an_expired_upload_is_404_on_access_with_its_storage_gone(
    web_settings: Any, pipeline: MediaPipeline, small_video: Path
) -> None:
    from anb_web.app import create_app

    app = create_app(web_settings.replace(upload_expiry_s=1), pipeline=pipeline)
    with TestClient(app, raise_server_exceptions=False) as client:
        token = signup(client, "tus_late")
        data = small_video.read_bytes()
        url = urlparse(create(client, token, length=len(data)).headers["Location"]).path
        assert client.patch(url, headers={**TUS, **bearer(token), "Upload-Offset": "0",
                                          "Content-Type": "application/offset+octet-stream"},
                            content=data[:500]).status_code == 204
        assert pipeline.storage.list("uploads/") != []
        time.sleep(1.2)
        assert client.head(url, headers={**TUS, **bearer(token)}).status_code == 404
        assert pipeline.storage.list("uploads/") == []


def test_broken_connection_keeps_the_bytes_that_arrived(
    web_settings: Any, pipeline: MediaPipeline, small_video: Path
) -> None:
    from anb_web.app import create_app

    from .conftest import LiveServer

    with LiveServer(create_app(web_settings, pipeline=pipeline)) as server:
        token = signup_http(server.url, "tus_cut")
        data = small_video.read_bytes()
        created = httpx.post(f"{server.url}/api/uploads/", headers={
            **TUS, **bearer(token), "Upload-Length": str(len(data)),
            "Upload-Metadata": metadata(title="Cut")})
        url = created.headers["Location"]
        break_mid_chunk(url, token=token, offset=0, data=data[:20_000])
        assert wait_offset(url, token, at_least=20_000) == 20_000
        stale = httpx.patch(url, headers={**TUS, **bearer(token), "Upload-Offset": "0",
                                          "Content-Type": "application/offset+octet-stream"},
                            content=data[:100])
        assert stale.status_code == 409


@pytest.mark.media
def test_a_crash_between_joining_the_parts_and_recording_it_is_finished_by_the_next_head(
    web_settings: Any, pipeline: MediaPipeline, big_video: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The final PATCH joins the parts, then its database write fails (the database goes
    away, or the instance dies, at that moment): 503. The client's HEAD joins them again
    (already done: not an error) and makes the video."""
    import sqlalchemy.exc

    from anb_web import tus_state
    from anb_web.app import create_app
    from anb_web.tus import VIDEO_ID_HEADER

    commit = tus_state.commit
    refusals: list[str] = []

    def commit_failing_once_after_the_join(session: Any, **kwargs: Any) -> bool:
        if kwargs.get("finished_parts") and not refusals:
            refusals.append(kwargs["upload_id"])
            raise sqlalchemy.exc.OperationalError("UPDATE tus_uploads", {}, Exception("gone"))
        return commit(session, **kwargs)

    monkeypatch.setattr(tus_state, "commit", commit_failing_once_after_the_join)
    data = big_video.read_bytes()
    settings = web_settings.replace(max_upload_bytes=len(data))
    with TestClient(create_app(settings, pipeline=pipeline), raise_server_exceptions=False) as client:
        token = signup(client, "tus_join")
        url = urlparse(create(client, token, length=len(data)).headers["Location"]).path
        headers = {**TUS, **bearer(token), "Content-Type": "application/offset+octet-stream"}
        final = client.patch(url, headers={**headers, "Upload-Offset": "0"}, content=data)
        assert final.status_code == 503, final.text
        assert refusals, "the join was recorded"
        resumed = client.head(url, headers={**TUS, **bearer(token)})
        assert resumed.status_code == 200
        video_id = resumed.headers[VIDEO_ID_HEADER]
        assert client.get(f"/api/videos/{video_id}", headers=bearer(token)).status_code == 200
    assert pipeline.storage.list("uploads/") == []
