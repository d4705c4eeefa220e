"""resize: fit the picture into 1280x720 on black, square pixels, frame rate capped."""

from __future__ import annotations

from typing import Any

from ..job import Job
from ..media import VideoInfo, fit_box
from ..media.geometry import FRAME_HEIGHT, FRAME_WIDTH
from .base import StepContext
from .graph import Stage


class ResizeStep:
    """resize: fit the picture into 1280x720 on black with square pixels, the frame rate
    capped at ``ANB_MAX_FPS`` (SPEC section 3).
    """
    name = "resize"

    def run(self, ctx: StepContext) -> Job:
        """The resize stage alone, one ffmpeg pass."""
        return ctx.run_stage(self)

    def stage(self, ctx: StepContext, info: VideoInfo, meta: dict[str, Any]) -> Stage:
        """The scale-and-pad graph; hands on ``fps`` and ``content_box`` in the job's meta."""
        box = fit_box(*info.display_size)
        fps = min(round(info.fps), ctx.settings.max_fps) if info.fps >= 1 else ctx.settings.max_fps
        graph = (
            f"{{src}}scale={box.width}:{box.height}:flags=bicubic,setsar=1,"
            f"pad={FRAME_WIDTH}:{FRAME_HEIGHT}:{box.x}:{box.y}:black,fps={fps},"
            # The exact cut: trim alone stops on a packet boundary.
            f"trim=end={ctx.settings.max_content_s:g}{{out}}"
        )
        return Stage(graph=graph, meta={"fps": fps, "content_box": box.as_list()})
