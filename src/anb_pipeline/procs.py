"""Process and machine facts through psutil, for the benchmarks: descendants, memory, a
sampler, and the CPU model.

``ru_maxrss`` is no use for a child process: Linux charges it the launching process's own
high-water mark at ``exec``, so a child of a big parent reports the parent's size.
"""

from __future__ import annotations

import threading
from types import TracebackType

import cpuinfo
import psutil

#: How often the sampler reads the tree, in seconds; shorter spikes can be missed.
SAMPLE_INTERVAL_S = 0.05
#: What psutil raises for a process that exited, turned zombie or is not ours to read.
GONE = (psutil.NoSuchProcess, psutil.AccessDenied)


def descendants(pid: int) -> list[int]:
    """The pids of every live descendant of ``pid``; [] when ``pid`` itself has exited."""
    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except GONE:
        return []


def rss_kib(pid: int) -> int:
    """The resident memory of ``pid``, in KiB.

    Raises: ``psutil.NoSuchProcess`` (it exited) or ``psutil.AccessDenied``.
    """
    return psutil.Process(pid).memory_info().rss // 1024


def tree_rss_kib(pid: int) -> int:
    """The summed resident memory of ``pid`` and its descendants, in KiB; 0 for what has
    exited (or is a zombie without memory)."""
    total = 0
    for member in (pid, *descendants(pid)):
        try:
            total += rss_kib(member)
        except GONE:
            continue
    return total


def cpu_model() -> str:
    """The CPU's brand string (``AMD EPYC 7B13``), or ``unknown`` where py-cpuinfo finds none."""
    return str(cpuinfo.get_cpu_info().get("brand_raw") or "unknown")


class TreeRssPeak:
    """The peak of ``tree_rss_kib(pid)`` (KiB, in ``peak_kib``) while the ``with`` block
    runs, sampled every ``interval_s`` seconds by a daemon thread."""

    def __init__(self, pid: int, *, interval_s: float = SAMPLE_INTERVAL_S) -> None:
        self.pid = pid
        self.interval_s = interval_s
        self.peak_kib = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="rss-sampler", daemon=True)

    def __enter__(self) -> TreeRssPeak:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, tree_rss_kib(self.pid))
            self._stop.wait(self.interval_s)
