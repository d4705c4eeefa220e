"""The job: what a pipeline message carries. References only, never media bytes."""

from __future__ import annotations

import dataclasses
from typing import Any

from . import layout


@dataclasses.dataclass(frozen=True)
class Job:
    """What a pipeline message carries: references to stored objects, never media bytes.

    ``video_id`` is the video's id (a UUID from the web tier); ``source_key`` the key of the
    original upload and ``input_key`` the key the next step reads (see
    :mod:`anb_pipeline.layout`). ``meta`` holds the facts a step hands to later ones, JSON
    values only (the job travels in a Dramatiq message):

    - ``fps`` (int, frames per second): the output frame rate resize chose, at most
      ``ANB_MAX_FPS``;
    - ``content_box`` (``[x, y, width, height]`` in output pixels): where the picture sits in
      the 1280x720 frame after resize (the rest is letterbox);
    - ``poster_artifact`` (str key or None): the poster a render wrote in the same pass;
    - ``output_key`` and ``poster_key`` (str keys): the published clip and poster, set by
      the upload step and sent on in ``pipeline_done``.

    A third-party step may add keys of its own; later steps ignore what they do not know.
    """
    video_id: str
    #: The key of the original upload.
    source_key: str
    #: The key of the artifact the next step reads.
    input_key: str
    #: Facts a step hands to later ones (frame rate, content box, output keys...).
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def start(cls, *, video_id: str, source_key: str) -> Job:
        """The job of a new pipeline: its first step reads the original (``source_key``)."""
        return cls(video_id=video_id, source_key=source_key, input_key=source_key)

    @classmethod
    def from_message(cls, data: dict[str, Any]) -> Job:
        """The job in a message's argument (``to_message``'s dict).

        Raises: ``KeyError`` when ``video_id``, ``source_key`` or ``input_key`` is missing.
        """
        return cls(
            video_id=str(data["video_id"]),
            source_key=str(data["source_key"]),
            input_key=str(data["input_key"]),
            meta=dict(data.get("meta") or {}),
        )

    def to_message(self) -> dict[str, Any]:
        """The job as a JSON-ready dict: ``video_id``, ``source_key``, ``input_key``, ``meta``."""
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
        """The job the next step gets: it reads ``input_key``, and ``meta`` gains (or
        overwrites) the given keys.
        """
        return dataclasses.replace(self, input_key=input_key, meta={**self.meta, **meta})
