"""Real concurrency against a real uvicorn: the unique constraints decide, never a 500."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from starlette.applications import Starlette

from anb_pipeline import MediaPipeline
from anb_web.db import Database
from anb_web.models import User, Vote
from anb_web.sink import DatabaseSink

from .conftest import PASSWORD, LiveServer, bearer, publish

PARALLEL = 20


def all_at_once(count: int, request: Any) -> list[int]:
    """Run ``request(http, index)`` in ``count`` threads released together; the statuses."""
    barrier = threading.Barrier(count)

    def one(index: int) -> int:
        with httpx.Client(timeout=60) as http:
            barrier.wait()
            return int(request(http, index).status_code)

    with ThreadPoolExecutor(count) as pool:
        return sorted(pool.map(one, range(count)))


def count(database: Database, column: Any) -> int:
    return int(database.call(lambda session: session.scalar(sa.select(sa.func.count(column)))))


def signup_live(server: LiveServer, username: str) -> str:
    response = httpx.post(f"{server.url}/api/auth/signup", json={
        "username": username, "email": f"{username}@example.org", "password": PASSWORD})
    assert response.status_code == 201, response.text
    return str(response.json()["access_token"])


def test_parallel_votes_by_one_user_count_once(
    app: Starlette, database: Database, sink: DatabaseSink, pipeline: MediaPipeline,
    small_video: Path,
) -> None:
    with LiveServer(app) as server:
        owner, fan = signup_live(server, "popular"), signup_live(server, "eager_fan")
        with open(small_video, "rb") as stream:
            video_id = httpx.post(f"{server.url}/api/videos", headers=bearer(owner),
                                  data={"title": "t"}, files={"file": ("v.mp4", stream)},
                                  timeout=60).json()["id"]
        publish(sink, pipeline, video_id)
        vote_url = f"{server.url}/api/public/videos/{video_id}/vote"
        statuses = all_at_once(PARALLEL,
                               lambda http, _: http.post(vote_url, headers=bearer(fan)))
    assert statuses == [201] + [409] * (PARALLEL - 1)
    assert count(database, Vote.id) == 1


def test_parallel_signups_with_one_email_create_one_user(
    app: Starlette, database: Database
) -> None:
    def sign(http: httpx.Client, index: int) -> httpx.Response:
        return http.post(f"{server.url}/api/auth/signup", json={
            "username": f"twin{index}", "email": "Same@Example.org", "password": PASSWORD})

    with LiveServer(app) as server:
        statuses = all_at_once(PARALLEL, sign)
    assert statuses == [201] + [409] * (PARALLEL - 1)
    assert count(database, User.id) == 1
