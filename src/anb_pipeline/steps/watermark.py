"""watermark: the ANB mark in the bottom-right corner of the picture, not of the bars."""

from __future__ import annotations

from typing import Any

from ..job import Job
from ..media import ContentBox, VideoInfo
from ..media.colour import OVERLAY_FORMAT
from ..media.geometry import FRAME_HEIGHT, FRAME_WIDTH
from .base import StepContext
from .graph import Stage

#: The mark's width as a share of the picture's, and its distance from the edges.
MARK_WIDTH_SHARE = 0.16
MARGIN_SHARE = 0.03


class WatermarkStep:
    """watermark: the ANB mark in a corner of the picture (SPEC section 3), placed inside
    the content box so it never sits on the letterbox.
    """
    name = "watermark"

    def run(self, ctx: StepContext) -> Job:
        """The watermark stage alone, one ffmpeg pass."""
        return ctx.run_stage(self)

    def stage(self, ctx: StepContext, info: VideoInfo, meta: dict[str, Any]) -> Stage:
        """The overlay graph; reads ``meta['content_box']`` (default: the whole frame)."""
        box = ContentBox.from_list(meta.get("content_box", [0, 0, FRAME_WIDTH, FRAME_HEIGHT]))
        mark_width = max(16, int(box.width * MARK_WIDTH_SHARE) // 2 * 2)
        margin = max(4, int(min(box.width, box.height) * MARGIN_SHARE))
        x = f"{box.x + box.width - margin}-w"
        y = f"{box.y + box.height - margin}-h"
        graph = (f"{{x0}}scale={mark_width}:-1:{OVERLAY_FORMAT}[{{id}}mark];"
                 f"{{src}}[{{id}}mark]overlay=x={x}:y={y}{{out}}")
        return Stage(graph=graph, inputs=(("-i", str(ctx.settings.watermark_path)),))
