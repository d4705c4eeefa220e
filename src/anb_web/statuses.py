"""The statuses of a video and of its steps, each an enum defined once.

The enums are ``str``-valued, so a member is equal to, stored as and serialized to JSON as
its value: the database columns, the API's ``processing_status`` and ``steps[].status``,
the OpenAPI document and the page scripts all use the same words (SPEC section 5).
"""

from __future__ import annotations

import enum


class _Word(str, enum.Enum):
    """A status: equal to, formatted as and serialized as its value."""

    def __str__(self) -> str:
        return self.value


class VideoStatus(_Word):
    """Where a video is in its life: ``pending`` (uploaded, not started), ``processing``,
    ``processed`` (published) or ``failed`` (a step failed for good)."""

    PENDING = "pending"
    PROCESSING = "processing"
    PROCESSED = "processed"
    FAILED = "failed"


class StepStatus(_Word):
    """Where one configured step of a video is: ``pending``, ``running``, ``succeeded`` or
    ``failed``."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


#: The statuses a video stays in until someone acts (try again, delete).
FINAL_VIDEO_STATUSES = (VideoStatus.PROCESSED, VideoStatus.FAILED)


def values(statuses: type[VideoStatus] | type[StepStatus]) -> tuple[str, ...]:
    """The plain string values of an enum, in declaration order (for SQL and schemas)."""
    return tuple(member.value for member in statuses)
