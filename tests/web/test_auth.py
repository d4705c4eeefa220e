"""Signup, login and the bearer-token rules of SPEC section 2."""

from __future__ import annotations

import base64
import json
import time

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey
from starlette.testclient import TestClient

from anb_pipeline import ConfigurationError, Settings
from anb_web.security import TokenCodec, derive_key
from anb_web.settings import WebSettings

from .conftest import JWT_SECRET, PASSWORD, bearer, signup


def test_signup_returns_a_token_and_the_user(client: TestClient) -> None:
    body = {"username": "Ana.Maria_9", "email": "Ana@Example.org", "password": PASSWORD,
            "first_name": "Ana", "last_name": "Ruiz", "city": "Bogotá", "country": "Colombia"}
    response = client.post("/api/auth/signup", json=body)
    assert response.status_code == 201
    data = response.json()
    assert data["token_type"] == "bearer"
    assert data["expires_in"] == 3600
    assert data["user"] == {"id": data["user"]["id"], "username": "Ana.Maria_9",
                            "email": "Ana@Example.org", "first_name": "Ana",
                            "last_name": "Ruiz", "city": "Bogotá", "country": "Colombia"}
    assert client.get("/api/videos", headers=bearer(data["access_token"])).status_code == 200


@pytest.mark.parametrize("field, value", [
    ("username", "ab"), ("username", "x" * 33), ("username", "bad name"), ("username", "ñandú"),
    ("username", None), ("email", "not-an-email"), ("email", "a@b"), ("email", 42),
    ("password", "short"), ("password", None), ("city", ["list"]), ("country", "x" * 101),
    ("first_name", "nul\u0000byte"), ("last_name", "\ud800"),
])
def test_signup_rejects_invalid_fields_with_a_message_per_field(
    client: TestClient, field: str, value: object
) -> None:
    body = {"username": "valid_user", "email": "valid@example.org", "password": PASSWORD}
    body[field] = value
    # json.dumps escapes a lone surrogate as JSON allows; httpx's encoder would refuse it.
    response = client.post("/api/auth/signup", content=json.dumps(body),
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"] == "Invalid input"
    assert set(response.json()["errors"]) == {field}


@pytest.mark.parametrize("content", [b"{not json", b"[1, 2]", b"\xff\xfe", b"", b"null"])
def test_a_body_that_is_not_a_json_object_is_422(client: TestClient, content: bytes) -> None:
    for path in ("/api/auth/signup", "/api/auth/login"):
        response = client.post(path, content=content,
                               headers={"Content-Type": "application/json"})
        assert response.status_code == 422
        assert "body" in response.json()["errors"]


def test_duplicates_are_409_case_insensitively(client: TestClient) -> None:
    signup(client, "Player1")
    same_name = {"username": "PLAYER1", "email": "other@example.org", "password": PASSWORD}
    response = client.post("/api/auth/signup", json=same_name)
    assert response.status_code == 409
    assert response.json()["errors"] == {"username": "This username is taken"}
    same_email = {"username": "player2", "email": "PLAYER1@EXAMPLE.ORG", "password": PASSWORD}
    response = client.post("/api/auth/signup", json=same_email)
    assert response.status_code == 409
    assert set(response.json()["errors"]) == {"email"}


def test_login_by_username_or_email(client: TestClient) -> None:
    signup(client, "Dribbler")
    for name in ("dribbler", "DRIBBLER", "Dribbler@example.org"):
        response = client.post("/api/auth/login", json={"username": name, "password": PASSWORD})
        assert response.status_code == 200, name
        data = response.json()
        assert set(data) == {"access_token", "token_type", "expires_in"}
        assert client.get("/api/videos", headers=bearer(data["access_token"])).status_code == 200


def test_wrong_credentials_get_the_same_401_whether_or_not_the_user_exists(
    client: TestClient,
) -> None:
    signup(client, "Guard")
    wrong_password = client.post("/api/auth/login",
                                 json={"username": "guard", "password": "wrong password"})
    no_user = client.post("/api/auth/login",
                          json={"username": "nobody", "password": "wrong password"})
    assert wrong_password.status_code == no_user.status_code == 401
    assert wrong_password.json() == no_user.json()


def test_login_with_missing_fields_is_422(client: TestClient) -> None:
    response = client.post("/api/auth/login", json={"username": "x"})
    assert response.status_code == 422
    assert set(response.json()["errors"]) == {"password"}


def _forged(header: dict[str, object], claims: dict[str, object], signature: str = "") -> str:
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part(claims)}.{signature}"


def _bad_tokens(user_id: str) -> dict[str, str]:
    # Each token is wrong in one way only: otherwise valid claims, including an id.
    live = {"sub": user_id, "jti": "0" * 32, "exp": int(time.time()) + 600}
    real_key = OctKey.import_key(derive_key(JWT_SECRET, purpose="anb-jwt-v1"))
    other_key = OctKey.import_key(derive_key("another secret", purpose="anb-jwt-v1"))
    return {
        "alg none": _forged({"alg": "none", "typ": "JWT"}, live),
        "HS512 with the right key": jwt.encode({"alg": "HS512"}, live, real_key,
                                               algorithms=["HS512"]),
        "another secret": jwt.encode({"alg": "HS256"}, live, other_key),
        "expired": jwt.encode({"alg": "HS256"}, {**live, "exp": 1}, real_key),
        "no expiry": jwt.encode({"alg": "HS256"}, {"sub": user_id, "jti": "0" * 32}, real_key),
        "no token id": jwt.encode({"alg": "HS256"}, {"sub": user_id, "exp": live["exp"]},
                                  real_key),
        "garbage": "not.a.token",
        "empty": "",
    }


def test_missing_malformed_forged_or_expired_tokens_are_401_with_a_bearer_challenge(
    client: TestClient,
) -> None:
    response = client.post("/api/auth/signup", json={
        "username": "victim", "email": "victim@example.org", "password": PASSWORD})
    user_id = response.json()["user"]["id"]
    attempts = {name: bearer(token) for name, token in _bad_tokens(user_id).items()}
    attempts["no header"] = {}
    attempts["basic scheme"] = {"Authorization": "Basic dXNlcjpwYXNz"}
    for name, headers in attempts.items():
        response = client.get("/api/videos", headers=headers)
        assert response.status_code == 401, name
        assert response.headers["WWW-Authenticate"] == "Bearer", name
        assert response.json()["detail"], name


def login(client: TestClient, username: str) -> str:
    response = client.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


def test_logout_revokes_that_token_only(client: TestClient) -> None:
    phone = signup(client, "twodevices")
    laptop = login(client, "twodevices")
    assert client.post("/api/auth/logout", headers=bearer(phone)).status_code == 204
    refused = client.get("/api/videos", headers=bearer(phone))
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
    assert "session has ended" in refused.json()["detail"]
    assert client.post("/api/auth/logout", headers=bearer(phone)).status_code == 401
    assert client.get("/api/videos", headers=bearer(laptop)).status_code == 200
    assert client.post("/api/auth/logout").status_code == 401


def test_a_token_issued_by_the_codec_expires() -> None:
    codec = TokenCodec(secret=JWT_SECRET, ttl_s=1)
    token = codec.issue(user_id="u1")
    assert codec.user_id(token) == "u1"
    claims = jwt.decode(token, codec.key, algorithms=["HS256"]).claims
    assert claims["exp"] - claims["iat"] == 1


def test_settings_refuse_to_start_without_a_jwt_secret() -> None:
    with pytest.raises(ConfigurationError, match="ANB_JWT_SECRET"):
        WebSettings.from_env({}, pipeline=Settings())
    settings = WebSettings.from_env({"ANB_JWT_SECRET": "s", "ANB_JWT_TTL_S": "60",
                                     "ANB_MAX_UPLOAD_BYTES": "1000"}, pipeline=Settings())
    assert (settings.jwt_ttl_s, settings.max_upload_bytes) == (60, 1000)
    assert settings.database_url.startswith("sqlite:///")
    assert "s" not in repr(settings).split("jwt_secret")[-1][:3]
