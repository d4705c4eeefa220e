"""What a source needs before any step sees it: deinterlacing and the colour path.

Added to a graph only when the probe says so (see :mod:`.colour`); a progressive,
limited-range BT.709 SDR source gets nothing but its BT.709 tags.
"""

from __future__ import annotations

from .colour import BT709_FRAME_TAGS, conversion_filters, deinterlace_filter
from .probe import VideoInfo


def source_filters(info: VideoInfo) -> list[str]:
    """The filter chain, in order, from the decoded source to progressive BT.709 frames."""
    chain = [deinterlace_filter(info.field_order)] if info.field_order else []
    chain += conversion_filters(info.colour, width=info.width, height=info.height)
    return [*chain, BT709_FRAME_TAGS]


def source_label(info: VideoInfo) -> str:
    """The filter-graph label of the source's video stream (never its cover art)."""
    return f"[0:{info.stream_index}]"
