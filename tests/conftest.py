"""Shared fixtures: real services, a real AWS emulator, real generated videos.

Tests that need a local PostgreSQL, Redis or RabbitMQ skip with a reason when it is absent,
and fail instead when ANB_REQUIRE_SERVICES=1 (CI sets it).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from anb_pipeline.emulator import EMULATOR_CREDENTIALS, free_port
from anb_pipeline.media import ffmpeg_exe

SUPPORT_DIR = Path(__file__).parent / "support"
# The stand-in third-party plugin package: importable here and in worker subprocesses.
sys.path.insert(0, str(SUPPORT_DIR))
os.environ["PYTHONPATH"] = os.pathsep.join(
    filter(None, [str(SUPPORT_DIR), os.environ.get("PYTHONPATH")])
)

REQUIRE_SERVICES = os.environ.get("ANB_REQUIRE_SERVICES") == "1"
POSTGRES_URL = os.environ.get("ANB_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("ANB_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
RABBITMQ_URL = os.environ.get("ANB_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")

for _name, _value in EMULATOR_CREDENTIALS.items():
    os.environ.setdefault(_name, _value)
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    if port_open(host, port):
        return
    message = f"{name} is not running on {host}:{port}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message}, and ANB_REQUIRE_SERVICES=1")
    pytest.skip(message)


@pytest.fixture(scope="session")
def aws_endpoint() -> Iterator[str]:
    """A moto server in its own process, as workers in other processes need to reach it."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "anb_pipeline.emulator", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while not port_open("127.0.0.1", port):
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            pytest.fail("the moto emulator did not start")
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


@pytest.fixture
def namespace() -> str:
    """A queue namespace of this test's own, so tests never see each other's messages."""
    return "t" + uuid.uuid4().hex[:10]


def make_video(
    path: Path, *, width: int = 320, height: int = 180, seconds: float = 2.0, fps: int = 30,
    audio: bool = True, extra_args: tuple[str, ...] = (),
) -> Path:
    """A real H.264 video from ffmpeg's test sources (moving pattern, optional tone)."""
    args = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc2=s={width}x{height}:r={fps}:d={seconds}"]
    if audio:
        args += ["-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds}"]
    args += ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", *extra_args]
    if audio:
        args += ["-c:a", "aac", "-shortest"]
    subprocess.run([*args, str(path)], check=True)
    return path


@pytest.fixture
def sample_video(tmp_path: Path) -> Path:
    return make_video(tmp_path / "sample.mp4")
