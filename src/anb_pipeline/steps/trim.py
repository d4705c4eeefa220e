"""trim: keep the first ``max_content_s`` seconds of the video stream, drop everything else."""

from __future__ import annotations

from ..job import Job
from .base import StepContext


class TrimStep:
    name = "trim"

    def run(self, ctx: StepContext) -> Job:
        source = ctx.fetch_input()
        trimmed = ctx.workdir / "trimmed.mkv"
        # A stream copy: no decode, no encode. The cut lands on a packet boundary; resize
        # re-applies the limit frame-exactly while it re-encodes anyway. Matroska takes any
        # codec ffmpeg can decode, so no input is refused for its container.
        ctx.ffmpeg(["-i", str(source), "-map", "0:v:0", "-t", f"{ctx.settings.max_content_s:g}",
                    "-an", "-sn", "-dn", "-c:v", "copy", str(trimmed)])
        return ctx.job.advance(input_key=ctx.store_output(trimmed, "mkv"))
