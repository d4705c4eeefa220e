"""watermark: the ANB mark in the bottom-right corner of the picture, not of the bars."""

from __future__ import annotations

from ..job import Job
from ..media import ContentBox
from ..media.geometry import FRAME_HEIGHT, FRAME_WIDTH
from .base import StepContext

#: The mark's width as a share of the picture's, and its distance from the edges.
MARK_WIDTH_SHARE = 0.16
MARGIN_SHARE = 0.03


def overlay_graph(box: ContentBox) -> str:
    """The filter chain that puts input 1 (the mark) on input 0; also used by bumpers."""
    mark_width = max(16, int(box.width * MARK_WIDTH_SHARE) // 2 * 2)
    margin = max(4, int(min(box.width, box.height) * MARGIN_SHARE))
    x = f"{box.x + box.width - margin}-w"
    y = f"{box.y + box.height - margin}-h"
    return f"[1:v]scale={mark_width}:-1[mark];[0:v][mark]overlay=x={x}:y={y}:format=auto[v]"


class WatermarkStep:
    name = "watermark"

    def run(self, ctx: StepContext) -> Job:
        source = ctx.fetch_input(".mkv")
        box = ContentBox.from_list(
            ctx.job.meta.get("content_box", [0, 0, FRAME_WIDTH, FRAME_HEIGHT])
        )
        marked = ctx.workdir / "marked.mkv"
        ctx.ffmpeg(["-i", str(source), "-i", str(ctx.settings.watermark_path),
                    "-filter_complex", overlay_graph(box), "-map", "[v]",
                    *ctx.intermediate_encode(), str(marked)])
        return ctx.job.advance(input_key=ctx.store_output(marked, "mkv"))
