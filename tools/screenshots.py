"""Screenshots of every page at desktop and phone widths, for review and for docs/.

    python tools/screenshots.py --url http://127.0.0.1:8000 --seed --out docs/screenshots

``--failed`` also uploads a clip that the stack's pipeline fails and shoots its card with
the reason and Try again; run it against a stack whose pipeline fails, e.g. with the test
plugin step ``flaky`` (``PYTHONPATH=tests/support ANB_STEPS=trim,resize,watermark,bumpers,
flaky,upload ANB_TEST_FAIL_FLAG=FILE anb up`` with FILE present).

``--seed`` first fills a running stack (``anb up``) with a few players, processed videos
and votes through the JSON API, so the pages have something to show. The browser is
Debian's Chromium driven by Playwright (``pip install playwright``; never ``playwright
install``). Full-page screenshots, so anything pushed off the layout shows up.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from imageio_ffmpeg import get_ffmpeg_exe
from PIL import Image
from playwright.sync_api import Page, sync_playwright

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--hide-scrollbars"]
VIEWPORTS = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
PASSWORD = "screenshots-password"
PLAYERS = (("maria_dunks", "Bogotá", "Colombia"), ("leo.handles", "Medellín", "Colombia"),
           ("sofia-3pt", "Bogotá", "Colombia"))
PROCESSING_TIMEOUT_S = 300


def _video(path: Path, *, seconds: int, pattern: str) -> Path:
    subprocess.run([get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi",
                    "-i", f"{pattern}=s=640x360:r=25:d={seconds}", "-c:v", "libx264",
                    "-preset", "ultrafast", "-pix_fmt", "yuv420p", str(path)], check=True)
    return path


def seed(url: str) -> tuple[str, str]:
    """Players with processed videos and a few votes; returns one player's credentials."""
    client = httpx.Client(base_url=url, timeout=60)
    suffix = uuid.uuid4().hex[:4]
    tokens: list[str] = []
    videos: list[str] = []
    with tempfile.TemporaryDirectory() as scratch:
        for index, (name, city, country) in enumerate(PLAYERS):
            answer = client.post("/api/auth/signup", json={
                "username": f"{name}_{suffix}", "email": f"{name}_{suffix}@example.org",
                "password": PASSWORD, "city": city, "country": country}).raise_for_status()
            tokens.append(answer.json()["access_token"])
            clip = _video(Path(scratch) / f"{index}.mp4", seconds=2 + index,
                          pattern=("testsrc2", "smptebars", "rgbtestsrc")[index])
            with open(clip, "rb") as stream:
                created = client.post(
                    "/api/videos", headers=_bearer(tokens[-1]),
                    data={"title": f"Crossover drill #{index + 1}",
                          "description": "Left-hand crossover at full speed"},
                    files={"file": (clip.name, stream, "video/mp4")}).raise_for_status()
            videos.append(created.json()["id"])
    deadline = time.monotonic() + PROCESSING_TIMEOUT_S
    for token, video_id in zip(tokens, videos, strict=True):
        while (status := client.get(f"/api/videos/{video_id}", headers=_bearer(token))
               .json()["processing_status"]) not in ("processed", "failed"):
            if time.monotonic() > deadline:
                raise SystemExit(f"video {video_id} still {status} after {PROCESSING_TIMEOUT_S} s")
            time.sleep(1)
    for voter in tokens[1:]:
        client.post(f"/api/public/videos/{videos[0]}/vote", headers=_bearer(voter))
    client.post(f"/api/public/videos/{videos[1]}/vote", headers=_bearer(tokens[2]))
    return f"{PLAYERS[0][0]}_{suffix}", PASSWORD


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _log_in(page: Page, username: str, password: str) -> None:
    page.goto("/login")
    page.get_by_label("Username or email").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/my/videos")


def _shoot(page: Page, out: Path, name: str) -> Path:
    # Let posters and video metadata load, so the shot shows what a visitor sees.
    page.wait_for_load_state("networkidle")
    page.wait_for_function("[...document.querySelectorAll('video')].every(v => v.readyState >= 1)")
    page.wait_for_timeout(500)
    return _save(page, out, name)


def _save(page: Page, out: Path, name: str) -> Path:
    path = out / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    # A 256-colour palette keeps the committed PNGs at a third of their size, text still crisp.
    with Image.open(path) as shot:
        shot.convert("RGB").quantize(colors=256).save(path, optimize=True)
    print(path)
    return path


def _shoot_upload(page: Page, out: Path, name: str) -> Path:
    """Upload through the form and catch the new card while its steps are still running."""
    with tempfile.TemporaryDirectory() as scratch:
        clip = _video(Path(scratch) / "new.mp4", seconds=6, pattern="testsrc2")
        page.get_by_label("Title").fill("Step-back jumper")
        page.get_by_label("Video file").set_input_files(clip)
        page.get_by_role("button", name="Upload", exact=True).click()
        page.locator("#upload-status").filter(has_text="Processing has started").wait_for()
    page.locator("li.video").first.locator(".steps li").first.wait_for()
    page.locator("#upload-status").scroll_into_view_if_needed()
    return _save(page, out, name)


def _shoot_failed(page: Page, out: Path, name: str) -> Path:
    """Upload a clip and shoot its card once processing failed."""
    with tempfile.TemporaryDirectory() as scratch:
        clip = _video(Path(scratch) / "fails.mp4", seconds=2, pattern="testsrc2")
        page.get_by_label("Title").fill("Behind-the-back pass")
        page.get_by_label("Video file").set_input_files(clip)
        page.get_by_role("button", name="Upload", exact=True).click()
    card = page.locator("li.video").filter(has_text="Behind-the-back pass")
    card.locator(".failure-reason").filter(has_text=re.compile(".")).wait_for(
        timeout=PROCESSING_TIMEOUT_S * 1000)
    card.scroll_into_view_if_needed()
    return _save(page, out, name)


def take(url: str, out: Path, *, chromium: str, login: tuple[str, str] | None,
         failed: bool = False) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    shots: list[Path] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        for width_name, viewport in VIEWPORTS.items():
            context: Any = browser.new_context(base_url=url, viewport=viewport)
            page = context.new_page()
            for path, name in (("/signup", "signup"), ("/login", "login"),
                               ("/rankings", "rankings"), ("/showcase", "showcase")):
                page.goto(path)
                shots.append(_shoot(page, out, f"{name}-{width_name}"))
            page.goto("/my-videos")  # a mistyped address: the site's 404 page
            shots.append(_shoot(page, out, f"not-found-{width_name}"))
            page.goto("/rankings?page=99")
            shots.append(_shoot(page, out, f"rankings-past-last-{width_name}"))
            page.goto("/login")
            page.get_by_label("Username or email").fill("nobody")
            page.get_by_label("Password").fill("wrong password")
            page.get_by_role("button", name="Log in").click()
            shots.append(_shoot(page, out, f"login-error-{width_name}"))
            if login is not None:
                _log_in(page, *login)
                page.locator("li.video .steps li").first.wait_for(state="attached")
                shots.append(_shoot(page, out, f"my-videos-{width_name}"))
                if failed:
                    shots.append(_shoot_failed(page, out, f"my-videos-failed-{width_name}"))
                    page.reload()
                shots.append(_shoot_upload(page, out, f"my-videos-uploading-{width_name}"))
                # Delete asks first: the dialog over the list.
                page.locator("li.video").first.get_by_role(
                    "button", name=re.compile("^Delete")).click()
                page.get_by_role("dialog").wait_for()
                shots.append(_save(page, out, f"my-videos-delete-{width_name}"))
                page.keyboard.press("Escape")
                page.goto("/showcase")
                # A vote: the button becomes "Voted", as it stays after a reload.
                votable = page.locator("li.card").filter(has=page.locator(".vote-form"))
                if votable.count():
                    card_id = votable.first.get_attribute("data-id")
                    votable.first.locator("button").click()
                    page.locator(f'li.card[data-id="{card_id}"] .voted').wait_for()
                shots.append(_shoot(page, out, f"showcase-signed-in-{width_name}"))
            context.close()
        browser.close()
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="a running stack, e.g. http://127.0.0.1:8000")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    parser.add_argument("--seed", action="store_true", help="add demo players, videos and votes")
    parser.add_argument("--failed", action="store_true",
                        help="also shoot a failed upload (a stack that fails it: see above)")
    parser.add_argument("--username", help="log in as this user for the signed-in pages")
    parser.add_argument("--password")
    args = parser.parse_args(argv)
    login = seed(args.url) if args.seed else None
    if args.username and args.password:
        login = (args.username, args.password)
    take(args.url.rstrip("/"), args.out, chromium=args.chromium, login=login,
         failed=args.failed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
