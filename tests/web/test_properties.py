"""Property tests: whatever a client sends, the server never answers 5xx.

Hypothesis generates malformed JSON bodies, query strings, ids, headers and multipart
forms for every route, on SQLite and PostgreSQL (NUL bytes and lone surrogates are
the classic way to turn a database error into a 500).
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from .conftest import bearer, signup

EXAMPLES = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])
FIELDS = ["username", "email", "password", "first_name", "last_name", "city", "country",
          "title", "description", "page", "page_size"]

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
json_objects = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=10), json_values,
                               max_size=8)
#: Text an HTTP client can put in a URL or form (it cannot encode lone surrogates).
url_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)


@pytest.fixture
def token(client: TestClient) -> str:
    return signup(client, "fuzz_owner")


def assert_not_5xx(response: object) -> None:
    status = response.status_code  # type: ignore[attr-defined]
    assert status < 500, response.text  # type: ignore[attr-defined]


@EXAMPLES
@given(body=json_objects | json_values, path=st.sampled_from(["signup", "login"]))
def test_auth_routes_never_fail_on_json(client: TestClient, body: object, path: str) -> None:
    response = client.post(f"/api/auth/{path}", content=json.dumps(body),
                           headers={"Content-Type": "application/json"})
    assert_not_5xx(response)


@EXAMPLES
@given(raw=st.binary(max_size=200), path=st.sampled_from(["signup", "login"]))
def test_auth_routes_never_fail_on_bytes(client: TestClient, raw: bytes, path: str) -> None:
    assert_not_5xx(client.post(f"/api/auth/{path}", content=raw))


@EXAMPLES
@given(params=st.dictionaries(st.sampled_from(["page", "page_size", "city"]), url_text),
       path=st.sampled_from(["/api/public/videos", "/api/public/rankings"]))
def test_public_lists_never_fail_on_query_strings(
    client: TestClient, params: dict[str, str], path: str
) -> None:
    assert_not_5xx(client.get(path, params=params))


@EXAMPLES
@given(video_id=url_text, method=st.sampled_from(["GET", "DELETE", "VOTE"]))
def test_video_routes_never_fail_on_ids(
    client: TestClient, token: str, video_id: str, method: str
) -> None:
    segment = quote(video_id, safe="")
    if method == "VOTE":
        response = client.post(f"/api/public/videos/{segment}/vote", headers=bearer(token))
    else:
        response = client.request(method, f"/api/videos/{segment}", headers=bearer(token))
    assert_not_5xx(response)


@EXAMPLES
@given(authorization=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126)))
def test_protected_routes_never_fail_on_authorization_headers(
    client: TestClient, authorization: str
) -> None:
    response = client.get("/api/videos", headers={"Authorization": authorization})
    assert response.status_code == 401


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=st.dictionaries(st.sampled_from(["title", "description", "file", "x"]), url_text,
                              max_size=4),
       content=st.binary(max_size=2048), content_type=st.sampled_from(
           ["multipart/form-data", "multipart/form-data; boundary=", "text/plain", ""]))
def test_upload_never_fails_on_forms(
    client: TestClient, token: str, fields: dict[str, str], content: bytes, content_type: str
) -> None:
    form = client.post("/api/videos", headers=bearer(token), data=fields,
                       files={"file": ("f.mp4", content, "video/mp4")})
    assert_not_5xx(form)
    raw = client.post("/api/videos", content=content,
                      headers={**bearer(token), "Content-Type": content_type})
    assert_not_5xx(raw)
