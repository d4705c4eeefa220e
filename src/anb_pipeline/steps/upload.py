"""upload: publish the clip and its poster, then delete the intermediates."""

from __future__ import annotations

from pathlib import Path

from .. import layout
from ..errors import ObjectNotFound
from ..job import Job
from ..media import probe
from ..media.colour import POSTER_JPEG_FILTER
from .base import POSTER_ENCODE, POSTER_OFFSET_S, StepContext


class UploadStep:
    """upload: publish the clip and its poster at their ``processed/`` keys, then delete
    the video's intermediates.
    """
    name = "upload"

    def run(self, ctx: StepContext) -> Job:
        """Copy the last artifact to ``processed/<id>.mp4``, publish the poster to
        ``processed/<id>.jpg``, delete ``work/<id>/``; returns the job with ``output_key`` and
        ``poster_key`` in its meta.

        Raises: ``ObjectNotFound`` when the input is gone and the outputs are not both there
        (a redelivery after a completed upload finds them and returns the same job).
        """
        output_key, poster_key = layout.clip_key(ctx.job.video_id), layout.poster_key(ctx.job.video_id)
        try:
            final = ctx.input_source()
        except ObjectNotFound:
            # A redelivery after a completed upload: the intermediates are already gone.
            if ctx.storage.exists(output_key) and ctx.storage.exists(poster_key):
                return ctx.job.advance(input_key=output_key, output_key=output_key,
                                       poster_key=poster_key)
            raise
        # The clip goes last-but-one and the poster last: a redelivery finds the work done
        # only once both are complete, and each write is atomic. Objects are copied inside
        # the storage (server-side on S3): the clip never travels through the worker.
        ctx.storage.copy(ctx.job.input_key, output_key, content_type="video/mp4")
        self.publish_poster(ctx, final, poster_key)
        ctx.storage.delete_prefix(ctx.job.work_prefix)
        return ctx.job.advance(input_key=output_key, output_key=output_key, poster_key=poster_key)

    def publish_poster(self, ctx: StepContext, final: str, poster_key: str) -> None:
        """The poster the final render wrote in its own pass (bumpers does), or else one
        taken from the clip."""
        rendered = ctx.job.meta.get("poster_artifact")
        if isinstance(rendered, str):
            try:
                ctx.storage.copy(rendered, poster_key, content_type="image/jpeg")
                return
            except ObjectNotFound:
                pass  # gone since: take one from the clip
        ctx.storage.put_file(poster_key, self.poster(ctx, final), content_type="image/jpeg")

    def poster(self, ctx: StepContext, final: str) -> Path:
        """A JPEG of the content taken from the final clip, when no render wrote one (a
        third-party final step), for any clip length or frame rate.

        A seek can land past the last frame (one-frame content, 1 fps input) and then
        ffmpeg writes nothing. Instead every frame up to the target time is selected and
        each overwrites the image, so the poster is the last frame at or before it, and
        there always is one. The target stays inside short content.
        """
        content_s = max(probe(final).duration_s - 2 * ctx.settings.bumper_s, 0.0)
        target_s = ctx.settings.bumper_s + min(POSTER_OFFSET_S, content_s / 2)
        poster = ctx.workdir / "poster.jpg"
        # -t: nothing after the target is read, let alone decoded.
        ctx.ffmpeg(["-t", f"{target_s + 1:.3f}", "-i", final,
                    "-vf", f"select='lte(t,{target_s:.3f})',{POSTER_JPEG_FILTER}",
                    *POSTER_ENCODE, str(poster)])
        return poster
