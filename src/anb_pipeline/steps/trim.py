"""trim: keep the first ``max_content_s`` seconds of the video stream, drop everything else."""

from __future__ import annotations

from typing import Any

from ..job import Job
from ..media import VideoInfo, probe
from .base import StepContext
from .graph import Stage


class TrimStep:
    name = "trim"

    def run(self, ctx: StepContext) -> Job:
        source = ctx.input_source()
        info = probe(source)
        if info.hidden_lead_in:
            # A stream copy drops the MP4 edit list and the frames it hides come back; a
            # decode honours it.
            return ctx.render([self.stage(ctx, info, ctx.job.meta)], source, info)
        trimmed = ctx.workdir / "trimmed.mkv"
        # Alone, trim is a stream copy: no decode, no encode. The cut lands on a packet
        # boundary; resize re-applies the limit frame-exactly while it re-encodes anyway.
        # Matroska takes any codec ffmpeg can decode, so no input is refused for its container.
        ctx.ffmpeg(["-i", source, "-map", f"0:{info.stream_index}", "-t", f"{ctx.settings.max_content_s:g}",
                    "-an", "-sn", "-dn", "-c:v", "copy", str(trimmed)])
        return ctx.job.advance(input_key=ctx.store_output(trimmed, "mkv"))

    def stage(self, ctx: StepContext, info: VideoInfo, meta: dict[str, Any]) -> Stage:
        # Fused, an input-side limit: ffmpeg stops reading the source after it.
        return Stage(graph="{src}null{out}",
                     source_options=("-t", f"{ctx.settings.max_content_s:g}"))
