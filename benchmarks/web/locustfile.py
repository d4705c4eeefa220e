"""The load mix of the original system, per virtual user, with 1-3 s of think time.

10% GET /health; 30% GET /api/public/videos; 30% GET /api/public/rankings; 30% a login
(POST /api/auth/login) followed by GET /api/videos with the token it returned.

Run by ``benchmarks/web/run.py``, which seeds the accounts and passes them in
``ANB_BENCH_ACCOUNTS`` (a JSON list of ``[username, password]``). Besides Locust's own
statistics, every request of the steady phase (after the last user has spawned) is kept
with its exact latency and written as JSON to ``ANB_BENCH_SAMPLES`` when Locust quits, so
the runner computes exact percentiles rather than Locust's rounded ones.
"""

from __future__ import annotations

import json
import os
import random
import time
from typing import Any

from locust import FastHttpUser, between, events, task

ACCOUNTS: list[list[str]] = json.loads(os.environ.get("ANB_BENCH_ACCOUNTS", "[]"))
SAMPLES_PATH = os.environ.get("ANB_BENCH_SAMPLES", "")

_samples: list[tuple[str, float, bool, float]] = []
_window: dict[str, float] = {}


@events.spawning_complete.add_listener
def _steady(user_count: int, **_: Any) -> None:
    # The ramp is over: what came before is warm-up.
    _samples.clear()
    _window["start"] = time.time()


@events.request.add_listener
def _record(name: str, response_time: float, exception: BaseException | None, **_: Any) -> None:
    if "start" in _window:
        _samples.append((name, response_time, exception is None, time.time()))


@events.quitting.add_listener
def _dump(**_: Any) -> None:
    if not SAMPLES_PATH:
        return
    window = {"start": _window.get("start"), "end": time.time()}
    with open(SAMPLES_PATH, "w", encoding="utf-8") as out:
        json.dump({"window": window, "samples": _samples}, out)


class Visitor(FastHttpUser):
    wait_time = between(1, 3)

    def _get(self, path: str, name: str, **kwargs: Any) -> None:
        with self.client.get(path, name=name, catch_response=True, **kwargs) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")

    @task(1)
    def health(self) -> None:
        self._get("/health", "GET /health")

    @task(3)
    def public_videos(self) -> None:
        self._get("/api/public/videos", "GET /api/public/videos")

    @task(3)
    def rankings(self) -> None:
        self._get("/api/public/rankings", "GET /api/public/rankings")

    @task(3)
    def login_then_my_videos(self) -> None:
        username, password = random.choice(ACCOUNTS)
        with self.client.post("/api/auth/login", name="POST /api/auth/login",
                              json={"username": username, "password": password},
                              catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
                return
            token = response.json()["access_token"]
        self._get("/api/videos", "GET /api/videos",
                  headers={"Authorization": f"Bearer {token}"})
