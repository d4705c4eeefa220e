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

from ..errors import MediaError, MediaTimeout, MediaUndecodable

logger = logging.getLogger(__name__)

#: How much of ffmpeg's stderr an error keeps: enough to say why, not a wall of text.
STDERR_TAIL_CHARS = 600
#: ffmpeg's words for a fault in the input's own bytes (libavutil's AVERROR strings and the
#: demuxers' and decoders' refusals), each with the sentence its owner reads. Running the
#: same file again gives the same answer, so these are never retried.
FILE_FAULTS = (
    ("Invalid data found when processing input",
     "the file's data is damaged or not in a format we can read"),
    ("moov atom not found", "the file is incomplete: its MP4 index (moov) is missing"),
    ("Decoder not found", "the file's video codec is not one we can decode"),
    ("No decoder for", "the file's video codec is not one we can decode"),
    ("does not contain any stream", "the file holds no audio or video stream"),
    ("Could not find codec parameters", "the file's video stream cannot be decoded"),
)


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """The path of the ffmpeg binary imageio-ffmpeg ships (looked up once)."""
    return imageio_ffmpeg.get_ffmpeg_exe()


def run_ffmpeg(args: Sequence[str], *, timeout_s: float) -> None:
    """Run ffmpeg with ``args`` (its command line after the program, inputs and outputs as
    paths or URLs), quietly (``-loglevel error``) and overwriting outputs (``-y``).

    Raises: ``MediaUndecodable`` when ffmpeg's error output reports the input's data as
    invalid (``FILE_FAULTS``), ``MediaTimeout`` after ``timeout_s`` seconds (the process is
    killed), ``MediaError`` on any other non-zero exit (its message ends with ffmpeg's last
    error lines, the worker's paths reduced to file names).
    """
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
        logger.warning("ffmpeg failed (exit %d): %s", completed.returncode,
                       stderr[-STDERR_TAIL_CHARS:])
        for marker, sentence in FILE_FAULTS:
            if marker in stderr:
                raise MediaUndecodable(sentence)
        raise MediaError(f"ffmpeg failed (exit {completed.returncode}): {stderr[-STDERR_TAIL_CHARS:]}")


def _without_paths(text: str, args: Sequence[str]) -> str:
    """Errors reach the video's owner: name files, never the worker's directories."""
    for arg in args:
        if arg.startswith("/"):
            text = text.replace(arg, PurePath(arg).name)
    return text
