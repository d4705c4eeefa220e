"""ANB pipeline: a pluggable task-queue framework for media pipelines on Dramatiq."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    AnbError,
    BrokerUnavailable,
    ConfigurationError,
    MediaError,
    MediaTimeout,
    MediaUndecodable,
    NotAVideo,
    ObjectNotFound,
    PermanentMediaError,
    StepNotFound,
    StorageError,
    StorageUnavailable,
)
from .events import EventSink, PipelineEvent, VideoState, WorkerBeat, event_order, run_of
from .job import Job
from .settings import Settings

if TYPE_CHECKING:
    from .pipeline import MediaPipeline
    from .steps import Step, StepContext, StepRegistry
    from .storage import Storage, open_storage

#: Names whose modules import Dramatiq, boto3 or PyAV: loaded on first use, so that light
#: users of the package (the ``anb`` command's argument parsing) stay fast.
_LAZY = {
    "MediaPipeline": ".pipeline",
    "Step": ".steps",
    "StepContext": ".steps",
    "StepRegistry": ".steps",
    "Storage": ".storage",
    "open_storage": ".storage",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "AnbError",
    "BrokerUnavailable",
    "ConfigurationError",
    "EventSink",
    "Job",
    "MediaError",
    "MediaPipeline",
    "MediaTimeout",
    "MediaUndecodable",
    "NotAVideo",
    "ObjectNotFound",
    "PermanentMediaError",
    "PipelineEvent",
    "Settings",
    "Step",
    "StepContext",
    "StepNotFound",
    "StepRegistry",
    "Storage",
    "StorageError",
    "StorageUnavailable",
    "VideoState",
    "WorkerBeat",
    "open_storage",
    "event_order",
    "run_of",
]
