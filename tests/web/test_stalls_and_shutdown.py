"""Stalled request bodies, SIGTERM during an upload, and the spool files left behind."""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from anb_pipeline import MediaPipeline
from anb_web.app import create_app
from anb_web.settings import WebSettings
from anb_web.uploads import SPOOL_PREFIX

from .conftest import PASSWORD, LiveServer
from .webproc import WebProcess, web_env

IDLE_TIMEOUT_S = 1.0
STALLED = 20
BOUNDARY = "stalledboundary"


def signup_live(url: str, username: str) -> str:
    response = httpx.post(f"{url}/api/auth/signup", json={
        "username": username, "email": f"{username}@example.org", "password": PASSWORD})
    assert response.status_code == 201, response.text
    return str(response.json()["access_token"])


def upload_head(token: str, *, port: int, total_bytes: int) -> bytes:
    """Request line, headers and the first part header of a multipart upload."""
    preamble = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"clip.mp4\"\r\nContent-Type: video/mp4\r\n\r\n").encode()
    return (f"POST /api/videos HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: Bearer {token}\r\n"
            f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
            f"Content-Length: {total_bytes}\r\n\r\n").encode() + preamble


def read_until_closed(sock: socket.socket, *, timeout_s: float) -> bytes:
    sock.settimeout(timeout_s)
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


@pytest.fixture
def impatient_app(web_settings: WebSettings, pipeline: MediaPipeline) -> Starlette:
    settings = web_settings.replace(request_body_idle_timeout_s=IDLE_TIMEOUT_S)
    return create_app(settings, pipeline=pipeline)


def test_stalled_bodies_are_answered_408_and_dropped_while_others_are_served(
    impatient_app: Starlette, pipeline: MediaPipeline
) -> None:
    with LiveServer(impatient_app) as server:
        token = signup_live(server.url, "stalled")
        sockets = []
        for index in range(STALLED):
            sock = socket.create_connection(("127.0.0.1", server.port))
            if index % 2:
                # A JSON body: half of it, then silence.
                sock.sendall(b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: "
                             b"application/json\r\nContent-Length: 100\r\n\r\n"
                             b'{"username": "sta')
            else:
                sock.sendall(upload_head(token, port=server.port, total_bytes=1_000_000)
                             + b"\x00" * 4096)
            sockets.append(sock)
        started = time.monotonic()
        # Meanwhile everyone else is served at once.
        with httpx.Client(base_url=server.url, timeout=5) as http:
            assert http.get("/api/public/videos").status_code == 200
        answers = [read_until_closed(sock, timeout_s=IDLE_TIMEOUT_S + 10) for sock in sockets]
        dropped_after_s = time.monotonic() - started
        for sock in sockets:
            sock.close()
    print(f"\n{STALLED} stalled bodies, idle deadline {IDLE_TIMEOUT_S} s: all answered and "
          f"closed within {dropped_after_s:.1f} s")
    for answer in answers:
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert b"stopped arriving" in answer
    assert dropped_after_s < IDLE_TIMEOUT_S + 5
    spool = pipeline.settings.work_dir
    assert not list(spool.glob(f"{SPOOL_PREFIX}*")) if spool.exists() else True


def test_a_slow_but_steady_upload_is_not_cut(
    impatient_app: Starlette, small_video: Path
) -> None:
    """The deadline is per chunk, not per body: 3 s of trickle beats a 1 s idle deadline."""
    data = small_video.read_bytes()
    closing = f"\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"title\"\r\n\r\n" \
              f"slow\r\n--{BOUNDARY}--\r\n".encode()
    with LiveServer(impatient_app) as server:
        token = signup_live(server.url, "trickle")
        head = upload_head(token, port=server.port, total_bytes=0)
        body_start = head.index(b"--" + BOUNDARY.encode())
        body = head[body_start:] + data + closing
        head = head[:body_start].replace(b"Content-Length: 0", f"Content-Length: {len(body)}"
                                         .encode())
        with socket.create_connection(("127.0.0.1", server.port)) as sock:
            sock.sendall(head)
            pieces = 6
            step = len(body) // pieces + 1
            for offset in range(0, len(body), step):
                sock.sendall(body[offset:offset + step])
                time.sleep(IDLE_TIMEOUT_S / 2)
            answer = read_until_closed_or_response(sock)
    assert answer.startswith(b"HTTP/1.1 201 "), answer[:300]


def read_until_closed_or_response(sock: socket.socket) -> bytes:
    sock.settimeout(30)
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    return received


def test_sigterm_during_an_upload_cleans_its_spool_file_and_exits(
    database_url: str, tmp_path: Path
) -> None:
    env = web_env(database_url=database_url, tmp_path=tmp_path, ANB_SHUTDOWN_TIMEOUT_S="2")
    work = Path(env["ANB_WORK_DIR"])
    web = WebProcess(env, log_path=tmp_path / "web.log").wait_ready()
    stop_sending = threading.Event()
    try:
        token = signup_live(web.url, "interrupted")
        sock = socket.create_connection(("127.0.0.1", web.port))
        sock.sendall(upload_head(token, port=web.port, total_bytes=50_000_000))

        def trickle() -> None:
            # A live client on a slow link: never idle long enough to be dropped.
            while not stop_sending.is_set():
                try:
                    sock.sendall(b"\x00" * 1024)
                except OSError:
                    return
                time.sleep(0.2)

        sender = threading.Thread(target=trickle, daemon=True)
        sender.start()
        deadline = time.monotonic() + 20
        while not list(work.glob(f"{SPOOL_PREFIX}*")):
            assert time.monotonic() < deadline, "the upload never reached the spool"
            time.sleep(0.1)
        signalled = time.monotonic()
        code = web.terminate(timeout_s=15)
        stopped_after_s = time.monotonic() - signalled
    finally:
        stop_sending.set()
        web.terminate()
    print(f"\nSIGTERM mid-upload: exited with {code} after {stopped_after_s:.1f} s "
          f"(shutdown timeout 2 s); spool files left: {list(work.glob(SPOOL_PREFIX + '*'))}")
    log = (tmp_path / "web.log").read_text()
    # Uvicorn re-raises the SIGTERM it handled once it has shut down cleanly.
    assert code in (0, -signal.SIGTERM), log
    assert "timeout graceful shutdown exceeded" in log and "Finished server process" in log, log
    assert stopped_after_s < 10
    assert list(work.glob(f"{SPOOL_PREFIX}*")) == []


def test_spool_files_of_dead_processes_are_swept_at_start(
    database_url: str, tmp_path: Path
) -> None:
    env = web_env(database_url=database_url, tmp_path=tmp_path)
    work = Path(env["ANB_WORK_DIR"])
    work.mkdir(parents=True)
    dead_pid = 2**22 + 1  # above Linux's pid_max: never alive
    orphans = [work / f"{SPOOL_PREFIX}{dead_pid}-a1b2c3", work / f"{SPOOL_PREFIX}k3j4h5"]
    sibling = work / f"{SPOOL_PREFIX}{os.getpid()}-live"  # a live process's upload
    other = work / "job-123.mp4"
    for path in [*orphans, sibling, other]:
        path.write_bytes(b"x" * 1024)
    # A directory whose name looks like a spool file (a worker's scratch directory once
    # was, for the upload step): not ours to delete, and no reason to fail the start.
    directory = work / f"{SPOOL_PREFIX}q8w7e6r5"
    (directory / "inside").mkdir(parents=True)
    web = WebProcess(env, log_path=tmp_path / "web.log").wait_ready()
    web.terminate()
    assert [path.exists() for path in orphans] == [False, False]
    assert sibling.exists() and other.exists() and (directory / "inside").is_dir()
