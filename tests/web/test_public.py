"""Published videos, voting and rankings."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from anb_pipeline import MediaPipeline
from anb_web.sink import DatabaseSink

from .conftest import bearer, publish, signup, upload

_names = itertools.count()


def published_video(client: TestClient, sink: DatabaseSink, pipeline: MediaPipeline,
                    token: str, video: Path, *, title: str = "clip") -> str:
    video_id = str(upload(client, token, video, title=title).json()["id"])
    publish(sink, pipeline, video_id)
    return video_id


def voters(client: TestClient, count: int) -> list[str]:
    return [signup(client, f"voter{next(_names)}") for _ in range(count)]


def vote(client: TestClient, token: str, video_id: str) -> int:
    return client.post(f"/api/public/videos/{video_id}/vote", headers=bearer(token)).status_code


def test_only_processed_videos_are_listed_newest_first_with_their_player(
    client: TestClient, sink: DatabaseSink, pipeline: MediaPipeline, small_video: Path
) -> None:
    token = signup(client, "Kobe_B", city="Medellín", country="Colombia")
    upload(client, token, small_video, title="still pending")
    first = published_video(client, sink, pipeline, token, small_video, title="first")
    second = published_video(client, sink, pipeline, token, small_video, title="second")
    fan = voters(client, 1)[0]
    assert vote(client, fan, first) == 201
    response = client.get("/api/public/videos")
    assert response.status_code == 200
    page = response.json()
    assert (page["total"], page["page"], page["page_size"]) == (2, 1, 20)
    assert [item["id"] for item in page["items"]] == [second, first]
    item = page["items"][1]
    assert item["player"] == {"username": "Kobe_B", "city": "Medellín", "country": "Colombia"}
    assert item["votes"] == 1
    assert set(item) == {"id", "title", "player", "processed_url", "poster_url", "votes",
                         "created_at"}
    assert client.get(item["processed_url"]).content == b"processed clip"


def test_public_list_pages_are_stable_and_complete(
    client: TestClient, sink: DatabaseSink, pipeline: MediaPipeline, small_video: Path
) -> None:
    token = signup(client, "prolific")
    ids = [published_video(client, sink, pipeline, token, small_video) for _ in range(5)]
    seen: list[str] = []
    for page in (1, 2, 3):
        body = client.get(f"/api/public/videos?page={page}&page_size=2").json()
        assert body["total"] == 5
        seen += [item["id"] for item in body["items"]]
    assert seen == ids[::-1]
    beyond = client.get("/api/public/videos?page=9&page_size=2").json()
    assert (beyond["items"], beyond["total"]) == ([], 5)


@pytest.mark.parametrize("path", ["/api/public/videos", "/api/public/rankings"])
@pytest.mark.parametrize("query", ["page=0", "page=-1", "page=abc", "page_size=0",
                                   "page_size=101", "page_size=1.5", "page=" + "9" * 5000,
                                   "page_size=%EF%BC%91"])
def test_invalid_paging_is_422(client: TestClient, path: str, query: str) -> None:
    response = client.get(f"{path}?{query}")
    assert response.status_code == 422
    assert response.json()["errors"]


def test_page_size_100_is_allowed(client: TestClient) -> None:
    assert client.get("/api/public/videos?page_size=100").status_code == 200


def test_one_vote_per_user_and_the_vote_rules(
    client: TestClient, sink: DatabaseSink, pipeline: MediaPipeline, small_video: Path
) -> None:
    owner = signup(client, "voted_on")
    video_id = published_video(client, sink, pipeline, owner, small_video)
    pending_id = upload(client, owner, small_video).json()["id"]
    fan, other_fan = voters(client, 2)
    response = client.post(f"/api/public/videos/{video_id}/vote", headers=bearer(fan))
    assert response.status_code == 201
    assert response.json() == {"video_id": video_id, "votes": 1}
    assert vote(client, fan, video_id) == 409
    response = client.post(f"/api/public/videos/{video_id}/vote", headers=bearer(other_fan))
    assert response.json()["votes"] == 2
    assert vote(client, owner, video_id) == 403
    assert vote(client, fan, pending_id) == 404
    assert vote(client, fan, "00000000-0000-0000-0000-000000000000") == 404
    assert vote(client, fan, "not-a-uuid") == 404
    response = client.post(f"/api/public/videos/{video_id}/vote")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_rankings_order_ties_positions_and_zero_vote_players(
    client: TestClient, sink: DatabaseSink, pipeline: MediaPipeline, small_video: Path
) -> None:
    players = {name: signup(client, name, city="Cali", country="Colombia")
               for name in ("zeta", "Alpha", "beta", "gamma")}
    signup(client, "no_videos", city="Cali")
    videos = {name: published_video(client, sink, pipeline, token, small_video)
              for name, token in players.items()}
    extra_gamma = published_video(client, sink, pipeline, players["gamma"], small_video)
    upload(client, players["zeta"], small_video)  # unpublished: never counts
    fans = voters(client, 3)
    for fan in fans:
        vote(client, fan, videos["zeta"])
    vote(client, fans[0], videos["gamma"])
    vote(client, fans[1], extra_gamma)
    vote(client, fans[0], videos["beta"])
    body = client.get("/api/public/rankings").json()
    assert body["total"] == 4
    assert [(row["position"], row["username"], row["votes"]) for row in body["items"]] == [
        (1, "zeta", 3), (2, "gamma", 2), (3, "beta", 1), (4, "Alpha", 0)]
    assert body["items"][0] == {"position": 1, "username": "zeta", "city": "Cali",
                                "country": "Colombia", "votes": 3}
    second_page = client.get("/api/public/rankings?page=2&page_size=3").json()
    assert [(row["position"], row["username"]) for row in second_page["items"]] == [
        (4, "Alpha")]


def test_the_city_filter_folds_case_but_keeps_accents(
    client: TestClient, sink: DatabaseSink, pipeline: MediaPipeline, small_video: Path
) -> None:
    cities = {"bog_accent": "Bogotá", "bog_plain": "Bogota", "straße": "Straße",
              "decomposed": "Bogota\u0301"}
    for name, city in cities.items():
        token = signup(client, name.replace("ß", "ss"), city=city)
        published_video(client, sink, pipeline, token, small_video)

    def names(city: str) -> set[str]:
        response = client.get("/api/public/rankings", params={"city": city})
        assert response.status_code == 200
        return {row["username"] for row in response.json()["items"]}

    assert names("BOGOTÁ") == {"bog_accent", "decomposed"}
    assert names("bogotá") == {"bog_accent", "decomposed"}
    assert names("BOGOTA") == {"bog_plain"}
    assert names("STRASSE") == {"strasse"}
    assert names("Nowhere") == set()
    assert client.get("/api/public/rankings", params={"city": "a\x00b"}).status_code == 422
