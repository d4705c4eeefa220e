"""The pages' states in Chromium: forms stopped in the browser, the 404 page, delete after a
confirmation, a failed video explained with Try again, the upload box, Voted, one pass shown
once, and rankings past the last page or on a phone.

The stack runs the default steps with the test plugin ``flaky`` between the fused pass and
``upload``: it raises while the flag file exists, which is how a failure that is ours (not
the file's) is made real, and then fixed, for Try again.
"""

from __future__ import annotations

import contextlib
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
from .test_pages_browser import PASSWORD, PROCESSING_TIMEOUT_MS, log_in, new_page, sign_up

pytestmark = [pytest.mark.media, pytest.mark.slow]
STEPS = "trim,resize,watermark,bumpers,flaky,upload"
PHONE = {"width": 360, "height": 740}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    root = tmp_path_factory.mktemp("anb-up-states")
    flag = root / "fail.flag"
    with anb_up(root, ANB_STEPS=STEPS, ANB_TEST_FAIL_FLAG=str(flag),
                ANB_MIN_BACKOFF_MS="100", ANB_MAX_BACKOFF_MS="300") as url:
        yield url, flag


@pytest.fixture(scope="module")
def published(stack: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A processed video of a player with a 32-character username, uploaded through the API."""
    url, _ = stack
    username = f"rising_star.from-medellin_{uuid.uuid4().hex[:6]}"
    client = httpx.Client(base_url=url, timeout=30)
    token = client.post("/api/auth/signup", json={
        "username": username, "email": f"{username}@example.org", "password": PASSWORD,
        "city": "Medellín"}).json()["access_token"]
    client.headers["Authorization"] = f"Bearer {token}"
    clip = make_video(tmp_path_factory.mktemp("published") / "clip.mp4")
    with open(clip, "rb") as stream:
        video = client.post("/api/videos", data={"title": "Free kick"},
                            files={"file": ("clip.mp4", stream, "video/mp4")}).json()
    deadline = time.monotonic() + PROCESSING_TIMEOUT_MS / 1000
    while (status := client.get(f"/api/videos/{video['id']}").json()["processing_status"]) \
            not in ("processed", "failed"):
        assert time.monotonic() < deadline, "the video was not processed"
        time.sleep(0.5)
    assert status == "processed"
    return {"username": username, "title": "Free kick", "id": video["id"]}


def upload_clip(page: Any, path: Path, title: str) -> Any:
    page.get_by_label("Title").fill(title)
    page.get_by_label("Video file").set_input_files(path)
    page.get_by_role("button", name="Upload", exact=True).click()
    return page.locator("li.video").filter(has=page.get_by_role("heading", name=title))


def wait_status(page: Any, title: str, status: str) -> None:
    page.wait_for_function(
        "([title, status]) => [...document.querySelectorAll('li.video')].some(row =>"
        " row.querySelector('.video-title').textContent === title"
        " && row.dataset.status === status)",
        arg=[title, status], timeout=PROCESSING_TIMEOUT_MS,
    )


def test_empty_forms_are_stopped_in_the_browser_and_carry_autocomplete_hints(
    browser: Any, stack: tuple[str, Path]
) -> None:
    page, problems = new_page(browser, stack[0])
    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)
    forms = {
        ("/signup", "Sign up"): {"username": "username", "email": "email",
                                 "password": "new-password"},
        ("/login", "Log in"): {"username": "username", "password": "current-password"},
    }
    for (path, button), hints in forms.items():
        page.goto(path)
        for name, autocomplete in hints.items():
            field = page.locator(f"input[name={name}]")
            assert field.get_attribute("autocomplete") == autocomplete, (path, name)
            assert field.evaluate("element => element.required"), (path, name)
        page.get_by_role("button", name=button, exact=True).click()
        # The browser refused the empty form and focused its first missing field.
        assert page.evaluate("document.activeElement.name") == "username"
        assert page.locator("input[name=username]").evaluate("e => e.validity.valueMissing")
    assert posts == [] and problems.errors == []


def test_a_browser_gets_the_sites_404_page_and_api_clients_keep_json(
    browser: Any, stack: tuple[str, Path]
) -> None:
    page, problems = new_page(browser, stack[0])
    response = page.goto("/my-videos")
    assert response.status == 404
    assert page.get_by_role("heading", level=1).inner_text() == "Page not found"
    assert page.get_by_role("navigation", name="Main").is_visible()
    page.get_by_role("link", name="Back to the showcase").click()
    page.wait_for_url("**/showcase")
    api = httpx.get(stack[0] + "/my-videos")
    assert api.status_code == 404 and api.json() == {"detail": "Not Found"}
    assert problems.errors == [] and problems.failed == ["404 /my-videos"]


def test_delete_asks_first_and_reports_next_to_the_row(
    browser: Any, stack: tuple[str, Path], tmp_path: Path
) -> None:
    page, problems = new_page(browser, stack[0])
    sign_up(page, username=f"del_{uuid.uuid4().hex[:6]}", city="Cali")
    title = "Keep or delete"
    # Hold the page's status polls, so one is still in flight when the delete lands (the
    # race that once answered it 404): the page must cancel it.
    held: list[Any] = []
    page.route("**/page-api/videos/*", lambda route: held.append(route))
    row = upload_clip(page, make_video(tmp_path / "clip.mp4"), title)
    row.wait_for()
    deadline = time.monotonic() + 15
    while not held and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert held, "the page polls the new video's status"
    deletes: list[str] = []
    page.on("request", lambda request: deletes.append(request.url)
            if request.url.endswith("/delete") else None)

    row.get_by_role("button", name=re.compile("^Delete")).click()
    dialog = page.get_by_role("dialog", name="Delete this video?")
    dialog.wait_for()
    assert f"“{title}”" in dialog.inner_text() and "cannot be undone" in dialog.inner_text()
    assert page.evaluate("document.activeElement.textContent") == "Keep it"
    page.keyboard.press("Escape")
    dialog.wait_for(state="hidden")
    assert row.count() == 1 and deletes == []

    row.get_by_role("button", name=re.compile("^Delete")).click()
    dialog.get_by_role("button", name="Delete for good").click()
    note = page.locator("li.deleted-note")
    note.filter(has_text=f"Deleted “{title}”.").wait_for()
    page.unroute("**/page-api/videos/*")
    for route in held:
        with contextlib.suppress(Exception):  # cancelled by the page: nothing to continue
            route.continue_()
    page.wait_for_timeout(500)
    assert note.evaluate("element => document.activeElement === element")
    assert row.count() == 0 and len(deletes) == 1
    assert "Deleted" not in page.locator("#upload-status").inner_text()
    page.reload()
    assert row.count() == 0
    assert problems.errors == [] and problems.failed == []


def test_a_failed_video_says_what_happened_and_try_again_resumes_at_the_failed_step(
    browser: Any, stack: tuple[str, Path], tmp_path: Path
) -> None:
    url, flag = stack
    page, problems = new_page(browser, url)
    sign_up(page, username=f"retry_{uuid.uuid4().hex[:6]}", city="Pasto")
    calls = flag.with_suffix(".calls")  # the flaky step counts its runs there
    flag.touch()
    try:
        title = "Our fault"
        row = upload_clip(page, make_video(tmp_path / "clip.mp4"), title)
        wait_status(page, title, "failed")
        failure = row.locator(".failure")
        failure.locator(".failure-reason").filter(has_text="our side").wait_for()
        reason = failure.locator(".failure-reason").inner_text()
        assert "your file is fine" in reason and "try again" in reason.lower()
        assert "RuntimeError" not in row.inner_text() and "Processing failed at step" not in row.inner_text()
        assert not row.locator(".failure-technical").is_visible()  # behind "Details for support"
        assert "3 tries left" in row.inner_text()
        video_id = row.get_attribute("data-id")
        before = steps_of(page, video_id)
        calls_before = int(calls.read_text())
    finally:
        flag.unlink(missing_ok=True)

    row.get_by_role("button", name=re.compile("^Try again")).click()
    wait_status(page, title, "processed")
    row.locator(".row-message").filter(has_text=re.compile("^$")).wait_for(state="attached")
    assert row.locator("video").count() == 1 and failure.is_hidden()
    after = steps_of(page, video_id)
    # Resumed at the failed step: the fused pass did not run again, flaky and upload did.
    assert after["trim"]["started_at"] == before["trim"]["started_at"]
    assert after["flaky"]["started_at"] > before["flaky"]["started_at"]
    assert [after[name]["status"] for name in ("trim", "flaky", "upload")] == ["succeeded"] * 3
    assert int(calls.read_text()) == calls_before + 1, "one run of flaky after Try again"
    assert after["flaky"]["attempts"] == 3, "the failed attempts, then fresh ones from 1"
    assert problems.errors == []


def steps_of(page: Any, video_id: str) -> dict[str, dict[str, Any]]:
    answer = page.request.get(f"/page-api/videos/{video_id}", headers={"accept": "application/json"})
    return {step["name"]: step for step in answer.json()["steps"]}


def test_the_upload_box_tells_a_refusal_from_a_success_and_clears_when_processing_is_done(
    browser: Any, stack: tuple[str, Path], tmp_path: Path
) -> None:
    page, problems = new_page(browser, stack[0])
    sign_up(page, username=f"box_{uuid.uuid4().hex[:6]}", city="Tunja")
    junk = tmp_path / "notes.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    upload_clip(page, junk, "junk")
    error = page.get_by_role("alert").filter(has_text="The upload is not a video")
    error.wait_for()
    assert error.evaluate("e => getComputedStyle(e).borderLeftStyle") == "solid"
    assert page.locator(".upload-progress").is_hidden(), "no full bar after a refusal"

    title = "Good one"
    row = upload_clip(page, make_video(tmp_path / "clip.mp4"), title)
    status = page.locator("#upload-status")
    status.filter(has_text="Processing has started").wait_for()
    assert row.locator(".votes").inner_text() == "0 votes"
    assert error.is_hidden() and page.locator(".upload-progress").is_hidden()
    wait_status(page, title, "processed")
    status.filter(has_text=f"“{title}” is processed and published.").wait_for()
    assert "Processing has started" not in status.inner_text()
    assert problems.errors == [] and problems.failed == ["415 /page-api/uploads/{id}"]


def test_a_fan_sees_voted_after_voting_and_after_a_reload(
    browser: Any, stack: tuple[str, Path], published: dict[str, str]
) -> None:
    page, problems = new_page(browser, stack[0])
    sign_up(page, username=f"fan_{uuid.uuid4().hex[:6]}", city="Neiva")
    page.goto("/showcase")
    card = page.locator("li.card").filter(has_text=published["username"])
    card.get_by_role("button", name=re.compile("^Vote")).click()
    card.locator(".vote-message").filter(has_text="your vote counts").wait_for()
    assert card.locator(".voted").inner_text().startswith("Voted")
    assert card.get_by_role("button", name=re.compile("^Vote")).count() == 0
    page.reload()
    assert card.locator(".voted").inner_text().startswith("Voted")
    assert card.get_by_role("button", name=re.compile("^Vote")).count() == 0
    assert problems.errors == [] and problems.failed == []


def test_fused_steps_show_as_one_pass(
    browser: Any, stack: tuple[str, Path], published: dict[str, str]
) -> None:
    page, problems = new_page(browser, stack[0])
    log_in(page, username=published["username"])
    row = page.locator(f'li.video[data-id="{published["id"]}"]')
    row.locator(".steps li").first.wait_for(state="attached")
    passes = [text.strip() for text in row.locator(".steps li").all_text_contents()]
    assert len(passes) == 3, passes
    assert re.fullmatch(r"trim → bumpers, one pass: done \(\d+\.\d s\)", passes[0]), passes
    assert passes[1].startswith("flaky: done") and passes[2].startswith("upload: done")
    assert problems.errors == []


def test_rankings_past_the_last_page_and_long_usernames_on_a_phone(
    browser: Any, stack: tuple[str, Path], published: dict[str, str]
) -> None:
    page, problems = new_page(browser, stack[0])
    page.goto("/rankings?page=99")
    assert "No ranked players" not in page.locator("main").inner_text()
    page.get_by_text("There is no page 99").wait_for()
    page.get_by_role("link", name="Go to the last page").click()
    page.get_by_role("rowheader", name=published["username"]).first.wait_for()

    page.set_viewport_size(PHONE)
    page.goto("/rankings")
    cell = page.get_by_role("rowheader", name=published["username"])
    # Each piece between the name's own separators sits on one line: no mid-word break.
    lines_per_piece = cell.evaluate("""cell => [...cell.childNodes]
        .filter(node => node.nodeType === Node.TEXT_NODE && node.textContent.length)
        .map(node => { const range = document.createRange(); range.selectNodeContents(node);
                       return new Set([...range.getClientRects()].map(r => Math.round(r.top))).size; })""")
    assert lines_per_piece and max(lines_per_piece) == 1, lines_per_piece
    assert cell.evaluate("cell => cell.getBoundingClientRect().height") > 0
    assert problems.errors == []
