"""resize: fit the picture into 1280x720 on black, square pixels, frame rate capped."""

from __future__ import annotations

from ..job import Job
from ..media import fit_box, probe
from ..media.geometry import FRAME_HEIGHT, FRAME_WIDTH
from .base import StepContext


class ResizeStep:
    name = "resize"

    def run(self, ctx: StepContext) -> Job:
        source = ctx.fetch_input(".mkv")
        info = probe(source)
        box = fit_box(*info.display_size)
        fps = min(round(info.fps), ctx.settings.max_fps) if info.fps >= 1 else ctx.settings.max_fps
        resized = ctx.workdir / "resized.mkv"
        graph = (
            f"scale={box.width}:{box.height}:flags=bicubic,setsar=1,"
            f"pad={FRAME_WIDTH}:{FRAME_HEIGHT}:{box.x}:{box.y}:black,fps={fps}"
        )
        ctx.ffmpeg(["-i", str(source), "-map", "0:v:0", "-vf", graph,
                    "-t", f"{ctx.settings.max_content_s:g}", *ctx.intermediate_encode(),
                    str(resized)])
        return ctx.job.advance(
            input_key=ctx.store_output(resized, "mkv"), fps=fps, content_box=box.as_list()
        )
