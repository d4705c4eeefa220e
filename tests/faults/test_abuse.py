"""Abuse of the API: forged tokens on every route, hostile uploads, login brute force,
vote stuffing. On SQLite and PostgreSQL (the ``database_url`` fixture runs both)."""

from __future__ import annotations

import base64
import concurrent.futures
import dataclasses
import json
import re
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
from joserfc import jwt
from joserfc.jwk import OctKey
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from anb_pipeline import MediaPipeline
from anb_web.ratelimit import DatabaseFailureLog, LoginLimiter
from anb_web.security import derive_key
from anb_web.sink import DatabaseSink
from web.conftest import JWT_SECRET, PASSWORD, LiveServer, bearer, publish, signup, upload

ORIGINAL_KEY = re.compile(r"originals/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.mp4")


def forged(*, sub: str, secret: str = JWT_SECRET, exp_offset_s: int = 3600) -> str:
    now = int(time.time())
    key = OctKey.import_key(derive_key(secret, purpose="anb-jwt-v1"))
    claims = {"sub": sub, "jti": uuid.uuid4().hex, "iat": now, "exp": now + exp_offset_s}
    return jwt.encode({"alg": "HS256"}, claims, key)


def unsigned(*, sub: str) -> str:
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part({'sub': sub, 'exp': int(time.time()) + 3600})}."


def user_id(token: str) -> str:
    payload = token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"])


def api_routes(app: Starlette) -> list[tuple[str, str]]:
    """(method, path) of every API route the app registers; the matrix covers them all."""
    found = []
    for route in app.routes:
        if isinstance(route, Route) and route.path.startswith(("/api/", "/health")):
            methods = route.methods or set()
            # Starlette adds HEAD to every GET route; a route declared for HEAD (tus) counts.
            found += [(method, route.path) for method in sorted(methods)
                      if method != "HEAD" or "GET" not in methods]
    return found


def secured(client: TestClient) -> set[tuple[str, str]]:
    """Operations that need a user's token (``/metrics`` has a token of its own)."""
    paths = client.get("/openapi.json").json()["paths"]
    return {(method.upper(), path) for path, item in paths.items()
            for method, operation in item.items()
            if isinstance(operation, dict)
            and any("bearer" in scheme for scheme in operation.get("security", []))}


#: What a tus client sends besides ``Tus-Resumable``, per method (a 1 KiB upload).
TUS_HEADERS = {
    "POST": {"Tus-Resumable": "1.0.0", "Upload-Length": "1024", "Upload-Metadata": "title dA=="},
    "PATCH": {"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
}

#: Routes where a token is optional (it only adds ``voted``); a bad token is still 401.
OPTIONAL_AUTH = {("GET", "/api/public/videos")}


def test_authorization_matrix_lets_only_the_owner_through(
    client: TestClient, app: Starlette, sink: DatabaseSink, pipeline: MediaPipeline,
    small_video: Path,
) -> None:
    owner, other = signup(client, "owner"), signup(client, "intruder")
    video = upload(client, owner, small_video).json()["id"]
    publish(sink, pipeline, video)
    bad_tokens = {
        "none": None, "expired": forged(sub=user_id(owner), exp_offset_s=-60),
        "other key": forged(sub=user_id(owner), secret="not-our-secret"),
        "alg none": unsigned(sub=user_id(owner)), "garbage": "a.b.c",
        "unknown user": forged(sub="00000000-0000-0000-0000-000000000000"),
    }
    protected = secured(client)
    routes = api_routes(app)
    assert protected and protected <= set(routes), "every secured operation is a real route"

    created = client.post("/api/uploads/", headers={**bearer(owner), **TUS_HEADERS["POST"]})
    assert created.status_code == 201, created.text
    upload_id = created.headers["Location"].rstrip("/").rsplit("/", 1)[-1]

    def call(method: str, path: str, token: str | None) -> httpx.Response:
        headers = bearer(token) if token else {}
        url = path.replace("{video_id}", video).replace("{upload_id}", upload_id)
        if path.startswith("/api/uploads/"):  # as a tus client asks: the protocol's headers
            headers.update({"Tus-Resumable": "1.0.0", **TUS_HEADERS.get(method, {})})
        if (method, path) == ("POST", "/api/videos"):
            with open(small_video, "rb") as stream:
                return client.post(url, headers=headers, data={"title": "t"},
                                   files={"file": ("c.mp4", stream, "video/mp4")})
        return client.request(method, url, headers=headers)

    outcomes: dict[str, int] = Counter()
    wrong: list[str] = []
    for method, path in routes:
        for name, token in bad_tokens.items():
            response = call(method, path, token)
            outcomes[str(response.status_code)] += 1
            if (method, path) in OPTIONAL_AUTH and token is None:
                if response.status_code != 200:  # anonymous reading is allowed there
                    wrong.append(f"{name} {method} {path}: {response.status_code}")
            elif (method, path) in protected:
                if response.status_code != 401 or response.headers.get("www-authenticate") != "Bearer":
                    wrong.append(f"{name} {method} {path}: {response.status_code}")
            elif response.status_code >= 500:
                wrong.append(f"{name} {method} {path}: {response.status_code}")
        if (method, path) in protected and path != "/api/auth/logout":
            # A valid token of another user: never the owner's data. (Logging out would
            # only end the intruder's own token, and with it the rest of this check.)
            response = call(method, path, other)
            outcomes[str(response.status_code)] += 1
            if path in ("/api/videos/{video_id}", "/api/uploads/{upload_id}") \
                    and response.status_code != 403:
                wrong.append(f"intruder {method} {path}: {response.status_code}")
            if (method, path) == ("GET", "/api/videos") and video in response.text:
                wrong.append("intruder sees the owner's video in the list")
    own_vote = call("POST", "/api/public/videos/{video_id}/vote", owner)

    tried = sum(outcomes.values())
    print(f"\nauthorization matrix: {len(routes)} routes x {len(bad_tokens)} bad tokens + intruder: "
          f"{tried} requests, statuses {dict(sorted(outcomes.items()))}, wrong: {wrong}")
    assert wrong == []
    assert own_vote.status_code == 403
    assert client.get(f"/api/videos/{video}", headers=bearer(owner)).status_code == 200, \
        "the owner's video survived every intruder DELETE"


def multipart(*, filename: bytes, content_type: bytes, data: bytes) -> tuple[bytes, str]:
    """A hand-built body, so hostile filenames reach the server byte for byte."""
    boundary = "anbfaultboundary"
    body = (
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\nhostile\r\n"
        f"--{boundary}\r\n".encode()
        + b'Content-Disposition: form-data; name="file"; filename="' + filename + b'"\r\n'
        + b"Content-Type: " + content_type + b"\r\n\r\n" + data + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


def test_hostile_uploads_are_refused_or_contained(
    client: TestClient, pipeline: MediaPipeline, small_video: Path, tmp_path: Path
) -> None:
    token = signup(client, "uploader")
    video = small_video.read_bytes()
    cases: dict[str, tuple[bytes, bytes, bytes, int]] = {
        "text with a video type": (b"clip.mp4", b"video/mp4", b"just text, not a video" * 50, 415),
        "PNG with a video type": (b"clip.mp4", b"video/mp4", b"\x89PNG\r\n\x1a\n" + b"\0" * 512, 415),
        "video typed text/plain": (b"notes.txt", b"text/plain", video, 201),
        "video typed octet-stream": (b"blob", b"application/octet-stream", video, 201),
        "path traversal": (b"../../etc/passwd", b"video/mp4", video, 201),
        "absolute path": (b"/etc/cron.d/evil.mp4", b"video/mp4", video, 201),
        "backslash traversal": (b"..\\..\\windows\\win.ini", b"video/mp4", video, 201),
        "NUL byte": (b"clip\x00.sh.mp4", b"video/mp4", video, 201),
        # Over the multipart parser's header limit: refused as malformed input.
        "10 KB name": (b"a" * 10_240 + b".mp4", b"video/mp4", video, 422),
        "non-UTF-8 name": (b"\xff\xfe\xfd.mp4", b"video/mp4", video, 201),
    }
    statuses = {}
    for name, (filename, content_type, data, _) in cases.items():
        body, header = multipart(filename=filename, content_type=content_type, data=data)
        response = client.post("/api/videos", headers={**bearer(token), "Content-Type": header},
                               content=body)
        statuses[name] = response.status_code
    oversized = b"\0" * (5 * 1024 * 1024)  # the fixture's limit is 4 MiB
    body, header = multipart(filename=b"big.mp4", content_type=b"video/mp4", data=oversized)
    statuses["oversized, with length"] = client.post(
        "/api/videos", headers={**bearer(token), "Content-Type": header}, content=body).status_code
    statuses["oversized, chunked"] = client.post(
        "/api/videos", headers={**bearer(token), "Content-Type": header},
        content=iter([body[i:i + 65536] for i in range(0, len(body), 65536)])).status_code

    expected = {name: case[3] for name, case in cases.items()} | {
        "oversized, with length": 413, "oversized, chunked": 413}
    keys = pipeline.storage.list("")
    print(f"\nhostile uploads: {len(statuses)} tried, statuses {statuses}, "
          f"5xx: {sum(code >= 500 for code in statuses.values())}, stored keys: {len(keys)}")
    assert statuses == expected
    assert len(keys) == list(statuses.values()).count(201)
    assert all(ORIGINAL_KEY.fullmatch(key) for key in keys), keys
    assert not [p for p in tmp_path.rglob("*") if p.name in ("passwd", "evil.mp4", "win.ini")]


@dataclasses.dataclass
class FakeClock:
    now_s: float = 1000.0

    def __call__(self) -> float:
        return self.now_s


def test_login_brute_force_is_refused_then_the_owner_logs_in_after_the_window(
    app: Starlette, client: TestClient
) -> None:
    clock = FakeClock()
    limiter = LoginLimiter(log=DatabaseFailureLog(app.state.services.database), max_failures=3,
                           max_failures_per_client=6, window_s=60, clock=clock)
    app.state.services = dataclasses.replace(app.state.services, login_limiter=limiter)
    signup(client, "victim")

    def login(username: str, password: str) -> httpx.Response:
        return client.post("/api/auth/login", json={"username": username, "password": password})

    guesses = [login("victim", f"guess-{n}") for n in range(10)]
    refused = [r for r in guesses if r.status_code == 429]
    right_during = login("victim", PASSWORD)
    clock.now_s += 61
    right_after = login("victim", PASSWORD)
    # Spraying many accounts from one client trips the per-client window instead.
    spray = [login(f"nobody{n}", "guess") for n in range(8)]

    codes = Counter(r.status_code for r in guesses + spray)
    print(f"\nlogin brute force: {len(guesses) + len(spray)} guesses, statuses {dict(codes)}; "
          f"right password during the lockout {right_during.status_code}, after it "
          f"{right_after.status_code}")
    assert [r.status_code for r in guesses] == [401] * 3 + [429] * 7
    assert all(int(r.headers["retry-after"]) in range(1, 61) for r in refused)
    assert right_during.status_code == 429
    assert right_after.status_code == 200
    assert [r.status_code for r in spray] == [401] * 6 + [429] * 2


def test_concurrent_vote_stuffing_never_counts_twice(
    app: Starlette, client: TestClient, sink: DatabaseSink, pipeline: MediaPipeline,
    small_video: Path,
) -> None:
    owner = signup(client, "star")
    videos = [upload(client, owner, small_video, title=f"v{n}").json()["id"] for n in range(3)]
    for video in videos:
        publish(sink, pipeline, video)
    fans = [signup(client, f"fan{n}") for n in range(6)]
    repeats = 4
    requests = [(fan, video) for fan in fans for video in videos for _ in range(repeats)]

    with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        def vote(request: tuple[str, str]) -> int:
            fan, video = request
            return http.post(f"/api/public/videos/{video}/vote", headers=bearer(fan)).status_code

        with concurrent.futures.ThreadPoolExecutor(max_workers=24) as pool:
            codes = Counter(pool.map(vote, requests))
        counts = {item["id"]: item["votes"] for item in http.get("/api/public/videos").json()["items"]}

    print(f"\nvote stuffing: {len(requests)} concurrent votes by {len(fans)} fans on "
          f"{len(videos)} videos, statuses {dict(codes)}, counted {sum(counts.values())} "
          f"(expected {len(fans) * len(videos)})")
    assert codes == {201: len(fans) * len(videos), 409: len(fans) * len(videos) * (repeats - 1)}
    assert counts == {video: len(fans) for video in videos}
