"""The job: what a pipeline message carries. References only, never media bytes."""

from __future__ import annotations

import dataclasses
from typing import Any

from . import layout


@dataclasses.dataclass(frozen=True)
class Job:
    video_id: str
    #: The key of the original upload.
    source_key: str
    #: The key of the artifact the next step reads.
    input_key: str
    #: Facts a step hands to later ones (frame rate, content box, output keys...).
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def start(cls, *, video_id: str, source_key: str) -> Job:
        return cls(video_id=video_id, source_key=source_key, input_key=source_key)

    @classmethod
    def from_message(cls, data: dict[str, Any]) -> Job:
        return cls(
            video_id=str(data["video_id"]),
            source_key=str(data["source_key"]),
            input_key=str(data["input_key"]),
            meta=dict(data.get("meta") or {}),
        )

    def to_message(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def work_prefix(self) -> str:
        """``work/<video_id>/`` (see :mod:`anb_pipeline.layout`)."""
        return layout.work_prefix(self.video_id)

    def artifact_key(self, step: str, extension: str) -> str:
        """Deterministic: a redelivered step rewrites the same key, never a new one."""
        return layout.artifact_key(video_id=self.video_id, step=step, extension=extension)

    def output_key(self, extension: str) -> str:
        """``processed/<video_id>.<extension>`` (see :mod:`anb_pipeline.layout`)."""
        return layout.output_key(video_id=self.video_id, extension=extension)

    def advance(self, *, input_key: str, **meta: Any) -> Job:
        return dataclasses.replace(self, input_key=input_key, meta={**self.meta, **meta})
