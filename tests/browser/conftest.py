"""Headless Chromium (Debian's ``chromium`` package) driven by Playwright, against ``anb up``.

Playwright's own browser downloads are never used: the browser is /usr/bin/chromium. When it
or the ``playwright`` package is missing the tests skip, and fail under ANB_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from anb_pipeline.emulator import free_port
from conftest import REQUIRE_SERVICES
from helpers import clean_env, stack_healthy

CHROMIUM = Path(os.environ.get("ANB_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--no-first-run", "--autoplay-policy=no-user-gesture-required",
]
STARTUP_S = 90


def _unavailable(reason: str) -> None:
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason}, and ANB_REQUIRE_SERVICES=1")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@contextlib.contextmanager
def anb_up(data_dir: Path, **env: str) -> Iterator[str]:
    """``anb up`` with one worker, in a subprocess, with ``env`` added to a newcomer's
    environment; its URL once /health answers 200."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = data_dir / "up.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "anb_pipeline.cli", "up", "--port", str(port),
             "--workers", "1", "--data-dir", str(data_dir / "data")],
            env={**clean_env(), **env}, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + STARTUP_S
            while not stack_healthy(url):
                assert process.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "anb up did not come up"
                time.sleep(0.3)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=40)


@pytest.fixture(scope="module")
def anb_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with anb_up(tmp_path_factory.mktemp("anb-up")) as url:
        yield url
