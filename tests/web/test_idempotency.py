"""``Idempotency-Key`` on uploads: a mobile client that lost the response retries safely."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.testclient import TestClient

from anb_pipeline import MediaPipeline
from anb_web.db import Database
from anb_web.models import IdempotencyKey, Video
from anb_web.videos import IDEMPOTENCY_TTL_S

from .conftest import LiveServer, bearer, signup
from .test_concurrency import all_at_once, signup_live


def queued_messages(pipeline: MediaPipeline) -> int:
    return int(pipeline.broker.queues[pipeline.settings.queue_name].qsize())


def stored_originals(pipeline: MediaPipeline) -> list[Path]:
    root = Path(str(pipeline.settings.storage_url).removeprefix("file://")) / "originals"
    return sorted(root.iterdir()) if root.exists() else []


def videos_of(database: Database) -> int:
    return int(database.call(lambda s: s.scalar(sa.select(sa.func.count(Video.id)))))


def send(client: TestClient, token: str, video: Path, key: str | None,
         title: str = "retried") -> httpx.Response:
    headers = {**bearer(token), **({"Idempotency-Key": key} if key else {})}
    with open(video, "rb") as stream:
        return client.post("/api/videos", headers=headers, data={"title": title},
                           files={"file": ("clip.mp4", stream, "video/mp4")})


def test_a_retry_with_the_same_key_returns_the_first_video_and_stores_nothing(
    client: TestClient, database: Database, pipeline: MediaPipeline, small_video: Path
) -> None:
    token = signup(client, "mobile")
    first = send(client, token, small_video, "8e0c6a0e-upload-1")
    retry = send(client, token, small_video, "8e0c6a0e-upload-1", title="changed on retry")
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert (videos_of(database), queued_messages(pipeline), len(stored_originals(pipeline))) \
        == (1, 1, 1)
    # Another key, or no key, is another upload.
    assert send(client, token, small_video, "8e0c6a0e-upload-2").json()["id"] != first.json()["id"]
    assert send(client, token, small_video, None).status_code == 201
    assert (videos_of(database), queued_messages(pipeline)) == (3, 3)


def test_keys_belong_to_their_user_and_expire_after_a_day(
    client: TestClient, database: Database, small_video: Path
) -> None:
    alice, bob = signup(client, "alice"), signup(client, "bob")
    mine = send(client, alice, small_video, "shared-key").json()["id"]
    theirs = send(client, bob, small_video, "shared-key").json()["id"]
    assert mine != theirs
    database.call(lambda s: s.execute(sa.update(IdempotencyKey).values(
        created_at=time.time() - IDEMPOTENCY_TTL_S - 1)))
    later = send(client, alice, small_video, "shared-key")
    assert later.status_code == 201 and later.json()["id"] not in (mine, theirs)
    assert "Idempotent-Replayed" not in later.headers
    # A deleted video frees its key.
    assert client.delete(f"/api/videos/{later.json()['id']}",
                         headers=bearer(alice)).status_code == 204
    again = send(client, alice, small_video, "shared-key")
    assert again.status_code == 201 and "Idempotent-Replayed" not in again.headers


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "tab\there", "ключ"])
def test_a_malformed_key_is_422(client: TestClient, small_video: Path, key: str) -> None:
    token = signup(client, "sloppy")
    headers = {**bearer(token), "Idempotency-Key": key.encode()}
    with open(small_video, "rb") as stream:
        response = client.post("/api/videos", headers=headers, data={"title": "t"},
                               files={"file": ("clip.mp4", stream, "video/mp4")})
    assert response.status_code == 422, response.text
    assert set(response.json()["errors"]) == {"Idempotency-Key"}


def test_parallel_retries_with_one_key_make_one_video(
    app: Starlette, database: Database, pipeline: MediaPipeline, small_video: Path
) -> None:
    data = small_video.read_bytes()
    with LiveServer(app) as server:
        token = signup_live(server, "impatient")
        ids: list[str] = []

        def upload(http: httpx.Client, index: int) -> httpx.Response:
            response = http.post(f"{server.url}/api/videos", data={"title": "t"},
                                 headers={**bearer(token), "Idempotency-Key": "one-upload"},
                                 files={"file": ("clip.mp4", data, "video/mp4")})
            ids.append(response.json()["id"])
            return response

        statuses = all_at_once(6, upload)
    assert statuses == [201] * 6
    assert len(set(ids)) == 1
    assert (videos_of(database), queued_messages(pipeline), len(stored_originals(pipeline))) \
        == (1, 1, 1)
