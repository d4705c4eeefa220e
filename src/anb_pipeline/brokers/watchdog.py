"""Notices an SQS consumer that stopped making progress, and acts on it.

Two things can stop a consumer for good while its process stays alive:

- a *leaked slot*: a received message that nothing will ever settle (no worker thread
  acks, nacks or gives it back). Every message is settled or killed by Dramatiq's time
  limit well before ``max_hold_s``; a slot held longer is released, which stops its
  heartbeat, so the message comes back by its visibility timeout and is redone;
- a *stalled consumer*: Dramatiq's consumer thread has not asked for a message for
  ``stall_after_s`` seconds (stuck in a call that never returns). Nothing in-process can
  unstick a thread, so the process exits with :data:`STALLED_EXIT_CODE`; Dramatiq's main
  process then stops its other workers and exits with that code, and the supervisor
  (``anb up``, systemd's ``Restart=``) starts a fresh worker. Held messages come back by
  their visibility timeout.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Protocol

#: EX_TEMPFAIL from sysexits.h: a temporary failure, the supervisor should restart us.
STALLED_EXIT_CODE = 75
#: How often the watchdog looks, in seconds.
CHECK_INTERVAL_S = 5.0


class SlotTable:
    """The receipt handles a consumer holds, with when each was taken (monotonic seconds).

    Releasing is idempotent, so a message settled twice (an ack after the watchdog gave up
    on it) never frees a slot that another message holds.
    """

    def __init__(self, *, capacity: int) -> None:
        self.capacity = capacity
        self._taken_at: dict[str, float] = {}
        self._lock = threading.Lock()

    def take(self, receipt_handle: str) -> None:
        """Mark a slot held by the message with this receipt handle, from now."""
        with self._lock:
            self._taken_at[receipt_handle] = time.monotonic()

    def release(self, receipt_handle: str) -> None:
        """Free the message's slot; releasing an unknown handle does nothing."""
        with self._lock:
            self._taken_at.pop(receipt_handle, None)

    def free(self) -> int:
        """How many slots are free (never below 0)."""
        with self._lock:
            return max(self.capacity - len(self._taken_at), 0)

    def held_longer_than(self, seconds: float) -> list[str]:
        """The receipt handles held for more than ``seconds`` seconds."""
        cutoff = time.monotonic() - seconds
        with self._lock:
            return [handle for handle, taken in self._taken_at.items() if taken < cutoff]


class Watched(Protocol):
    """What the watchdog watches: a consumer's slots, how to free a leaked one, and its
    periodic report (a WorkerBeat).
    """
    slots: SlotTable

    def release_leaked(self, receipt_handle: str) -> None:
        """Free the slot of a message held past any step's time limit."""
        ...

    def report(self) -> None:
        """Called on every check: send a sign of life when one is due."""
        ...


def exit_stalled() -> None:
    """Exit the process at once with ``STALLED_EXIT_CODE`` so its supervisor restarts it."""
    # os._exit, not sys.exit: the stuck thread would keep an orderly exit waiting forever.
    os._exit(STALLED_EXIT_CODE)


class ConsumerWatchdog:
    """A daemon thread that releases leaked slots and exits a stalled process.

    Parameters:
      consumer: what it watches (its slots and how to release one).
      max_hold_s: seconds after which a held message counts as leaked; above the actors'
        time limit.
      stall_after_s: seconds without a poll after which the consumer counts as stalled.
      on_stall: what to do then; exits the process by default.
    """

    def __init__(self, *, consumer: Watched, max_hold_s: float, stall_after_s: float,
                 on_stall: Callable[[], None] = exit_stalled,
                 check_interval_s: float = CHECK_INTERVAL_S) -> None:
        self.logger = logging.getLogger(f"{__name__}.{type(self).__name__}")
        self.consumer = consumer
        self.max_hold_s = max_hold_s
        self.stall_after_s = stall_after_s
        self.on_stall = on_stall
        self.check_interval_s = check_interval_s
        self._last_poll = time.monotonic()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="anb-sqs-watchdog", daemon=True)
        self._thread.start()

    def polled(self) -> None:
        """The consumer was asked for a message: it is making progress."""
        self._last_poll = time.monotonic()

    def stop(self) -> None:
        """Stop the thread after its current check."""
        self._stopped.set()

    def check(self) -> None:
        """One round: the consumer's report, leaked slots released (logged as errors), and
        ``on_stall`` when no poll happened for ``stall_after_s`` seconds.
        """
        self.consumer.report()
        for handle in self.consumer.slots.held_longer_than(self.max_hold_s):
            self.logger.error("A received message was held for over %.0f s and never settled; "
                              "releasing its slot (it comes back by its visibility timeout).",
                              self.max_hold_s)
            self.consumer.release_leaked(handle)
        idle_s = time.monotonic() - self._last_poll
        if idle_s > self.stall_after_s:
            self.logger.critical("The SQS consumer has not polled for %.0f s; exiting with "
                                 "code %d so the supervisor restarts this worker.",
                                 idle_s, STALLED_EXIT_CODE)
            self._stopped.set()
            self.on_stall()

    def _run(self) -> None:
        while not self._stopped.wait(self.check_interval_s):
            self.check()
