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


#: Any Unicode text a JSON string can carry, biased towards the characters that change
#: length or identity under normalization and case folding (ß, İ, ﬃ, fullwidth, combining).
unicode_text = st.text(
    alphabet=st.characters(codec=None) | st.sampled_from("ßİﬃＡａ①²́ǅ\u0345ŉ"), max_size=120)
identity_shaped = {
    "username": unicode_text | st.text(alphabet="ａｂｃ_.-ßİABC0123", min_size=3, max_size=40),
    "email": st.builds(lambda local, domain: f"{local}@{domain}.org",
                       st.text(alphabet=st.characters(exclude_characters="@ \t\n\r"),
                               min_size=1, max_size=260),
                       st.text(alphabet="abcßİé", min_size=1, max_size=20)),
    "password": unicode_text,
    **{name: unicode_text | json_values | st.text(alphabet="ßﬃİ", min_size=50, max_size=100)
       for name in ("first_name", "last_name", "city", "country")},
}


@EXAMPLES
@given(body=st.fixed_dictionaries({}, optional=identity_shaped))
def test_signup_never_fails_on_unicode_fields(client: TestClient, body: dict[str, object]) -> None:
    response = client.post("/api/auth/signup", content=json.dumps(body),
                           headers={"Content-Type": "application/json"})
    assert_not_5xx(response)
    assert response.status_code in (201, 409, 422), response.text


@EXAMPLES
@given(username=unicode_text | json_values, password=unicode_text | json_values)
def test_login_never_fails_on_unicode_fields(
    client: TestClient, username: object, password: object
) -> None:
    response = client.post("/api/auth/login", headers={"Content-Type": "application/json"},
                           content=json.dumps({"username": username, "password": password}))
    assert response.status_code in (401, 422, 429), response.text


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(depth=st.integers(min_value=100, max_value=50_000),
       opener=st.sampled_from(["[", '{"a":']), path=st.sampled_from(["signup", "login"]))
def test_deeply_nested_bodies_are_422(client: TestClient, depth: int, opener: str,
                                      path: str) -> None:
    closer = "]" if opener == "[" else "}"
    body = opener * depth + "1" + closer * depth
    response = client.post(f"/api/auth/{path}", content=body,
                           headers={"Content-Type": "application/json"})
    assert response.status_code in (413, 422), response.text


@EXAMPLES
@given(params=st.dictionaries(st.sampled_from(["expires", "signature"]), url_text),
       key=url_text)
def test_media_links_never_fail_on_query_strings(
    client: TestClient, params: dict[str, str], key: str
) -> None:
    response = client.get(f"/media/{quote(key)}", params=params)
    assert response.status_code in (403, 404), response.text


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=255,
                                          exclude_characters="\r\n"), max_size=300))
def test_upload_never_fails_on_idempotency_keys(client: TestClient, token: str, key: str) -> None:
    response = client.post("/api/videos", headers={**bearer(token),
                                                   "Idempotency-Key": key.encode("latin-1")},
                           data={"title": "t"}, files={"file": ("f.mp4", b"not a video")})
    assert response.status_code in (415, 422), response.text
