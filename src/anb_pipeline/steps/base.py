"""The step contract: a plugin that turns one artifact into the next."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Protocol, runtime_checkable

from ..job import Job
from ..media import run_ffmpeg
from ..settings import Settings
from ..storage import Storage


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

    def store_output(self, path: Path, extension: str) -> str:
        """Store ``path`` at the step's deterministic artifact key and return the key."""
        key = self.job.artifact_key(self.step, extension)
        self.storage.put_file(key, path)
        return key

    def ffmpeg(self, args: Sequence[str]) -> None:
        run_ffmpeg(args, timeout_s=self.settings.ffmpeg_timeout_s)

    def intermediate_encode(self) -> list[str]:
        """Fast, near-lossless H.264 for artifacts that only the next step reads."""
        return ["-an", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "14",
                "-pix_fmt", "yuv420p"]

    def final_encode(self) -> list[str]:
        """The encoder settings of the published clip (SPEC section 3)."""
        return ["-an", "-c:v", "libx264", "-preset", self.settings.video_preset,
                "-crf", str(self.settings.video_crf), "-pix_fmt", "yuv420p",
                "-movflags", "+faststart"]


@runtime_checkable
class Step(Protocol):
    """A processing step. ``run`` must be safe to repeat: same input, same output key."""

    name: ClassVar[str]

    def run(self, ctx: StepContext) -> Job: ...
