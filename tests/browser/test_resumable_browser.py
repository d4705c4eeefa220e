"""The resumable upload of /my/videos in Chromium: the network drops mid-upload, comes
back, and the upload finishes without starting over."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import make_video

from .conftest import anb_up
from .test_pages_browser import PageProblems, new_page, sign_up

pytestmark = [pytest.mark.media, pytest.mark.slow]
METRICS_TOKEN = "scrape-resumable"
#: The page's tus chunk (CHUNK_BYTES in my_videos.js): the most a drop may make it resend.
PAGE_CHUNK_BYTES = 8 * 1024 * 1024
UPLOAD_BYTES_PER_S = 2 * 1024 * 1024


def received_bytes(url: str) -> float:
    """What the server's tus requests have received so far, resent bytes included."""
    text = httpx.get(f"{url}/metrics",
                     headers={"Authorization": f"Bearer {METRICS_TOKEN}"}).text
    found = re.search(r"^anb_tus_received_bytes_total (\S+)$", text, re.MULTILINE)
    assert found, text
    return float(found.group(1))


def emulate(network: Any, *, offline: bool, upload_bytes_per_s: int) -> None:
    """Chromium's network conditions (DevTools protocol); -1 is no throttling."""
    network.send("Network.emulateNetworkConditions", {
        "offline": offline, "latency": 0, "downloadThroughput": -1,
        "uploadThroughput": upload_bytes_per_s})


@pytest.fixture(scope="module")
def stack_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with anb_up(tmp_path_factory.mktemp("anb-up"), ANB_METRICS_TOKEN=METRICS_TOKEN) as url:
        yield url


@pytest.fixture(scope="module")
def noisy_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Noise does not compress: a 1-second clip of about 12 MiB."""
    return make_video(tmp_path_factory.mktemp("clips") / "noisy.mp4", width=640, height=360,
                      seconds=1.0, extra_args=("-qp", "0", "-vf", "noise=alls=60:allf=t"))


def slow_upload(
    browser: Any, url: str, video: Path, *, title: str, until_percent: int
) -> tuple[Any, PageProblems, Any]:
    """A new player uploads ``video`` at UPLOAD_BYTES_PER_S until the bar shows
    ``until_percent``; the page, its problems, and its DevTools session (to change the
    network conditions with)."""
    page, problems = new_page(browser, url)
    sign_up(page, username=f"phone_{uuid.uuid4().hex[:6]}", city="Cali")
    network = page.context.new_cdp_session(page)
    network.send("Network.enable")
    emulate(network, offline=False, upload_bytes_per_s=UPLOAD_BYTES_PER_S)
    choose_and_upload(page, video, title=title)
    page.wait_for_function(
        "percent => document.getElementById('upload-progress').value >= percent",
        arg=until_percent)
    return page, problems, network


def choose_and_upload(page: Any, video: Path, *, title: str) -> None:
    page.get_by_label("Title").fill(title)
    page.get_by_label("Video file").set_input_files(video)
    page.get_by_role("button", name="Upload", exact=True).click()


def check_resumed(*, size: int, before_bytes: float, total_bytes: float, event: str) -> None:
    """The server's tus byte count shows a resumed upload, not one started over."""
    print(f"\nfile {size} B; server got {before_bytes:.0f} B before {event}, "
          f"{total_bytes:.0f} B in all")
    assert before_bytes > 0
    # Not started over: after the cut the server got less than the whole file...
    assert total_bytes - before_bytes < size
    # ...and no byte twice beyond one chunk.
    assert size <= total_bytes <= size + PAGE_CHUNK_BYTES


def test_an_upload_survives_a_network_drop_without_starting_over(
    browser: Any, stack_url: str, noisy_video: Path
) -> None:
    url, video, size = stack_url, noisy_video, noisy_video.stat().st_size
    start = received_bytes(url)
    page, problems, network = slow_upload(browser, url, video, title="Signal lost",
                                          until_percent=30)
    emulate(network, offline=True, upload_bytes_per_s=-1)
    status = page.locator("#upload-status")
    status.filter(has_text="Connection lost").wait_for()
    time.sleep(1.0)
    before_resume = received_bytes(url) - start
    emulate(network, offline=False, upload_bytes_per_s=-1)
    status.filter(has_text="Processing has started").wait_for(timeout=60_000)
    check_resumed(size=size, before_bytes=before_resume,
                  total_bytes=received_bytes(url) - start, event="the drop")
    assert problems.errors == []


def test_after_a_reload_the_same_file_resumes_where_it_stopped(
    browser: Any, stack_url: str, noisy_video: Path
) -> None:
    url, video, size = stack_url, noisy_video, noisy_video.stat().st_size
    start = received_bytes(url)
    page, problems, network = slow_upload(browser, url, video, title="Reloaded",
                                          until_percent=50)
    page.reload()  # the app is gone mid-upload, as when a phone drops a background tab
    emulate(network, offline=False, upload_bytes_per_s=-1)
    before_resume = received_bytes(url) - start
    choose_and_upload(page, video, title="Reloaded")
    status = page.locator("#upload-status")
    status.filter(has_text="Processing has started").wait_for(timeout=60_000)
    check_resumed(size=size, before_bytes=before_resume,
                  total_bytes=received_bytes(url) - start, event="the reload")
    assert page.locator("li.video").filter(has_text="Reloaded").count() == 1
    assert problems.errors == []
