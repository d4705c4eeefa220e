"""trim: keep the first ``max_content_s`` seconds of the video stream, drop everything else."""

from __future__ import annotations

from typing import Any

from ..job import Job
from ..media import VideoInfo, probe
from .base import StepContext
from .graph import Stage


class TrimStep:
    """trim: keep the first ``ANB_MAX_CONTENT_S`` seconds (30 s, SPEC section 3)."""
    name = "trim"

    def run(self, ctx: StepContext) -> Job:
        """Alone, a stream copy of the video stream cut at ``ANB_MAX_CONTENT_S`` (to Matroska);
        a decode instead when an MP4 edit list hides lead-in frames.

        Raises: ``ObjectNotFound``, and what ``probe`` and ``run_ffmpeg`` raise.
        """
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
        """Fused, an input option (``-t``): ffmpeg stops reading the source at the limit."""
        # Fused, an input-side limit: ffmpeg stops reading the source after it.
        return Stage(graph="{src}null{out}",
                     source_options=("-t", f"{ctx.settings.max_content_s:g}"))
