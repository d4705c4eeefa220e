"""Process-tree facts from /proc, for the benchmarks: descendants, memory, and a sampler.

``ru_maxrss`` is no use for a child process: Linux charges it the launching process's own
high-water mark at ``exec``, so a child of a big parent reports the parent's size.
"""

from __future__ import annotations

import threading
from pathlib import Path
from types import TracebackType

#: How often the sampler reads the tree, in seconds; shorter spikes can be missed.
SAMPLE_INTERVAL_S = 0.05


def process_table() -> dict[int, tuple[str, int]]:
    """Every live process: pid -> (command name, parent pid)."""
    table: dict[int, tuple[str, int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # it exited while we looked
            continue
        # The name sits in parentheses and may itself contain spaces or parentheses.
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        table[int(entry.name)] = (name, int(stat[stat.rindex(")") + 2:].split()[1]))
    return table


def descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid``."""
    parents: dict[int, list[int]] = {}
    for child, (_, ppid) in process_table().items():
        parents.setdefault(ppid, []).append(child)
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def status_kib(pid: int, field: str) -> int:
    """A kibibyte field of ``/proc/<pid>/status``, such as ``VmRSS`` or ``VmHWM``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def tree_rss_kib(pid: int) -> int:
    """The summed resident memory of ``pid`` and its descendants; 0 for what has exited."""
    total = 0
    for member in (pid, *descendants(pid)):
        try:
            total += status_kib(member, "VmRSS")
        except (OSError, KeyError):  # gone, or a zombie without memory
            continue
    return total


class TreeRssPeak:
    """The peak of ``tree_rss_kib(pid)`` while the ``with`` block runs, sampled."""

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
