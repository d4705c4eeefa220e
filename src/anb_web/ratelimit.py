"""Slows password guessing: failed logins are counted per account and per client address.

A sliding window over a shared log of failures: a key with ``max_failures`` failures inside
``window_s`` is refused (429) until enough of them leave the window. The log is shared by
every process of every web instance, so the budget is one budget however many run:

* ``DatabaseFailureLog`` (the default): one row per failure in ``login_failures``, indexed
  by (key, time); each insert is one atomic statement, and each failure sweeps the rows that
  left the window.
* ``RedisFailureLog`` (when ``ANB_REDIS_URL`` is set): one sorted set per key, changed in
  ``MULTI``/``EXEC`` transactions, expiring with the window.

Keys are SHA-256 digests, so the log holds no usernames or addresses. Times are epoch
seconds (``time.time``), the clock all instances share.

The per-account limit also lets anyone lock a real user out for one window by guessing
wrong on purpose: the window is short for that reason, and a successful login clears the
account's count.
"""

from __future__ import annotations

import hashlib
import math
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Protocol

import redis
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from .db import Database
from .models import LoginFailure

#: Redis socket timeouts: a hung Redis must not hang logins.
REDIS_TIMEOUT_S = 2.0
REDIS_PREFIX = "anb:login-failures:"


def failure_key(kind: str, value: str) -> str:
    """The log's key for an account or client: a digest, never the name itself."""
    return hashlib.sha256(f"{kind}\n{value}".encode()).hexdigest()


class FailureLog(Protocol):
    """Times of recent failures by key, shared by every web process."""

    def recent(self, keys: list[str], *, since: float) -> dict[str, list[float]]:
        """Each key's failure times after ``since``, oldest first."""

    def add(self, keys: list[str], *, at: float, window_s: float) -> None:
        """Record one failure at ``at`` under each key; forget those older than the window."""

    def clear(self, key: str) -> None:
        """Forget every failure of ``key``."""


class DatabaseFailureLog:
    def __init__(self, database: Database) -> None:
        self.database = database

    def recent(self, keys: list[str], *, since: float) -> dict[str, list[float]]:
        return self.database.call(_recent, keys=keys, since=since)

    def add(self, keys: list[str], *, at: float, window_s: float) -> None:
        self.database.call(_add, keys=keys, at=at, before=at - window_s)

    def clear(self, key: str) -> None:
        self.database.call(_clear, key=key)


def _recent(session: Session, *, keys: list[str], since: float) -> dict[str, list[float]]:
    found: dict[str, list[float]] = {key: [] for key in keys}
    rows = session.execute(
        select(LoginFailure.key, LoginFailure.failed_at)
        .where(LoginFailure.key.in_(keys), LoginFailure.failed_at > since)
        .order_by(LoginFailure.failed_at)
    )
    for key, failed_at in rows:
        found[key].append(failed_at)
    return found


def _add(session: Session, *, keys: list[str], at: float, before: float) -> None:
    session.execute(delete(LoginFailure).where(LoginFailure.failed_at <= before))
    session.execute(insert(LoginFailure), [{"key": key, "failed_at": at} for key in keys])


def _clear(session: Session, *, key: str) -> None:
    session.execute(delete(LoginFailure).where(LoginFailure.key == key))


class RedisFailureLog:
    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT_S,
                                           socket_connect_timeout=REDIS_TIMEOUT_S)

    def recent(self, keys: list[str], *, since: float) -> dict[str, list[float]]:
        with self.client.pipeline(transaction=True) as pipe:
            for key in keys:
                pipe.zrangebyscore(REDIS_PREFIX + key, f"({since}", "+inf", withscores=True)
            results = pipe.execute()
        return {key: [score for _, score in pairs] for key, pairs in zip(keys, results, strict=True)}

    def add(self, keys: list[str], *, at: float, window_s: float) -> None:
        with self.client.pipeline(transaction=True) as pipe:
            for key in keys:
                name = REDIS_PREFIX + key
                pipe.zremrangebyscore(name, "-inf", at - window_s)
                pipe.zadd(name, {uuid.uuid4().hex: at})
                pipe.expire(name, math.ceil(window_s))
            pipe.execute()

    def clear(self, key: str) -> None:
        self.client.delete(REDIS_PREFIX + key)


class LoginLimiter:
    """The two windows a login checks: the account it names and the address it comes from.

    Methods block on the log (database or Redis): async callers run them in the threadpool.
    """

    def __init__(
        self, *, log: FailureLog, max_failures: int, max_failures_per_client: int,
        window_s: float, clock: Callable[[], float] = time.time,
    ) -> None:
        self.log = log
        self.window_s = window_s
        self.clock = clock
        self.limits = {"account": max_failures, "client": max_failures_per_client}

    def retry_after_s(self, *, account: str, client: str) -> int:
        """Seconds until this account and client may try again; 0 when they may now."""
        now = self.clock()
        keys = self._keys(account=account, client=client)
        recent = self.log.recent(list(keys), since=now - self.window_s)
        waits = [self._wait_s(recent[key], limit=limit, now=now) for key, limit in keys.items()]
        return max(waits)

    def failed(self, *, account: str, client: str) -> None:
        self.log.add(list(self._keys(account=account, client=client)), at=self.clock(),
                     window_s=self.window_s)

    def succeeded(self, *, account: str) -> None:
        self.log.clear(failure_key("account", account))

    def _keys(self, *, account: str, client: str) -> dict[str, int]:
        return {failure_key("account", account): self.limits["account"],
                failure_key("client", client): self.limits["client"]}

    def _wait_s(self, times: Iterable[float], *, limit: int, now: float) -> int:
        ordered = sorted(times)
        if len(ordered) < limit:
            return 0
        # Under the limit again once all but limit - 1 of them have left the window.
        frees_at = ordered[len(ordered) - limit] + self.window_s
        return max(1, math.ceil(frees_at - now))
