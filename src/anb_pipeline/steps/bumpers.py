"""bumpers: the intro and outro cards around the content, and the final encode."""

from __future__ import annotations

from typing import Any

from ..job import Job
from ..media import VideoInfo
from ..media.colour import BT709_FRAME_TAGS, OVERLAY_FORMAT, POSTER_JPEG_FILTER
from ..media.geometry import FRAME_HEIGHT, FRAME_WIDTH
from .base import POSTER_OFFSET_S, StepContext
from .graph import Stage

#: The logo's width on a card, in output pixels.
LOGO_WIDTH = 480


class BumpersStep:
    """bumpers: a card with the ANB logo before and after the clip, ``ANB_BUMPER_S``
    seconds each (SPEC section 3), drawn in the filter graph at the clip's frame rate.
    """
    name = "bumpers"

    def run(self, ctx: StepContext) -> Job:
        """The bumpers stage alone, one ffmpeg pass (see :meth:`StepContext.run_stage`)."""
        return ctx.run_stage(self)

    def stage(self, ctx: StepContext, info: VideoInfo, meta: dict[str, Any]) -> Stage:
        """The graph that puts the logo cards around the clip; reads ``meta['fps']``
        (default ``ANB_MAX_FPS``).
        """
        # The cards are drawn in the graph, not stored: a colour source and the logo.
        fps = int(meta.get("fps", ctx.settings.max_fps))
        card = (f"color=c=black:s={FRAME_WIDTH}x{FRAME_HEIGHT}:r={fps}:"
                f"d={ctx.settings.bumper_s:g},setsar=1,format=yuv420p,{BT709_FRAME_TAGS}")
        graph = (
            f"{{x0}}scale={LOGO_WIDTH}:-1:{OVERLAY_FORMAT},split[{{id}}logo1][{{id}}logo2];"
            f"{card}[{{id}}bg1];{card}[{{id}}bg2];"
            "[{id}bg1][{id}logo1]overlay=(W-w)/2:(H-h)/2:shortest=1[{id}intro];"
            "[{id}bg2][{id}logo2]overlay=(W-w)/2:(H-h)/2:shortest=1[{id}outro];"
            f"{{src}}setsar=1,fps={fps},split[{{id}}main][{{id}}still];"
            # The poster: every content frame up to the offset overwrites the image, so it
            # is the frame at the offset, or the last one of shorter content. trim ends the
            # branch there: a branch left open would make ffmpeg keep feeding it and queue the
            # whole decoded clip in memory for the other one. The branch converts to JFIF
            # (BT.601, full range) itself; without it, the full range that JPEG wants is
            # negotiated back through split onto the clip itself.
            f"[{{id}}still]setpts=PTS-STARTPTS,trim=end={POSTER_OFFSET_S + 0.5 / fps:.4f},"
            f"{POSTER_JPEG_FILTER}{{poster}};"
            "[{id}intro][{id}main][{id}outro]concat=n=3:v=1:a=0,format=yuv420p,"
            f"{BT709_FRAME_TAGS}{{out}}"
        )
        return Stage(graph=graph, inputs=(("-loop", "1", "-i", str(ctx.settings.logo_path)),),
                     final=True, poster=True)
