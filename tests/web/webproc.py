"""``anb web`` as a real child process: what runs on an instance, sockets and all."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from anb_pipeline.emulator import free_port

from .conftest import JWT_SECRET

START_TIMEOUT_S = 60


def web_env(*, database_url: str, tmp_path: Path, **extra: str) -> dict[str, str]:
    return {**os.environ, "ANB_JWT_SECRET": JWT_SECRET, "ANB_DATABASE_URL": database_url,
            "ANB_BROKER_URL": "stub://", "ANB_STORAGE_URL": f"file://{tmp_path / 'storage'}",
            "ANB_WORK_DIR": str(tmp_path / "work"), **extra}


class WebProcess:
    def __init__(self, env: dict[str, str], *, log_path: Path, workers: int = 1) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "anb_pipeline.cli", "web", "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", str(workers)],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> WebProcess:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"anb web exited: {self.log_path.read_text()}")
            try:
                if httpx.get(f"{self.url}/health/live", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"anb web did not start: {self.log_path.read_text()}")

    def terminate(self, *, timeout_s: float = 30) -> int:
        """SIGTERM, as systemd or ``anb up`` sends it; the exit code."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout_s)
        finally:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
            self.log.close()
