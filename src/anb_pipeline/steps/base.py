"""The step contract: a plugin that turns one artifact into the next."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..errors import ObjectNotFound
from ..job import Job
from ..media import VideoInfo, probe, run_ffmpeg
from ..media.colour import BT709_STREAM_TAGS
from ..settings import Settings
from ..storage import Storage
from .graph import Stage, compose

#: Where the poster frame is taken, in seconds into the content (after the intro card).
POSTER_OFFSET_S = 1.0
#: ffmpeg output options of a poster: a JPEG that each selected frame overwrites.
POSTER_ENCODE = ("-fps_mode", "vfr", "-q:v", "3", "-update", "1")


@dataclasses.dataclass
class StepContext:
    """What a step gets: its job, storage, settings and a private scratch directory."""

    step: str
    job: Job
    storage: Storage
    settings: Settings
    workdir: Path

    def fetch_input(self, suffix: str = ".bin") -> Path:
        """Download the step's input to ``<workdir>/input<suffix>`` and return that path.

        Raises: ``ObjectNotFound`` when the input is not stored, ``StorageUnavailable``.
        """
        path = self.workdir / f"input{suffix}"
        self.storage.get_file(self.job.input_key, path)
        return path

    def input_source(self) -> str:
        """The input as ffmpeg should open it: read in place, never downloaded whole.

        Raises: ``ObjectNotFound`` when the input is not stored (a video deleted, or a
        duplicate message of a finished pipeline): a storage fact, retried like one,
        instead of ffmpeg's "not a video" on a URL that answers 404.
        """
        if not self.storage.exists(self.job.input_key):
            raise ObjectNotFound(f"the step's input {self.job.input_key} is not stored")
        # The URL must outlive every ffmpeg call of the step.
        return self.storage.read_url(self.job.input_key,
                                     expires_s=self.settings.step_time_limit_s)

    def store_output(self, path: Path, extension: str) -> str:
        """Store ``path`` at the step's deterministic artifact key and return the key."""
        key = self.job.artifact_key(self.step, extension)
        self.storage.put_file(key, path)
        return key

    def ffmpeg(self, args: Sequence[str]) -> None:
        """Run ffmpeg with ``args`` under ``ANB_FFMPEG_TIMEOUT_S``.

        Raises: ``MediaUndecodable``, ``MediaTimeout`` or ``MediaError`` (see ``run_ffmpeg``).
        """
        run_ffmpeg(args, timeout_s=self.settings.ffmpeg_timeout_s)

    def render(self, stages: Sequence[Stage], source: str, info: VideoInfo) -> Job:
        """One ffmpeg pass over ``stages`` reading ``source`` (probed as ``info``); stores
        the result at this step's key.

        When a stage writes poster frames, the same pass writes the poster image too, and
        ``poster_artifact`` in the job's meta says where it is stored.
        """
        plan = compose(stages, source=source, info=info)
        extension = "mp4" if plan.final else "mkv"
        output = self.workdir / f"output.{extension}"
        encode = self.final_encode() if plan.final else self.intermediate_encode()
        args = [*plan.args, *encode, str(output)]
        poster = self.workdir / "poster.jpg"
        if plan.poster_label:
            args += ["-map", plan.poster_label, *POSTER_ENCODE, str(poster)]
        self.ffmpeg(args)
        # A later render without a poster makes an earlier one stale: it shows other frames.
        written = plan.poster_label is not None and poster.exists()
        return self.job.advance(input_key=self.store_output(output, extension), **plan.meta,
                                poster_artifact=self.store_output(poster, "jpg") if written else None)

    def run_stage(self, step: FilterStep) -> Job:
        """A filter step on its own: its stage over this step's input, one ffmpeg pass."""
        source = self.input_source()
        info = probe(source)
        return self.render([step.stage(self, info, self.job.meta)], source, info)

    def intermediate_encode(self) -> list[str]:
        """Fast, near-lossless H.264 for artifacts that only the next step reads."""
        return ["-an", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "17",
                "-pix_fmt", "yuv420p", *BT709_STREAM_TAGS]

    def final_encode(self) -> list[str]:
        """The encoder settings of the published clip (SPEC section 3)."""
        return ["-an", "-c:v", "libx264", "-preset", self.settings.video_preset,
                "-crf", str(self.settings.video_crf), "-pix_fmt", "yuv420p",
                *BT709_STREAM_TAGS, "-movflags", "+faststart"]


@runtime_checkable
class Step(Protocol):
    """A processing step. ``run`` must be safe to repeat: same input, same output key."""

    name: str

    def run(self, ctx: StepContext) -> Job:
        """Do the step's work on ``ctx.job`` and return the job for the next step.

        Must be idempotent: a redelivered message runs it again with the same input, and it
        writes the same keys. Raises: ``PermanentMediaError`` for a file no attempt can
        process (dead-lettered at once), any other exception to be retried.
        """
        ...


@runtime_checkable
class FilterStep(Step, Protocol):
    """A step whose work is one filter stage, so it can be fused with its neighbours.

    ``info`` is the probe of the input the stage will read; ``meta`` holds what earlier
    steps handed on (in a fused run, the earlier stages of the same graph).
    """

    def stage(self, ctx: StepContext, info: VideoInfo, meta: dict[str, Any]) -> Stage:
        """The step's part of a filter graph (see ``steps.graph.Stage``); pure: no ffmpeg
        run, no storage access.
        """
        ...
