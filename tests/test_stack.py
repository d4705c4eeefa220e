"""``anb up`` and ``anb demo`` as a newcomer runs them: subprocesses, real ports, real files."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import httpx
import psutil
import pytest

from anb_pipeline.emulator import free_port
from anb_pipeline.procs import descendants
from conftest import make_video
from helpers import clean_env, stack_healthy

pytestmark = pytest.mark.media
STOP_BUDGET_S = 30  # SPEC section 6: every child stopped within 30 s


class Up:
    def __init__(self, data_dir: Path, *, workers: int = 1, web_workers: int = 1) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / f"up-{self.port}.log"
        self.log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "anb_pipeline.cli", "up", "--port", str(self.port),
             "--workers", str(workers), "--web-workers", str(web_workers),
             "--data-dir", str(data_dir)],
            env=clean_env(), stdout=self.log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 90
        while not stack_healthy(self.url):
            assert self.process.poll() is None, self.log_path.read_text()
            assert time.monotonic() < deadline, "anb up did not come up"
            time.sleep(0.3)

    def banner_value(self, label: str) -> str:
        """A value of ``anb up``'s banner: the word after ``label``."""
        found = re.search(re.escape(label) + r"\s+(\S+)", self.log_path.read_text())
        assert found, self.log_path.read_text()
        return found.group(1)

    def descendants(self) -> set[int]:
        return set(descendants(self.process.pid))

    def stop(self) -> float:
        started = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=STOP_BUDGET_S)
        self.log.close()
        return time.monotonic() - started


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


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


def anb(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """An ``anb`` command as an operator runs it: nothing exported."""
    return subprocess.run([sys.executable, "-m", "anb_pipeline.cli", *args], cwd=cwd,
                          env=clean_env(), capture_output=True, text=True, timeout=120)


def test_the_banner_says_where_things_are_and_the_operator_commands_find_the_stack(
    tmp_path: Path,
) -> None:
    # The default data directory, .anb in the working directory: nothing to pass.
    up = Up(tmp_path / ".anb")
    try:
        # Before any upload: every command works with nothing exported.
        for command in (["status"], ["dlq", "list"], ["dlq", "redrive"], ["dlq", "purge", "--yes"],
                        ["reconcile"], ["status", "--json"]):
            result = anb(*command, cwd=tmp_path)
            assert result.returncode == 0, (command, result.stdout + result.stderr)
            assert "Traceback" not in result.stderr, result.stderr
        report = json.loads(anb("status", "--json", cwd=tmp_path).stdout)
        assert [queue["name"] for queue in report["queues"]] == ["anb_video", "anb_video_dlq"]

        demo = anb("demo", "--url", up.url, cwd=tmp_path)
        assert demo.returncode == 0, demo.stdout + demo.stderr
        assert "processed 1" in anb("status", cwd=tmp_path).stdout

        # The deployment guide's checks, the way the AWS CLI makes them, at the banner's
        # endpoint, bucket and queue.
        endpoint = up.banner_value("AWS emulator (SQS, S3):")
        session = boto3.Session(aws_access_key_id="anb-local", aws_secret_access_key="anb-local",
                                region_name=up.banner_value("region"))
        sqs = session.client("sqs", endpoint_url=endpoint)
        queue_url = sqs.get_queue_url(QueueName=up.banner_value("queues:").rstrip(","))["QueueUrl"]
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=[
            "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
        assert attributes == {"ApproximateNumberOfMessages": "0",
                              "ApproximateNumberOfMessagesNotVisible": "0"}
        s3 = session.client("s3", endpoint_url=endpoint)
        bucket = up.banner_value("bucket:")
        listing = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
        top = {prefix["Prefix"] for prefix in listing.get("CommonPrefixes", [])}
        assert top <= {"originals/", "processed/", "work/"} and {"originals/", "processed/"} <= top
        video_id = demo.stdout.split("uploaded video ")[1].split()[0]
        for prefix, suffix in (("originals/", ".mp4"), ("processed/", ".mp4")):
            keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix)["Contents"]]
            assert [key for key in keys if key.endswith(suffix)] == [f"{prefix}{video_id}{suffix}"]
    finally:
        up.stop()
    assert not (tmp_path / ".anb" / "stack.json").exists()
    stopped = anb("status", cwd=tmp_path)
    assert stopped.returncode == 2 and "Traceback" not in stopped.stderr
    assert "no `anb up` is running with data directory .anb" in stopped.stderr


def test_children_stop_when_anb_up_is_killed(tmp_path: Path) -> None:
    up = Up(tmp_path / "data", web_workers=1)
    children = up.descendants()
    assert len(children) >= 3, "web, worker and the worker's process"
    up.process.kill()  # no chance to stop anything itself: the kernel tells the children
    up.process.wait()
    deadline = time.monotonic() + STOP_BUDGET_S
    while (left := [pid for pid in children if alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    up.log.close()
    assert left == [], up.log_path.read_text()
