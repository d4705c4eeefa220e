"""``anb demo``: sign up, upload a generated video over HTTP, watch it get processed.

It uses a running stack if one answers at ``--url``, and otherwise starts ``anb up`` for
the duration of the demo. It exits non-zero if anything on the way fails.
"""

from __future__ import annotations

import argparse
import contextlib
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlparse

import httpx

from anb_pipeline import Settings, probe
from anb_pipeline.ops import clip_problems, ffmpeg_exe, run_ffmpeg, summary

from .statuses import FINAL_VIDEO_STATUSES, VideoStatus

SAMPLE_SECONDS = 5.0
STACK_START_TIMEOUT_S = 90
POLL_INTERVAL_S = 0.5


def _answers(url: str) -> bool:
    try:
        return httpx.get(urljoin(url, "/health/live"), timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextlib.contextmanager
def running_stack(url: str, data_dir: Path) -> Iterator[None]:
    if _answers(url):
        print(f"using the stack at {url}")
        yield
        return
    parsed = urlparse(url)
    print(f"starting `anb up` on {url} (data in {data_dir})")
    process = subprocess.Popen(
        [sys.executable, "-m", "anb_pipeline.cli", "up", "--host", parsed.hostname or "127.0.0.1",
         "--port", str(parsed.port or 80), "--data-dir", str(data_dir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + STACK_START_TIMEOUT_S
        while not _answers(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("`anb up` did not come up; run it alone to see why")
            time.sleep(POLL_INTERVAL_S)
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def make_sample(path: Path) -> Path:
    """A 5 s 640x360 clip with a tone: enough to see every step do its work."""
    run_ffmpeg(["-f", "lavfi", "-i", f"testsrc2=s=640x360:r=30:d={SAMPLE_SECONDS}",
                "-f", "lavfi", "-i", f"sine=frequency=660:duration={SAMPLE_SECONDS}",
                "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                "-c:a", "aac", "-shortest", str(path)], timeout_s=60)
    return path


def _check(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.is_error:
        raise RuntimeError(f"{what} failed: HTTP {response.status_code} {response.text[:300]}")
    return response.json()


def upload_sample(client: httpx.Client, sample: Path) -> str:
    name = f"demo_{secrets.token_hex(3)}"
    signup = _check(client.post("/api/auth/signup", json={
        "username": name, "email": f"{name}@example.org", "password": secrets.token_urlsafe(12),
        "first_name": "Demo", "city": "Bogotá", "country": "Colombia"}), "signup")
    client.headers["Authorization"] = f"Bearer {signup['access_token']}"
    print(f"signed up as {name}")
    with open(sample, "rb") as stream:
        video = _check(client.post("/api/videos", data={"title": "ANB demo"},
                                   files={"file": ("demo.mp4", stream, "video/mp4")}), "upload")
    print(f"uploaded video {video['id']}")
    return str(video["id"])


def watch(client: httpx.Client, video_id: str, *, timeout_s: float) -> dict[str, Any]:
    deadline, shown = time.monotonic() + timeout_s, ""
    while time.monotonic() < deadline:
        video = _check(client.get(f"/api/videos/{video_id}"), "status")
        line = "  ".join(f"{s['name']}:{s['status']}" for s in video.get("steps", []))
        if line != shown:
            print(f"[{video['processing_status']:>10}] {line}", flush=True)
            shown = line
        if video["processing_status"] in FINAL_VIDEO_STATUSES:
            return video
        time.sleep(POLL_INTERVAL_S)
    raise RuntimeError(f"video {video_id} was not processed within {timeout_s:g} s")


def passes(steps: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """One row per pass: fused steps share one pass and its times, so they are shown once
    ("trim → bumpers, one pass"), each with the first step's record."""
    rows: list[tuple[str, dict[str, Any]]] = []
    for name in dict.fromkeys(step["pass"] for step in steps):
        members = [step for step in steps if step["pass"] == name]
        label = members[0]["name"] if len(members) == 1 else (
            f"{members[0]['name']} → {members[-1]['name']}, one pass")
        rows.append((label, members[0]))
    return rows


def report(client: httpx.Client, video: dict[str, Any], workdir: Path) -> int:
    if video["processing_status"] == VideoStatus.FAILED:
        error = video["error"]
        print(f"FAILED at step {error['step']}: {error['reason']}\n  ({error['message']})")
        return 1
    print("step timings:")
    for label, step in passes(video["steps"]):
        print(f"  {label:<28} {step['seconds']:>7.2f} s  attempts={step['attempts']}")
    url = urljoin(str(client.base_url), video["processed_url"])
    print(f"output: {url}")
    clip = workdir / "processed.mp4"
    with httpx.stream("GET", url, timeout=60) as response, open(clip, "wb") as out:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            out.write(chunk)
    print("probe:", summary(probe(clip), size_bytes=clip.stat().st_size))
    problems = clip_problems(clip, settings=Settings.from_env(), source_duration_s=SAMPLE_SECONDS)
    for problem in problems:
        print(f"invariant broken: {problem}")
    print("all output invariants hold" if not problems else "the output is NOT valid")
    return 1 if problems else 0


def run_demo(args: argparse.Namespace) -> int:
    ffmpeg_exe()
    try:
        with tempfile.TemporaryDirectory(prefix="anb-demo-") as tmp, \
                running_stack(args.url, args.data_dir), \
                httpx.Client(base_url=args.url, timeout=60) as client:
            video_id = upload_sample(client, make_sample(Path(tmp) / "sample.mp4"))
            video = watch(client, video_id, timeout_s=args.timeout_s)
            return report(client, video, Path(tmp))
    except (RuntimeError, httpx.HTTPError) as exc:
        print(f"anb demo: {exc}", file=sys.stderr)
        return 1
