"""The HTML pages without a browser: auth rules, CSRF, readable errors, tokens kept out of URLs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.testclient import TestClient

from anb_pipeline import MediaPipeline
from anb_web import public
from anb_web.pages.session import SESSION_COOKIE
from anb_web.sink import DatabaseSink

from .conftest import PASSWORD, bearer, publish, signup, upload

CSRF_META = re.compile(r'<meta name="csrf-token" content="([0-9a-f]*)">')


def csrf(client: TestClient, path: str = "/signup") -> str:
    page = client.get(path)
    assert page.status_code == 200, page.text
    found = CSRF_META.search(page.text)
    assert found is not None
    return found.group(1)


def page_signup(client: TestClient, username: str, **fields: str) -> None:
    response = client.post("/signup", follow_redirects=False, data={
        "csrf_token": csrf(client), "username": username, "email": f"{username}@example.org",
        "password": PASSWORD, **fields})
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/my/videos"


def browser(app: Starlette) -> TestClient:
    """Another browser: a cookie jar of its own."""
    return TestClient(app, raise_server_exceptions=False)


def test_public_pages_render_without_login_and_private_ones_ask_for_it(client: TestClient) -> None:
    for path in ("/showcase", "/rankings", "/login", "/signup"):
        page = client.get(path)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert '<html lang="en">' in page.text and "<h1>" in page.text
        assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "Log in</a> to vote" in client.get("/showcase").text
    mine = client.get("/my/videos", follow_redirects=False)
    assert mine.status_code == 303
    assert mine.headers["location"] == "/login?next=%2Fmy%2Fvideos"
    assert client.get("/", follow_redirects=False).headers["location"] == "/showcase"


def test_signup_sets_an_httponly_strict_cookie_and_keeps_the_token_out_of_pages_and_urls(
    client: TestClient,
) -> None:
    response = client.post("/signup", follow_redirects=False, data={
        "csrf_token": csrf(client), "username": "ana", "email": "ana@example.org",
        "password": PASSWORD, "city": "Bogotá"})
    cookie = response.headers["set-cookie"]
    token = client.cookies[SESSION_COOKIE]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    assert token not in response.headers["location"]
    page = client.get("/my/videos")
    assert "Signed in as <strong>ana</strong>" in page.text
    assert token not in page.text
    for url in re.findall(r'(?:href|src|action)="([^"]*)"', page.text):
        assert "token" not in url and token not in url


def test_the_cookie_is_secure_behind_https(client: TestClient) -> None:
    response = client.post("/signup", follow_redirects=False,
                           headers={"x-forwarded-proto": "https"}, data={
                               "csrf_token": csrf(client), "username": "sec",
                               "email": "sec@example.org", "password": PASSWORD})
    assert "Secure" in response.headers["set-cookie"]


@pytest.mark.parametrize("supplied", [None, "", "0" * 64])
def test_forms_without_the_right_csrf_token_are_refused(
    client: TestClient, supplied: str | None
) -> None:
    csrf(client)  # the browser has its form cookie; only the token is missing or wrong
    data = {"username": "mallory", "email": "m@example.org", "password": PASSWORD}
    if supplied is not None:
        data["csrf_token"] = supplied
    response = client.post("/signup", data=data)
    assert response.status_code == 403
    assert "did not come from this site" in response.text
    assert SESSION_COOKIE not in client.cookies


def test_a_csrf_token_of_another_browser_or_session_is_refused(
    client: TestClient, app: Starlette
) -> None:
    other = browser(app)
    stolen = csrf(other)
    csrf(client)
    refused = client.post("/signup", data={"csrf_token": stolen, "username": "eve",
                                           "email": "eve@example.org", "password": PASSWORD})
    assert refused.status_code == 403
    # Before and after login the token differs: a token from the login form is no good later.
    before = csrf(client)
    page_signup(client, "carol")
    after = csrf(client, "/my/videos")
    assert after != before
    assert client.post("/logout", data={"csrf_token": before}).status_code == 403
    session_token = client.cookies[SESSION_COOKIE]
    assert client.post("/logout", data={"csrf_token": after},
                       follow_redirects=False).status_code == 303
    assert SESSION_COOKIE not in client.cookies
    # Revoked, not only forgotten: a copy of the cookie no longer works.
    assert client.get("/api/videos", headers=bearer(session_token)).status_code == 401


def test_login_errors_are_shown_on_the_form(client: TestClient) -> None:
    signup(client, "dora")
    wrong = client.post("/login", data={"csrf_token": csrf(client, "/login"),
                                        "username": "dora", "password": "not the password"})
    assert wrong.status_code == 401
    assert "Wrong username or password" in wrong.text and 'value="dora"' in wrong.text
    assert "Traceback" not in wrong.text
    empty = client.post("/login", data={"csrf_token": csrf(client, "/login")})
    assert empty.status_code == 422 and "This field is required" in empty.text
    ok = client.post("/login", follow_redirects=False, data={
        "csrf_token": csrf(client, "/login"), "username": "DORA@example.org",
        "password": PASSWORD, "next": "https://evil.example/"})
    assert ok.status_code == 303 and ok.headers["location"] == "/my/videos"


def test_signup_errors_name_the_fields(client: TestClient) -> None:
    signup(client, "taken")
    page = client.post("/signup", data={"csrf_token": csrf(client), "username": "taken",
                                        "email": "bad", "password": "short"})
    assert page.status_code == 422
    assert 'aria-invalid="true"' in page.text
    assert "Must be a valid email address" in page.text
    duplicate = client.post("/signup", data={"csrf_token": csrf(client), "username": "TAKEN",
                                             "email": "new@example.org", "password": PASSWORD})
    assert duplicate.status_code == 409 and "This username is taken" in duplicate.text


def test_page_actions_follow_the_api_rules_and_need_csrf(
    client: TestClient, app: Starlette, small_video: Path, sink: DatabaseSink,
    pipeline: MediaPipeline,
) -> None:
    owner_token = signup(client, "owner")
    video_id = upload(client, owner_token, small_video).json()["id"]
    publish(sink, pipeline, video_id)
    fan = browser(app)
    page_signup(fan, "fan")
    token = csrf(fan, "/showcase")
    json_headers = {"accept": "application/json"}
    vote_url = f"/page-api/videos/{video_id}/vote"

    assert fan.post(vote_url, headers=json_headers).status_code == 403
    first = fan.post(vote_url, headers={**json_headers, "x-csrf-token": token})
    assert first.status_code == 201 and first.json() == {"video_id": video_id, "votes": 1}
    again = fan.post(vote_url, headers={**json_headers, "x-csrf-token": token})
    assert again.status_code == 409
    assert again.json() == {"detail": "You have already voted for this video"}
    # Another user's video: the API's 403, through the page too.
    status = fan.get(f"/page-api/videos/{video_id}", headers=json_headers)
    assert status.status_code == 403
    assert browser(app).get(f"/page-api/videos/{video_id}").status_code == 401
    # A plain form post (no script) asks first on a page of its own, then deletes and lands
    # back on the list.
    mine = upload(client, owner_token, small_video).json()["id"]
    owner = browser(app)
    owner.post("/login", data={"csrf_token": csrf(owner, "/login"), "username": "owner",
                               "password": PASSWORD})
    asked = owner.post(f"/page-api/videos/{mine}/delete", follow_redirects=False,
                       data={"csrf_token": csrf(owner, "/my/videos")})
    assert asked.status_code == 200 and "Delete “My skills”?" in asked.text
    assert 'name="confirm" value="yes"' in asked.text
    assert client.get(f"/api/videos/{mine}", headers=bearer(owner_token)).status_code == 200
    deleted = owner.post(f"/page-api/videos/{mine}/delete", follow_redirects=False,
                         data={"csrf_token": csrf(owner, "/my/videos"), "confirm": "yes"})
    assert deleted.status_code == 303 and deleted.headers["location"] == "/my/videos"
    assert client.get(f"/api/videos/{mine}", headers=bearer(owner_token)).status_code == 404
    refused = owner.post(f"/page-api/videos/{video_id}/delete",
                         data={"csrf_token": csrf(owner, "/my/videos"), "confirm": "yes"})
    assert refused.status_code == 409 and "has votes cannot be deleted" in refused.text


def test_uploads_from_pages_need_the_csrf_header(
    client: TestClient, small_video: Path
) -> None:
    page_signup(client, "uploader")
    token = csrf(client, "/my/videos")
    with open(small_video, "rb") as stream:
        refused = client.post("/page-api/videos", data={"title": "x"},
                              files={"file": ("clip.mp4", stream, "video/mp4")})
    assert refused.status_code == 403
    with open(small_video, "rb") as stream:
        created = client.post("/page-api/videos", data={"title": "<script>x</script>"},
                              headers={"x-csrf-token": token, "accept": "application/json"},
                              files={"file": ("clip.mp4", stream, "video/mp4")})
    assert created.status_code == 201, created.text
    assert created.json()["processing_status"] == "pending"
    page = client.get("/my/videos").text
    assert "&lt;script&gt;x&lt;/script&gt;" in page and "<script>x</script>" not in page


def test_the_api_still_wants_a_bearer_token_and_ignores_the_page_cookie(
    client: TestClient,
) -> None:
    page_signup(client, "cookie_only")
    response = client.get("/api/videos")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert client.put("/api/videos").status_code == 405


def test_an_expired_or_forged_session_cookie_counts_as_logged_out(client: TestClient) -> None:
    client.cookies.set(SESSION_COOKIE, "not.a.jwt")
    page = client.get("/my/videos", follow_redirects=False)
    assert page.status_code == 303
    assert f'{SESSION_COOKIE}=""' in page.headers["set-cookie"]


def test_rankings_page_filters_pages_and_explains_bad_input(
    client: TestClient, small_video: Path, sink: DatabaseSink, pipeline: MediaPipeline,
) -> None:
    for name, city in (("ana", "Bogotá"), ("ben", "Cali")):
        token = signup(client, name, city=city)
        publish(sink, pipeline, upload(client, token, small_video).json()["id"])
    voter = signup(client, "voter")
    video = client.get("/api/public/videos").json()["items"][0]
    client.post(f"/api/public/videos/{video['id']}/vote", headers=bearer(voter))
    page = client.get("/rankings", params={"city": "BOGOTÁ"})
    assert page.status_code == 200
    assert "<th scope=\"row\">ana</th>" in page.text and ">ben<" not in page.text
    bad = client.get("/rankings", params={"page": "zero"})
    assert bad.status_code == 422
    assert "Invalid input" in bad.text and "page: Must be an integer" in bad.text


def test_an_unexpected_error_is_a_readable_page_without_internals(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def explode(request: Request) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr(public, "list_published", explode)
    page = client.get("/showcase")
    assert page.status_code == 500
    assert "Something went wrong on our side" in page.text
    assert "secret" not in page.text and "Traceback" not in page.text
