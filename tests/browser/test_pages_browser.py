"""The pages in a real browser: a player uploads and watches, a fan votes, rankings follow."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from conftest import make_video

pytestmark = [pytest.mark.media, pytest.mark.slow]
PASSWORD = "long-enough-password"
PROCESSING_TIMEOUT_MS = 120_000


class PageProblems:
    """Script errors, CSP violations and failed requests a page reports.

    Chromium also logs every 4xx answer to the console; those are checked as ``failed``
    (status and path) instead, so an expected refusal is told apart from a broken page.
    """

    def __init__(self, page: Any) -> None:
        self.errors: list[str] = []
        self.failed: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("response", self._response)

    def _console(self, message: Any) -> None:
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            path = re.sub(r"[0-9a-f-]{36}|[0-9a-f]{32}", "{id}", response.url.split("/", 3)[3])
            self.failed.append(f"{response.status} /{path}")


def new_page(browser: Any, url: str) -> tuple[Any, PageProblems]:
    context = browser.new_context(base_url=url, viewport={"width": 1280, "height": 800})
    context.set_default_timeout(15_000)
    page = context.new_page()
    return page, PageProblems(page)


def sign_up(page: Any, *, username: str, city: str) -> None:
    page.goto("/signup")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.org")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("City").fill(city)
    page.get_by_role("button", name="Sign up").click()
    page.wait_for_url("**/my/videos")


def log_in(page: Any, *, username: str) -> None:
    page.goto("/login")
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Password").press("Enter")
    page.wait_for_url("**/my/videos")


def ranking_votes(page: Any, username: str) -> str:
    row = page.locator("tbody tr").filter(has=page.get_by_role("rowheader", name=username))
    return str(row.locator("td.num").inner_text())


def test_a_player_uploads_and_plays_a_video_and_a_fan_votes_once(
    browser: Any, anb_url: str, tmp_path: Path
) -> None:
    suffix = uuid.uuid4().hex[:6]
    player, fan = f"player_{suffix}", f"fan_{suffix}"
    title = f"Crossover {suffix}"
    page, problems = new_page(browser, anb_url)

    sign_up(page, username=player, city="Bogotá")
    assert page.evaluate("document.cookie") == "", "the session cookie is HttpOnly"
    page.get_by_label("Title").fill(title)
    page.get_by_label("Video file").set_input_files(make_video(tmp_path / "clip.mp4"))
    page.get_by_role("button", name="Upload", exact=True).click()
    status = page.locator("#upload-status")
    status.filter(has_text="Processing has started").wait_for()
    # The upload is done: its bar gives way to the row's processing status.
    assert page.locator(".upload-progress").is_hidden()

    row = page.locator("li.video").filter(has_text=title)
    # Per-step progress arrived from polling. Attached, not visible: a video processed before
    # its row was drawn shows its player instead, with the steps' panel hidden.
    row.locator(".steps li").first.wait_for(state="attached")
    page.wait_for_function(
        "title => [...document.querySelectorAll('li.video')].some(row =>"
        " row.textContent.includes(title) && row.dataset.status === 'processed')",
        arg=title, timeout=PROCESSING_TIMEOUT_MS,
    )
    assert "trim → bumpers, one pass: done" in row.locator(".steps").inner_text()
    video = row.locator("video")
    video.evaluate("element => { element.muted = true; return element.play(); }")
    page.wait_for_function(
        "element => element.readyState >= 2 && element.currentTime > 0.2",
        arg=video.element_handle(), timeout=30_000,
    )

    # Someone else's upload of a non-video is refused with the API's readable reason.
    junk = tmp_path / "notes.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    page.get_by_label("Title").fill("junk")
    page.get_by_label("Video file").set_input_files(junk)
    page.get_by_role("button", name="Upload", exact=True).click()
    page.get_by_role("alert").filter(has_text="The upload is not a video").wait_for()

    page.goto("/rankings")
    assert ranking_votes(page, player) == "0"

    fan_page, fan_problems = new_page(browser, anb_url)
    sign_up(fan_page, username=fan, city="Medellín")
    fan_page.get_by_role("button", name="Log out").click()
    fan_page.wait_for_url("**/showcase")
    log_in(fan_page, username=fan)
    fan_page.goto("/showcase")
    card = fan_page.locator("li.card").filter(has_text=title)
    card.get_by_role("button", name=re.compile("^Vote")).click()
    card.locator(".vote-message").filter(has_text="your vote counts").wait_for()
    assert card.locator(".count").inner_text() == "1"

    # Voted once: the button gives way to "Voted", so there is no second press.
    assert card.get_by_role("button", name=re.compile("^Vote")).count() == 0
    assert card.locator(".voted").inner_text().startswith("Voted")

    fan_page.goto("/rankings")
    fan_page.get_by_label("City").fill("BOGOTÁ")
    fan_page.get_by_role("button", name="Filter").click()
    fan_page.wait_for_url(re.compile(r"city=BOGOT"))
    assert ranking_votes(fan_page, player) == "1"
    assert fan_page.get_by_role("rowheader", name=fan).count() == 0

    # The player cannot delete a published video that has votes: the 409 reason is shown.
    page.goto("/my/videos")
    row.get_by_role("button", name=re.compile("^Delete")).click()
    page.get_by_role("dialog").get_by_role("button", name="Delete for good").click()
    row.locator(".row-message").filter(has_text="has votes cannot be deleted").wait_for()

    assert problems.errors == [] and fan_problems.errors == []
    assert problems.failed == ["415 /page-api/uploads/{id}", "409 /page-api/videos/{id}/delete"]
    assert fan_problems.failed == []


def test_pages_work_from_the_keyboard(browser: Any, anb_url: str) -> None:
    page, problems = new_page(browser, anb_url)
    page.goto("/login")
    assert page.evaluate("document.documentElement.lang") == "en"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "username"
    page.keyboard.type("nobody_here")
    page.keyboard.press("Tab")
    page.keyboard.type("wrong password")
    page.keyboard.press("Enter")
    page.get_by_role("alert").filter(has_text="Wrong username or password").wait_for()
    assert problems.errors == [] and problems.failed == ["401 /login"]
