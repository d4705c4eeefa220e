"""Checks a published clip against the output invariants of SPEC section 3."""

from __future__ import annotations

from pathlib import Path

from ..settings import Settings
from .geometry import FRAME_HEIGHT, FRAME_WIDTH
from .probe import VideoInfo, probe

#: Container durations are rounded to frames and packets; this much slack is honest.
DURATION_SLACK_S = 0.25


def clip_problems(path: Path, *, settings: Settings, source_duration_s: float) -> list[str]:
    """Every invariant the clip breaks, as sentences; an empty list means it passes."""
    info = probe(path)
    expected_s = min(source_duration_s, settings.max_content_s) + 2 * settings.bumper_s
    checks: list[tuple[bool, str]] = [
        (info.codec == "h264", f"codec is {info.codec}, not h264"),
        (info.pix_fmt == "yuv420p", f"pixel format is {info.pix_fmt}, not yuv420p"),
        (info.colour.range == "tv", f"colour range is {info.colour.range}, not tv (limited)"),
        (info.colour.matrix == "bt709", f"matrix is {info.colour.matrix}, not bt709"),
        (info.colour.primaries == "bt709", f"primaries are {info.colour.primaries}, not bt709"),
        (info.colour.transfer == "bt709", f"transfer is {info.colour.transfer}, not bt709"),
        ((info.width, info.height) == (FRAME_WIDTH, FRAME_HEIGHT),
         f"size is {info.width}x{info.height}, not {FRAME_WIDTH}x{FRAME_HEIGHT}"),
        (info.sample_aspect_ratio == 1, f"SAR is {info.sample_aspect_ratio}, not 1:1"),
        (0 < info.fps <= settings.max_fps + 0.01, f"frame rate {info.fps:.2f} is over the cap"),
        (info.audio_streams == 0, f"{info.audio_streams} audio stream(s), expected none"),
        (info.faststart is True, "moov does not come before mdat (+faststart missing)"),
        (abs(info.duration_s - expected_s) <= DURATION_SLACK_S + 1 / max(info.fps, 1),
         f"duration {info.duration_s:.2f} s, expected {expected_s:.2f} s"),
        (info.format_name.startswith("mov,mp4"), f"container is {info.format_name}, not MP4"),
    ]
    return [message for ok, message in checks if not ok]


def summary(info: VideoInfo, *, size_bytes: int) -> dict[str, object]:
    """The probe facts a person wants to see about a clip, JSON-ready: ``size_bytes``,
    ``codec``, ``resolution`` (``WxH``), ``fps``, ``duration_s`` (to the millisecond),
    ``audio_streams`` (a count) and ``faststart`` (moov before mdat)."""
    return {
        "size_bytes": size_bytes,
        "codec": info.codec,
        "resolution": f"{info.width}x{info.height}",
        "fps": round(info.fps, 3),
        "duration_s": round(info.duration_s, 3),
        "audio_streams": info.audio_streams,
        "faststart": info.faststart,
    }
