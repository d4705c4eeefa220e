"""The step contract: a plugin that turns one artifact into the next."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..errors import ObjectNotFound
from ..job import Job
from ..media import VideoInfo, probe, run_ffmpeg
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
        run_ffmpeg(args, timeout_s=self.settings.ffmpeg_timeout_s)

    def render(self, stages: Sequence[Stage], source: str) -> Job:
        """One ffmpeg pass over ``stages``; stores the result at this step's key.

        When a stage writes poster frames, the same pass writes the poster image too, and
        ``poster_artifact`` in the job's meta says where it is stored.
        """
        plan = compose(stages, source=source)
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
        return self.render([step.stage(self, probe(source), self.job.meta)], source)

    def intermediate_encode(self) -> list[str]:
        """Fast, near-lossless H.264 for artifacts that only the next step reads."""
        return ["-an", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "17",
                "-pix_fmt", "yuv420p"]

    def final_encode(self) -> list[str]:
        """The encoder settings of the published clip (SPEC section 3)."""
        return ["-an", "-c:v", "libx264", "-preset", self.settings.video_preset,
                "-crf", str(self.settings.video_crf), "-pix_fmt", "yuv420p",
                "-movflags", "+faststart"]


@runtime_checkable
class Step(Protocol):
    """A processing step. ``run`` must be safe to repeat: same input, same output key."""

    name: str

    def run(self, ctx: StepContext) -> Job: ...


@runtime_checkable
class FilterStep(Step, Protocol):
    """A step whose work is one filter stage, so it can be fused with its neighbours.

    ``info`` is the probe of the input the stage will read; ``meta`` holds what earlier
    steps handed on (in a fused run, the earlier stages of the same graph).
    """

    def stage(self, ctx: StepContext, info: VideoInfo, meta: dict[str, Any]) -> Stage: ...
