"""Runs the ffmpeg binary that the imageio-ffmpeg wheel ships, always with a timeout.

Dramatiq's TimeLimit cannot interrupt a blocking subprocess, so the timeout lives here:
a hung or runaway ffmpeg is killed and the step fails with MediaTimeout.
"""

from __future__ import annotations

import functools
import logging
import subprocess
from collections.abc import Sequence
from pathlib import PurePath

import imageio_ffmpeg

from ..errors import MediaError, MediaTimeout

logger = logging.getLogger(__name__)

#: How much of ffmpeg's stderr an error keeps: enough to say why, not a wall of text.
STDERR_TAIL_CHARS = 600


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    return imageio_ffmpeg.get_ffmpeg_exe()


def run_ffmpeg(args: Sequence[str], *, timeout_s: float) -> None:
    command = [ffmpeg_exe(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args]
    logger.debug("ffmpeg %s", " ".join(args))
    try:
        completed = subprocess.run(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, timeout=timeout_s, check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise MediaTimeout(f"ffmpeg ran longer than {timeout_s:g} s and was stopped") from exc
    if completed.returncode != 0:
        stderr = _without_paths(completed.stderr.decode("utf-8", "replace").strip(), args)
        raise MediaError(f"ffmpeg failed (exit {completed.returncode}): {stderr[-STDERR_TAIL_CHARS:]}")


def _without_paths(text: str, args: Sequence[str]) -> str:
    """Errors reach the video's owner: name files, never the worker's directories."""
    for arg in args:
        if arg.startswith("/"):
            text = text.replace(arg, PurePath(arg).name)
    return text
