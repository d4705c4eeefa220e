"""Slows password guessing: failed logins are counted per account and per client address.

A sliding window in process memory: each key keeps the times of its recent failures, and
a key with ``max_failures`` of them inside ``window_s`` is refused (429) until the oldest
one leaves the window. Each web instance counts on its own, so behind a load balancer with
N instances an attacker gets up to N times the budget; a shared store (Redis) would close
that gap.

The per-account limit also lets anyone lock a real user out for one window by guessing
wrong on purpose: the window is short for that reason, and a successful login clears the
account's count.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

#: Above this many tracked keys, keys with no failure left in the window are dropped, so
#: a flood of made-up usernames cannot grow the table without bound.
MAX_TRACKED_KEYS = 100_000


class SlidingWindowLimiter:
    def __init__(
        self, *, max_failures: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after_s(self, key: str) -> int:
        """Seconds until ``key`` may try again; 0 when it may try now."""
        with self._lock:
            now = self.clock()
            failures = self._live(key, now)
            if len(failures) < self.max_failures:
                return 0
            return max(1, math.ceil(failures[0] + self.window_s - now))

    def record_failure(self, key: str) -> None:
        with self._lock:
            now = self.clock()
            self._live(key, now).append(now)
            if len(self._failures) > MAX_TRACKED_KEYS:
                self._sweep(now)

    def reset(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def _live(self, key: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(key, deque())
        while failures and failures[0] <= now - self.window_s:
            failures.popleft()
        return failures

    def _sweep(self, now: float) -> None:
        expired = [key for key, times in self._failures.items()
                   if not times or times[-1] <= now - self.window_s]
        for key in expired:
            del self._failures[key]


class LoginLimiter:
    """The two windows a login checks: the account it names and the address it comes from."""

    def __init__(
        self, *, max_failures: int, max_failures_per_client: int, window_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.accounts = SlidingWindowLimiter(max_failures=max_failures, window_s=window_s,
                                             clock=clock)
        self.clients = SlidingWindowLimiter(max_failures=max_failures_per_client,
                                            window_s=window_s, clock=clock)

    def retry_after_s(self, *, account: str, client: str) -> int:
        return max(self.accounts.retry_after_s(account.lower()),
                   self.clients.retry_after_s(client))

    def failed(self, *, account: str, client: str) -> None:
        self.accounts.record_failure(account.lower())
        self.clients.record_failure(client)

    def succeeded(self, *, account: str) -> None:
        self.accounts.reset(account.lower())
