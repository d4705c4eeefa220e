"""Hostile and unlucky inputs found by review (issue 13): each was a 500, a duplicate
account, a wrong status or a refused token; each runs on SQLite and PostgreSQL."""

from __future__ import annotations

import secrets
import time
import unicodedata
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from joserfc import jwt
from joserfc.jwk import OctKey
from starlette.testclient import TestClient

from anb_pipeline import MediaPipeline
from anb_web.db import Database
from anb_web.models import User, Video
from anb_web.security import JWT_CLOCK_LEEWAY_S, derive_key
from anb_web.sink import DatabaseSink

from .conftest import JWT_SECRET, PASSWORD, bearer, publish, signup, upload


@pytest.mark.parametrize("path", ["signup", "login"])
def test_deeply_nested_json_is_422_not_a_recursion_error(client: TestClient, path: str) -> None:
    body = "[" * 2000 + "]" * 2000
    assert len(body) == 4000
    response = client.post(f"/api/auth/{path}", content=body,
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["errors"] == {"body": "The body must be a JSON object"}


@pytest.mark.parametrize("expires", ["²", "①", "٣٤", "9" * 5000, "1" * 13])
def test_media_links_with_non_ascii_or_huge_expiry_are_403(
    client: TestClient, pipeline: MediaPipeline, expires: str
) -> None:
    urls = client.app.state.services.urls  # type: ignore[attr-defined]
    signed = urls.url("processed/x.mp4")
    assert client.get(signed).status_code == 404  # a valid link to a missing object
    response = client.get("/media/processed/x.mp4",
                          params={"expires": expires, "signature": "0" * 64})
    assert response.status_code == 403, response.text
    assert response.json()["detail"] == "The link is invalid or has expired"


def _signup(client: TestClient, username: str, email: str, **profile: str) -> Any:
    return client.post("/api/auth/signup", json={"username": username, "email": email,
                                                  "password": PASSWORD, **profile})


@pytest.mark.parametrize(("field", "value"), [
    ("city", "ß" * 100),  # 100 characters; case-folded "ss" * 100 is 200
    ("email", "İ" * 130 + "@example.org"),  # 142 characters; lower-cased 272
])
def test_a_value_whose_folded_key_outgrows_its_column_is_422_on_both_databases(
    client: TestClient, database: Database, field: str, value: str
) -> None:
    fields = {"city": "Bogotá", "email": "fold@example.org", field: value}
    response = _signup(client, "folder", fields.pop("email"), **fields)
    assert response.status_code == 422, response.text
    assert "normalized" in response.json()["errors"][field]
    assert database.call(lambda s: s.scalar(sa.select(sa.func.count(User.id)))) == 0
    # The longest value that does fit still signs up.
    fits = {"city": "ß" * 50, "email": "İ" * 120 + "@example.org"}[field]
    fields = {"city": "Bogotá", "email": "fold@example.org", field: fits}
    assert _signup(client, "folder", fields.pop("email"), **fields).status_code == 201


def test_nfc_and_nfd_spellings_of_one_email_are_one_identity(client: TestClient) -> None:
    composed = unicodedata.normalize("NFC", "josé@example.org")
    decomposed = unicodedata.normalize("NFD", composed)
    assert composed != decomposed
    assert _signup(client, "jose", composed).status_code == 201
    second = _signup(client, "jose2", decomposed)
    assert second.status_code == 409, second.text
    assert second.json()["errors"] == {"email": "This email is already registered"}
    login = client.post("/api/auth/login", json={"username": decomposed.upper(),
                                                 "password": PASSWORD})
    assert login.status_code == 200


def test_fullwidth_and_other_case_usernames_are_one_identity(client: TestClient) -> None:
    first = _signup(client, "alice", "alice@example.org")
    assert first.status_code == 201
    for look_alike in ("ａｌｉｃｅ", "ALICE", "Ａlice"):
        again = _signup(client, look_alike, f"{secrets.token_hex(4)}@example.org")
        assert again.status_code == 409, (look_alike, again.text)
        assert again.json()["errors"] == {"username": "This username is taken"}
    login = client.post("/api/auth/login", json={"username": "ａｌｉｃｅ", "password": PASSWORD})
    assert login.status_code == 200
    # A fullwidth name that nobody holds signs up under its NFKC form.
    bob = _signup(client, "ｂｏｂ", "bob@example.org")
    assert bob.status_code == 201 and bob.json()["user"]["username"] == "bob"


def test_a_vote_racing_the_videos_deletion_is_404(
    client: TestClient, database: Database, sink: DatabaseSink, pipeline: MediaPipeline,
    small_video: Path,
) -> None:
    owner, fan = signup(client, "owner"), signup(client, "fan")
    video_id = upload(client, owner, small_video).json()["id"]
    publish(sink, pipeline, video_id)
    deleted: list[str] = []

    def delete_first(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        # The race, made certain: the owner's delete commits between the vote's checks and
        # its INSERT, on another connection, as a parallel request's would.
        if statement.lstrip().upper().startswith("INSERT INTO VOTES") and not deleted:
            deleted.append(video_id)
            with database.engine.begin() as other:
                other.execute(sa.delete(Video).where(Video.id == video_id))

    sa.event.listen(database.engine, "before_cursor_execute", delete_first)
    try:
        response = client.post(f"/api/public/videos/{video_id}/vote", headers=bearer(fan))
    finally:
        sa.event.remove(database.engine, "before_cursor_execute", delete_first)
    assert deleted == [video_id]
    assert response.status_code == 404, response.text
    assert response.json()["detail"] == "No such published video"


def _token(user_id: str, *, issued_in_s: int) -> str:
    key = OctKey.import_key(derive_key(JWT_SECRET, purpose="anb-jwt-v1"))
    now = int(time.time()) + issued_in_s
    return jwt.encode({"alg": "HS256"}, {"sub": user_id, "jti": secrets.token_hex(16),
                                         "iat": now, "exp": now + 3600}, key)


def test_a_token_from_a_sibling_whose_clock_runs_ahead_is_accepted_within_the_leeway(
    client: TestClient,
) -> None:
    user_id = client.post("/api/auth/signup", json={
        "username": "skewed", "email": "skewed@example.org", "password": PASSWORD,
    }).json()["user"]["id"]
    for ahead_s in (1, 30, JWT_CLOCK_LEEWAY_S - 2):
        response = client.get("/api/videos", headers=bearer(_token(user_id, issued_in_s=ahead_s)))
        assert response.status_code == 200, (ahead_s, response.text)
    beyond = client.get("/api/videos",
                        headers=bearer(_token(user_id, issued_in_s=JWT_CLOCK_LEEWAY_S + 30)))
    assert beyond.status_code == 401
