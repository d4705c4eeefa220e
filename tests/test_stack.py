"""``anb up`` and ``anb demo`` as a newcomer runs them: subprocesses, real ports, real files."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from anb_pipeline.emulator import free_port
from conftest import make_video
from helpers import clean_env, stack_healthy

pytestmark = pytest.mark.media
STOP_BUDGET_S = 30  # SPEC section 6: every child stopped within 30 s


class Up:
    def __init__(self, data_dir: Path, *, workers: int = 1) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / f"up-{self.port}.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "anb_pipeline.cli", "up", "--port", str(self.port),
             "--workers", str(workers), "--data-dir", str(data_dir)],
            env=clean_env(), stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 90
        while not stack_healthy(self.url):
            assert self.process.poll() is None, self.log_path.read_text()
            assert time.monotonic() < deadline, "anb up did not come up"
            time.sleep(0.3)

    def descendants(self) -> set[int]:
        children: dict[int, list[int]] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
        found, todo = set(), [self.process.pid]
        while todo:
            for child in children.get(todo.pop(), []):
                found.add(child)
                todo.append(child)
        return found

    def stop(self) -> float:
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=STOP_BUDGET_S)
        self.log.close()
        return time.monotonic() - started


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.slow
def test_up_then_demo_processes_a_video_and_stop_leaves_no_process(tmp_path: Path) -> None:
    up = Up(tmp_path / "data")
    try:
        demo = subprocess.run(
            [sys.executable, "-m", "anb_pipeline.cli", "demo", "--url", up.url],
            env=clean_env(), capture_output=True, text=True, timeout=240,
        )
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert "all output invariants hold" in demo.stdout
        assert "'audio_streams': 0" in demo.stdout
        # The default pipeline fuses trim..bumpers: one pass, one time, shown once.
        timings = demo.stdout.split("step timings:")[1].split("output:")[0].strip().splitlines()
        assert len(timings) == 2, timings
        assert timings[0].strip().startswith("trim → bumpers, one pass")
        assert timings[1].split()[0] == "upload"
        children = up.descendants()
        assert len(children) >= 3, "web, worker and the worker's process"
    finally:
        up.stop()
    assert [pid for pid in children if alive(pid)] == []
    assert "ANB stopped" in up.log_path.read_text()


@pytest.mark.slow
def test_a_video_stranded_in_pending_is_processed_after_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    up = Up(data_dir, workers=0)
    try:
        client = httpx.Client(base_url=up.url, timeout=30)
        token = client.post("/api/auth/signup", json={
            "username": "stranded", "email": "s@example.org", "password": "long-enough-1",
        }).json()["access_token"]
        client.headers["Authorization"] = f"Bearer {token}"
        with open(make_video(tmp_path / "in.mp4"), "rb") as stream:
            video = client.post("/api/videos", data={"title": "stranded"},
                                files={"file": ("in.mp4", stream, "video/mp4")}).json()
        assert video["processing_status"] == "pending"
    finally:
        up.stop()

    # A new emulator starts with empty queues: the message is gone, the video is not.
    up = Up(data_dir, workers=1)
    try:
        client = httpx.Client(base_url=up.url, timeout=30, headers=client.headers)
        deadline = time.monotonic() + 120
        while (status := client.get(f"/api/videos/{video['id']}").json()["processing_status"]) \
                not in ("processed", "failed"):
            assert time.monotonic() < deadline, "the stranded video was never processed"
            time.sleep(0.5)
        assert status == "processed"
        assert "re-enqueued 1 stranded video(s)" in up.log_path.read_text()
    finally:
        up.stop()


def test_the_emulator_stands_in_only_for_what_is_not_configured(tmp_path: Path, monkeypatch) -> None:
    import argparse

    from anb_web.stack import Stack

    monkeypatch.setattr(os, "environ", dict(clean_env(), ANB_BROKER_URL="redis://127.0.0.1:6379/9"))
    stack = Stack(argparse.Namespace(host="127.0.0.1", data_dir=tmp_path / "data"))
    stack.configure()
    try:
        assert stack.env["ANB_BROKER_URL"] == "redis://127.0.0.1:6379/9"
        assert stack.env["ANB_STORAGE_URL"].startswith("s3://")
        assert (stack.emulated_queue, stack.emulated_storage) == (False, True)
    finally:
        stack.stop(None)
