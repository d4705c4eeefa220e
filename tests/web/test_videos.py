"""The owner's video routes: upload, list, detail and delete, with every error status."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.testclient import TestClient

from anb_pipeline import MediaPipeline, PipelineEvent
from anb_pipeline.emulator import free_port
from anb_web.app import create_app
from anb_web.db import Database
from anb_web.models import Video, Vote
from anb_web.settings import WebSettings
from anb_web.sink import DatabaseSink
from media_samples import make_not_a_video

from .conftest import bearer, publish, signup, upload

BOUNDARY = "anbtestboundary"


def video_count(database: Database) -> int:
    return database.call(lambda session: session.scalar(sa.select(sa.func.count(Video.seq))))


def queued_messages(pipeline: MediaPipeline) -> int:
    return pipeline.broker.queues[pipeline.settings.queue_name].qsize()


def test_upload_stores_probes_and_enqueues(
    client: TestClient, pipeline: MediaPipeline, small_video: Path, tmp_path: Path
) -> None:
    token = signup(client, "uploader")
    renamed = tmp_path / "clip.avi"  # the name lies: the probe decides the extension
    renamed.write_bytes(small_video.read_bytes())
    response = upload(client, token, renamed, title="  Crossover  ", description="Left hand")
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"id", "title", "description", "processing_status", "original_url",
                         "created_at"}
    assert (body["title"], body["description"]) == ("Crossover", "Left hand")
    assert body["processing_status"] == "pending"
    assert pipeline.storage.list("originals/") == [f"originals/{body['id']}.mp4"]
    assert queued_messages(pipeline) == 1
    original = client.get(body["original_url"])
    assert original.status_code == 200
    assert original.content == small_video.read_bytes()
    assert original.headers["content-type"] == "video/mp4"


def test_list_is_newest_first_and_equal_times_put_the_later_upload_first(
    client: TestClient, database: Database, small_video: Path
) -> None:
    token = signup(client, "lister")
    ids = [upload(client, token, small_video, title=f"v{n}").json()["id"] for n in range(3)]
    same = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    database.call(lambda session: session.execute(sa.update(Video).values(created_at=same)))
    response = client.get("/api/videos", headers=bearer(token))
    assert response.status_code == 200
    items = response.json()
    assert [item["id"] for item in items] == ids[::-1]
    assert set(items[0]) == {"id", "title", "description", "processing_status", "created_at",
                             "processed_at", "original_url", "processed_url", "poster_url",
                             "votes"}
    assert items[0]["created_at"].startswith("2030-01-01T00:00:00")
    other = signup(client, "someone_else")
    assert client.get("/api/videos", headers=bearer(other)).json() == []


def test_detail_shows_steps_and_the_error_of_a_failed_video(
    client: TestClient, sink: DatabaseSink, small_video: Path
) -> None:
    token = signup(client, "detailed")
    video_id = upload(client, token, small_video).json()["id"]
    detail = client.get(f"/api/videos/{video_id}", headers=bearer(token)).json()
    assert [step["name"] for step in detail["steps"]] == [
        "trim", "resize", "watermark", "bumpers", "upload"]
    assert {step["status"] for step in detail["steps"]} == {"pending"}
    assert "error" not in detail
    common = {"video_id": video_id, "message_id": "m1"}
    sink.emit(PipelineEvent(kind="step_started", step="trim", attempt=1, at=100.0, **common))
    sink.emit(PipelineEvent(kind="step_finished", step="trim", attempt=1, at=101.5,
                            seconds=1.5, **common))
    sink.emit(PipelineEvent(kind="step_started", step="resize", attempt=3, at=102.0, **common))
    sink.emit(PipelineEvent(kind="pipeline_dead_lettered", step="resize", attempt=3, at=103.0,
                            error="MediaError: ffmpeg failed", **common))
    detail = client.get(f"/api/videos/{video_id}", headers=bearer(token)).json()
    assert detail["processing_status"] == "failed"
    assert detail["error"] == {
        "step": "resize", "message": "MediaError: ffmpeg failed",
        "reason": "Converting your video failed. Try again; if it fails again, the file is "
                  "likely the problem: upload another one.",
        "retryable": True, "retries_left": 3}
    trim, resize = detail["steps"][:2]
    assert trim == {"name": "trim", "status": "succeeded",
                    "started_at": "1970-01-01T00:01:40+00:00",
                    "finished_at": "1970-01-01T00:01:41.500000+00:00",
                    "seconds": 1.5, "attempts": 1, "pass": "trim+resize+watermark+bumpers"}
    assert (resize["status"], resize["attempts"]) == ("failed", 3)


@pytest.mark.parametrize("bad_id", [
    "00000000-0000-0000-0000-000000000000", "not-a-uuid", "123", "%00", "' OR 1=1 --"])
def test_unknown_or_malformed_ids_are_404(client: TestClient, bad_id: str) -> None:
    token = signup(client, "prober")
    for method in ("GET", "DELETE"):
        response = client.request(method, f"/api/videos/{bad_id}", headers=bearer(token))
        assert response.status_code == 404, (method, response.text)
        assert response.json()["detail"]


def test_another_users_video_is_403(client: TestClient, small_video: Path) -> None:
    owner, intruder = signup(client, "owner"), signup(client, "intruder")
    video_id = upload(client, owner, small_video).json()["id"]
    for method in ("GET", "DELETE"):
        response = client.request(method, f"/api/videos/{video_id}", headers=bearer(intruder))
        assert response.status_code == 403, method
    assert client.get(f"/api/videos/{video_id}", headers=bearer(owner)).status_code == 200


def test_delete_removes_the_row_and_every_object(
    client: TestClient, pipeline: MediaPipeline, sink: DatabaseSink, database: Database,
    small_video: Path,
) -> None:
    token = signup(client, "deleter")
    video_id = upload(client, token, small_video).json()["id"]
    publish(sink, pipeline, video_id)
    pipeline.storage.put_file(f"work/{video_id}/trim.mkv", small_video)
    assert len(pipeline.storage.list("")) == 4
    response = client.delete(f"/api/videos/{video_id}", headers=bearer(token))
    assert response.status_code == 204
    assert response.content == b""
    assert pipeline.storage.list("") == []
    assert video_count(database) == 0
    assert client.get(f"/api/videos/{video_id}", headers=bearer(token)).status_code == 404


def test_a_published_video_with_votes_cannot_be_deleted(
    client: TestClient, pipeline: MediaPipeline, sink: DatabaseSink, small_video: Path
) -> None:
    token, fan = signup(client, "star"), signup(client, "fan")
    video_id = upload(client, token, small_video).json()["id"]
    publish(sink, pipeline, video_id)
    assert client.post(f"/api/public/videos/{video_id}/vote", headers=bearer(fan)).status_code \
        == 201
    response = client.delete(f"/api/videos/{video_id}", headers=bearer(token))
    assert response.status_code == 409
    assert pipeline.storage.exists(f"processed/{video_id}.mp4")


def test_a_published_video_without_votes_can_be_deleted(
    client: TestClient, pipeline: MediaPipeline, sink: DatabaseSink, small_video: Path
) -> None:
    token = signup(client, "unloved")
    video_id = upload(client, token, small_video).json()["id"]
    publish(sink, pipeline, video_id)
    assert client.delete(f"/api/videos/{video_id}", headers=bearer(token)).status_code == 204


@pytest.mark.parametrize("fields, files, missing", [
    ({}, True, "title"),
    ({"title": "   "}, True, "title"),
    ({"title": "x" * 201}, True, "title"),
    ({"title": "ok", "description": "d" * 5001}, True, "description"),
    ({"title": "ok"}, False, "file"),
])
def test_invalid_upload_fields_are_422_and_keep_nothing(
    client: TestClient, pipeline: MediaPipeline, database: Database, small_video: Path,
    fields: dict[str, str], files: bool, missing: str,
) -> None:
    token = signup(client, "careless")
    with open(small_video, "rb") as stream:
        response = client.post(
            "/api/videos", headers=bearer(token), data=fields or {"other": "x"},
            files={"file": ("a.mp4", stream, "video/mp4")} if files else {"x": ("x", b"1")},
        )
    assert response.status_code == 422
    assert missing in response.json()["errors"]
    assert pipeline.storage.list("") == []
    assert video_count(database) == 0


@pytest.mark.parametrize("content", [b"", b"plain text, not a video", bytes(range(256)) * 64])
def test_a_file_that_is_not_a_video_is_415(
    client: TestClient, pipeline: MediaPipeline, database: Database, content: bytes
) -> None:
    token = signup(client, "prankster")
    response = client.post("/api/videos", headers=bearer(token), data={"title": "t"},
                           files={"file": ("fake.mp4", content, "video/mp4")})
    assert response.status_code == 415
    assert "not a video" in response.json()["detail"]
    assert pipeline.storage.list("") == []
    assert video_count(database) == 0
    assert queued_messages(pipeline) == 0


def test_a_body_that_is_not_multipart_is_415(client: TestClient) -> None:
    token = signup(client, "jsonista")
    response = client.post("/api/videos", headers=bearer(token), json={"title": "t"})
    assert response.status_code == 415


def test_a_malformed_multipart_body_is_422(client: TestClient) -> None:
    token = signup(client, "mangler")
    response = client.post(
        "/api/videos", content=b"--" + BOUNDARY.encode() + b"\r\ngarbage without end",
        headers={**bearer(token), "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
    )
    assert response.status_code == 422


class CountingBody:
    """A request body that records how much of it the server pulled."""

    def __init__(self, total_bytes: int, *, chunk_bytes: int = 64 * 1024) -> None:
        self.total_bytes, self.chunk_bytes, self.sent_bytes = total_bytes, chunk_bytes, 0
        self.head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\n"
                     f"big\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
                     f"filename=\"big.mp4\"\r\nContent-Type: video/mp4\r\n\r\n").encode()
        self.tail = f"\r\n--{BOUNDARY}--\r\n".encode()

    @property
    def length(self) -> int:
        return len(self.head) + self.total_bytes + len(self.tail)

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield self.head
        self.sent_bytes += len(self.head)
        chunk = b"\0" * self.chunk_bytes
        for start in range(0, self.total_bytes, self.chunk_bytes):
            piece = chunk[: min(self.chunk_bytes, self.total_bytes - start)]
            self.sent_bytes += len(piece)
            yield piece
        yield self.tail


def post_stream(app: Starlette, body: CountingBody, headers: dict[str, str]) -> httpx.Response:
    async def send() -> httpx.Response:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://anb.test") as http:
            return await http.post(
                "/api/videos", content=body,
                headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                         **headers})

    return asyncio.run(send())


def test_no_token_is_401_before_the_body_is_read(client: TestClient, app: Starlette) -> None:
    body = CountingBody(1024 * 1024)
    response = post_stream(app, body, {})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert body.sent_bytes == 0


def test_a_declared_length_over_the_limit_is_413_before_the_body_is_read(
    client: TestClient, app: Starlette, web_settings: WebSettings
) -> None:
    token = signup(client, "bigdeclarer")
    body = CountingBody(web_settings.max_upload_bytes + 2 * 1024 * 1024)
    response = post_stream(app, body, {**bearer(token), "Content-Length": str(body.length)})
    assert response.status_code == 413
    assert body.sent_bytes == 0


def test_a_streamed_body_over_the_limit_is_413_as_soon_as_it_passes(
    client: TestClient, app: Starlette, web_settings: WebSettings, pipeline: MediaPipeline,
    database: Database, tmp_path: Path,
) -> None:
    token = signup(client, "bigstreamer")
    limit = web_settings.max_upload_bytes
    body = CountingBody(limit * 4)  # chunked: no Content-Length to judge by
    response = post_stream(app, body, bearer(token))
    assert response.status_code == 413
    assert body.sent_bytes < limit + 2 * body.chunk_bytes + len(body.head)
    assert pipeline.storage.list("") == []
    assert video_count(database) == 0
    assert list((tmp_path / "work").glob("anb-upload-*")) == []


def test_queue_down_is_503_and_keeps_no_row_and_no_object(
    web_settings: WebSettings, small_video: Path
) -> None:
    # A real SQS broker pointed at a port nobody listens on: the queue is truly unreachable.
    settings = web_settings.pipeline.replace(
        broker_url="sqs://", aws_endpoint_url=f"http://127.0.0.1:{free_port()}")
    pipeline = MediaPipeline(settings)
    app = create_app(web_settings.replace(pipeline=settings), pipeline=pipeline)
    with TestClient(app) as client:
        token = signup(client, "unlucky")
        response = upload(client, token, small_video)
        assert response.status_code == 503
        assert "queue" in response.json()["detail"]
        assert client.get("/api/videos", headers=bearer(token)).json() == []
    assert pipeline.storage.list("") == []
    assert video_count(app.state.services.database) == 0


def test_storage_down_is_503_and_keeps_no_row(
    web_settings: WebSettings, small_video: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the storage directory should be")
    settings = web_settings.pipeline.replace(storage_url=f"file://{blocker}/storage")
    app = create_app(web_settings.replace(pipeline=settings),
                     pipeline=MediaPipeline(settings))
    with TestClient(app, raise_server_exceptions=False) as client:
        token = signup(client, "stranded")
        response = upload(client, token, small_video)
        assert response.status_code == 503, response.text
        assert client.get("/api/videos", headers=bearer(token)).json() == []


def test_votes_are_counted_in_the_owner_list(
    client: TestClient, pipeline: MediaPipeline, sink: DatabaseSink, database: Database,
    small_video: Path,
) -> None:
    token, fan = signup(client, "counted"), signup(client, "counter")
    video_id = upload(client, token, small_video).json()["id"]
    publish(sink, pipeline, video_id)
    client.post(f"/api/public/videos/{video_id}/vote", headers=bearer(fan))
    item = client.get("/api/videos", headers=bearer(token)).json()[0]
    assert item["votes"] == 1
    assert item["processing_status"] == "processed"
    assert client.get(item["processed_url"]).content == b"processed clip"
    assert database.call(lambda session: session.scalar(sa.select(sa.func.count(Vote.id)))) == 1


@pytest.mark.parametrize("kind", ["png", "jpeg", "mp3 with cover", "m4a with cover"])
def test_a_still_picture_or_a_song_with_cover_art_is_415_and_keeps_nothing(
    client: TestClient, pipeline: MediaPipeline, database: Database, tmp_path: Path, kind: str
) -> None:
    source = make_not_a_video(tmp_path, kind)
    token = signup(client, "photographer")
    response = upload(client, token, source, title="not a clip")
    assert response.status_code == 415
    detail = response.json()["detail"]
    assert detail.startswith("The upload is not a video: ")
    assert "single still picture" in detail or "only picture is cover art" in detail
    assert pipeline.storage.list("") == []
    assert video_count(database) == 0
    assert queued_messages(pipeline) == 0
