"""upload: publish the clip and its poster, then delete the intermediates."""

from __future__ import annotations

from ..errors import ObjectNotFound
from ..job import Job
from .base import StepContext

#: Where the poster frame is taken, in seconds into the content (after the intro card).
POSTER_OFFSET_S = 1.0


class UploadStep:
    name = "upload"

    def run(self, ctx: StepContext) -> Job:
        output_key, poster_key = ctx.job.output_key("mp4"), ctx.job.output_key("jpg")
        try:
            final = ctx.fetch_input(".mp4")
        except ObjectNotFound:
            # A redelivery after a completed upload: the intermediates are already gone.
            if ctx.storage.exists(output_key) and ctx.storage.exists(poster_key):
                return ctx.job.advance(input_key=output_key, output_key=output_key,
                                       poster_key=poster_key)
            raise
        poster = ctx.workdir / "poster.jpg"
        seek_s = ctx.settings.bumper_s + POSTER_OFFSET_S
        ctx.ffmpeg(["-ss", f"{seek_s:g}", "-i", str(final), "-frames:v", "1", "-q:v", "3",
                    "-update", "1", str(poster)])
        # The clip goes last-but-one and the poster last: an output that exists has a poster
        # only once both are complete, and each put is atomic.
        ctx.storage.put_file(output_key, final, content_type="video/mp4")
        ctx.storage.put_file(poster_key, poster, content_type="image/jpeg")
        ctx.storage.delete_prefix(ctx.job.work_prefix)
        return ctx.job.advance(input_key=output_key, output_key=output_key, poster_key=poster_key)
