"""Keeps the emulator's in-memory bucket across ``anb up`` restarts, in the data directory.

moto holds S3 objects in memory. Without this, restarting ``anb up`` would lose every
upload and output, and stranded videos could not be re-enqueued.
"""

from __future__ import annotations

from pathlib import Path

from anb_pipeline import Storage


def snapshot_bucket(storage: Storage, directory: Path) -> int:
    """Mirror every object into ``directory``; returns how many objects it holds."""
    keys = set(storage.list(""))
    for key in keys:
        target = directory / key
        if target.is_file() and target.stat().st_size == storage.size(key):
            continue  # objects are written once under deterministic keys
        target.parent.mkdir(parents=True, exist_ok=True)
        storage.get_file(key, target)
    for path in list(directory.rglob("*")) if directory.exists() else []:
        if path.is_file() and path.relative_to(directory).as_posix() not in keys:
            path.unlink()
    return len(keys)


def restore_bucket(storage: Storage, directory: Path) -> int:
    """Upload every mirrored object back; returns how many were restored."""
    if not directory.exists():
        return 0
    paths = [path for path in directory.rglob("*") if path.is_file()]
    for path in paths:
        storage.put_file(path.relative_to(directory).as_posix(), path)
    return len(paths)
