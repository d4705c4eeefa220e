"""The answers and the input limits agree with the served /openapi.json.

Every JSON answer a route gives to valid input is validated against the document's schema
for its status, with ``additionalProperties: false`` on every object (a field the schema
lacks fails), and every 2xx JSON answer the document declares must be among them. Every
length and range limit the document states for a body, query or header is tried at the
limit (accepted) and one past it (a 422 naming that field); the documented patterns accept
exactly what validation accepts.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from starlette.testclient import TestClient

from anb_pipeline import MediaPipeline, PipelineEvent
from anb_web.sink import DatabaseSink

from .conftest import bearer, publish, signup, upload

_names = itertools.count()


def _document(client: TestClient) -> dict[str, Any]:
    return client.get("/openapi.json").json()  # type: ignore[no-any-return]


def _strict(schema: Any) -> Any:
    """``schema`` with ``additionalProperties: false`` on every object that lists its
    properties and says nothing about others."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {key: _strict(value) for key, value in schema.items()}
    if "properties" in strict and "additionalProperties" not in strict:
        strict["additionalProperties"] = False
    return strict


class Conformance:
    """Validates answers against the document; remembers which operations it saw."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.components = _strict(document["components"])
        self.seen: set[tuple[str, str, str]] = set()

    def check(self, response: httpx.Response, *, path: str) -> Any:
        """The answer's JSON, after validating it against ``path``'s declared schema."""
        method = response.request.method.lower()
        status = str(response.status_code)
        declared = self.document["paths"][path][method]["responses"]
        assert status in declared, (path, method, status, response.text)
        schema = declared[status]["content"]["application/json"]["schema"]
        validator = Draft202012Validator({**_strict(schema), "components": self.components})
        data = response.json()
        errors = [f"{list(error.absolute_path)}: {error.message}"
                  for error in validator.iter_errors(data)]
        assert not errors, (path, method, status, errors)
        self.seen.add((path, method, status))
        return data

    def declared_json_successes(self) -> set[tuple[str, str, str]]:
        return {(path, method, status)
                for path, operations in self.document["paths"].items()
                for method, operation in operations.items() if method != "parameters"
                for status, answer in operation["responses"].items()
                if status.startswith("2")
                and "schema" in answer.get("content", {}).get("application/json", {})}


def _fail(sink: DatabaseSink, video_id: str) -> None:
    common = {"video_id": video_id, "message_id": "m1"}
    sink.emit(PipelineEvent(kind="step_started", step="trim", attempt=1, at=100.0, **common))
    sink.emit(PipelineEvent(kind="step_finished", step="trim", attempt=1, at=101.5,
                            seconds=1.5, **common))
    sink.emit(PipelineEvent(kind="pipeline_dead_lettered", step="resize", attempt=3,
                            at=103.0, error="MediaError: ffmpeg failed", **common))


def test_every_json_answer_has_exactly_its_documented_fields(
    client: TestClient, sink: DatabaseSink, pipeline: MediaPipeline, small_video: Path
) -> None:
    contract = Conformance(_document(client))
    check = contract.check
    signed = client.post("/api/auth/signup", json={
        "username": "contract", "email": "contract@example.org", "password": "a passphrase",
        "city": "Cali"})
    token = check(signed, path="/api/auth/signup")["access_token"]
    check(client.post("/api/auth/login", json={"username": "contract",
                                               "password": "a passphrase"}),
          path="/api/auth/login")
    auth = bearer(token)
    created = check(upload(client, token, small_video), path="/api/videos")
    published = check(upload(client, token, small_video, title="published"), path="/api/videos")
    publish(sink, pipeline, published["id"])
    _fail(sink, created["id"])
    check(client.get("/api/videos", headers=auth), path="/api/videos")
    video = "/api/videos/{video_id}"
    failed = check(client.get(f"/api/videos/{created['id']}", headers=auth), path=video)
    assert failed["error"]["retryable"]
    done = check(client.get(f"/api/videos/{published['id']}", headers=auth), path=video)
    assert "error" not in done
    check(client.post(f"/api/videos/{created['id']}/retry", headers=auth),
          path="/api/videos/{video_id}/retry")
    voter = bearer(signup(client, "contract_voter"))
    check(client.post(f"/api/public/videos/{published['id']}/vote", headers=voter),
          path="/api/public/videos/{video_id}/vote")
    for headers in ({}, voter):
        page = check(client.get("/api/public/videos", headers=headers), path="/api/public/videos")
        assert page["items"]
    rankings = check(client.get("/api/public/rankings?city=cali"), path="/api/public/rankings")
    assert rankings["items"]
    check(client.get("/health"), path="/health")
    check(client.get("/health/live"), path="/health/live")
    assert contract.seen >= contract.declared_json_successes()
    # Errors too: a 422 per field, a 409 with per-field errors, a plain 404.
    check(client.post("/api/auth/signup", json={}), path="/api/auth/signup")
    taken = client.post("/api/auth/signup", json={
        "username": "contract", "email": "other@example.org", "password": "a passphrase"})
    assert check(taken, path="/api/auth/signup")["errors"] == {
        "username": "This username is taken"}
    check(client.get("/api/videos/00000000-0000-0000-0000-000000000000", headers=auth),
          path=video)


#: A valid value of exactly ``n`` characters for each documented text field.
SignupSample = Callable[[str, int], str]
SIGNUP_SAMPLES: dict[str, SignupSample] = {
    "username": lambda unique, n: unique.ljust(n, "a"),
    "email": lambda unique, n: unique.ljust(n - len("@example.org"), "a") + "@example.org",
    "password": lambda unique, n: "p" * n,
    **{name: (lambda unique, n: "n" * n)
       for name in ("first_name", "last_name", "city", "country")},
}


def _lengths(schema: dict[str, Any]) -> Iterator[tuple[int, bool]]:
    """(length, valid) pairs at and past the schema's length limits."""
    text = next(variant for variant in schema.get("anyOf", [schema])
                if variant.get("type") == "string")
    if "maxLength" in text:
        yield text["maxLength"], True
        yield text["maxLength"] + 1, False
    if text.get("minLength", 0) > 0:
        yield text["minLength"], True
        yield text["minLength"] - 1, False


def _assert_422_names(response: httpx.Response, field: str, *, valid: bool) -> None:
    wrong = response.status_code == 422 and field in response.json().get("errors", {})
    assert wrong != valid, (field, valid, response.status_code, response.text[:300])


def test_the_signup_and_login_limits_are_the_documented_ones(client: TestClient) -> None:
    schemas = _document(client)["components"]["schemas"]
    signup_fields = schemas["Signup"]["properties"]
    assert set(signup_fields) == set(SIGNUP_SAMPLES), "add a sample for the new field"
    tried = 0
    for field, schema in signup_fields.items():
        for length, valid in _lengths(schema):
            unique = f"u{next(_names)}"
            body = {"username": unique, "email": f"{unique}@example.org",
                    "password": "a passphrase", field: SIGNUP_SAMPLES[field](unique, length)}
            _assert_422_names(client.post("/api/auth/signup", json=body), field, valid=valid)
            tried += 1
    for field, schema in schemas["Login"]["properties"].items():
        for length, valid in _lengths(schema):
            body = {"username": "nobody", "password": "a passphrase", field: "x" * length}
            _assert_422_names(client.post("/api/auth/login", json=body), field, valid=valid)
            tried += 1
    assert tried >= 10


@pytest.mark.parametrize(("field", "sample"), [
    *(("username", sample) for sample in (
        "abc", "a" * 32, "ab", "Name.With-Dots_1", "bad name", "ñandú", "a@b", "x" * 33)),
    *(("email", sample) for sample in (
        "a@b.co", "first.last@example.org", "a@b", "no-at.example.org", "a b@c.de", "a@b.c.",
        "two@@at.de")),
])
def test_the_documented_patterns_are_the_ones_validation_applies(
    client: TestClient, field: str, sample: str
) -> None:
    schema = _document(client)["components"]["schemas"]["Signup"]["properties"][field]
    unique = f"p{next(_names)}"
    response = client.post("/api/auth/signup", json={
        "username": unique, "email": f"{unique}@example.org", "password": "a passphrase",
        field: sample})
    valid = re.search(schema["pattern"], sample) is not None and len(sample) <= schema["maxLength"]
    _assert_422_names(response, field, valid=valid)


def test_the_upload_form_limits_are_the_documented_ones(client: TestClient) -> None:
    token = signup(client, "form_limits")
    form = _document(client)["components"]["schemas"]["Upload"]["properties"]
    tried = 0
    for field, schema in form.items():
        if schema.get("format") == "binary":
            continue
        for length, valid in _lengths(schema):
            fields = {"title": "a title", field: "t" * length}
            # No file: always a 422, which names the field only when the field is wrong.
            response = client.post("/api/videos", headers=bearer(token), data=fields,
                                   files={"other": ("x.txt", b"x", "text/plain")})
            assert "file" in response.json()["errors"]
            _assert_422_names(response, field, valid=valid)
            tried += 1
    assert tried >= 3


def _parameters(document: dict[str, Any], path: str, method: str) -> list[dict[str, Any]]:
    operation = document["paths"][path]
    return [*operation.get("parameters", []), *operation[method].get("parameters", [])]


@pytest.mark.parametrize("path", ["/api/public/videos", "/api/public/rankings"])
def test_the_query_limits_are_the_documented_ones(client: TestClient, path: str) -> None:
    tried = 0
    for parameter in _parameters(_document(client), path, "get"):
        schema, name = parameter["schema"], parameter["name"]
        if schema["type"] == "integer":
            cases = [(schema["maximum"], True), (schema["maximum"] + 1, False),
                     (schema["minimum"], True), (schema["minimum"] - 1, False)]
            values = [(str(number), valid) for number, valid in cases]
        else:
            values = [("c" * length, valid) for length, valid in _lengths(schema)]
        for value, valid in values:
            response = client.get(path, params={name: value})
            _assert_422_names(response, name, valid=valid)
            tried += 1
    assert tried >= 8


def test_the_idempotency_key_limit_is_the_documented_one(client: TestClient) -> None:
    token = signup(client, "keyed")
    header = next(parameter for parameter in _parameters(_document(client), "/api/videos", "post")
                  if parameter["in"] == "header")
    schema = header["schema"]
    for length, valid in _lengths(schema):
        key = "k" * length
        assert (re.search(schema["pattern"], key) is not None) == (length > 0)
        # A valid key goes on to the body, which is not multipart here: 415.
        response = client.post("/api/videos", headers={**bearer(token), header["name"]: key},
                               content=b"x")
        _assert_422_names(response, header["name"], valid=valid)


VALID_SIGNUP = {"username": "messages", "email": "messages@example.org", "password": "a passphrase"}


@pytest.mark.parametrize("changes, errors", [
    ({"username": None}, {"username": "This field is required"}),
    ({"username": "   ", "email": " "},  # blank is missing (it once signed up as "")
     {"username": "This field is required", "email": "This field is required"}),
    ({"email": 42}, {"email": "Must be a string"}),
    ({"username": "x" * 33}, {"username": "Must be 0 to 32 characters"}),
    ({"username": "bad name"},
     {"username": "Must be 3 to 32 characters of letters, digits, '_', '.' or '-'"}),
    ({"email": "a@b"}, {"email": "Must be a valid email address"}),
    ({"password": "short"}, {"password": "Must be 8 to 1024 characters"}),
    ({"city": "nul\u0000byte", "country": "x" * 101},
     {"city": "Must be valid text without NUL characters",
      "country": "Must be 0 to 100 characters"}),
    ({"city": "ß" * 100}, {"city": "Too long once normalized (at most 100 characters)"}),
])
def test_the_422_messages_of_a_signup(
    client: TestClient, changes: dict[str, Any], errors: dict[str, str]
) -> None:
    response = client.post("/api/auth/signup", json={**VALID_SIGNUP, **changes})
    assert response.status_code == 422
    assert response.json() == {"detail": "Invalid input", "errors": errors}


@pytest.mark.parametrize("query, errors", [
    ("page=0&page_size=x", {"page": "Must be an integer from 1 to 10000",
                            "page_size": "Must be an integer from 1 to 100"}),
    ("page=%2B1", {"page": "Must be an integer from 1 to 10000"}),
    ("page=1&city=" + "c" * 101, {"city": "Must be text of at most 100 characters"}),
])
def test_the_422_messages_of_a_query(client: TestClient, query: str, errors: dict[str, str]) -> None:
    response = client.get(f"/api/public/rankings?{query}")
    assert response.status_code == 422
    assert response.json() == {"detail": "Invalid input", "errors": errors}


def test_the_422_messages_of_an_upload_form_and_of_tus_metadata(client: TestClient) -> None:
    token = signup(client, "messages_form")
    form = client.post("/api/videos", headers=bearer(token), data={"title": " "},
                       files={"other": ("x.txt", b"x", "text/plain")})
    assert form.json() == {"detail": "Invalid input", "errors": {
        "title": "Must be 1 to 200 characters", "file": "A video file is required"}}
    tus = client.post("/api/uploads/", headers={**bearer(token), "Tus-Resumable": "1.0.0",
                                                "Upload-Length": "10", "Upload-Metadata": ""})
    assert tus.status_code == 422
    assert tus.json() == {"detail": "Invalid input",
                          "errors": {"Upload-Metadata title": "This field is required"}}
