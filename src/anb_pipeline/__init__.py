"""ANB pipeline: a pluggable task-queue framework for media pipelines on Dramatiq."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import layout
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
from .events import (
    NOTHING_STARTED,
    EventSink,
    PipelineEvent,
    VideoState,
    WorkerBeat,
    event_order,
    run_of,
)
from .job import Job
from .settings import AnbSettings, NameList, Settings
from .storage import MAX_PARTS, MIN_PART_BYTES, LocalStorage, Storage, check_key, open_storage

if TYPE_CHECKING:
    from .media import VideoInfo, probe
    from .pipeline import MediaPipeline
    from .steps import Step, StepContext, StepRegistry
    from .storage import S3Storage

#: Names whose modules import Dramatiq, boto3 or PyAV: loaded on first use, so that light
#: users of the package (the ``anb`` command's argument parsing) stay fast.
_LAZY = {
    "MediaPipeline": ".pipeline",
    "S3Storage": ".storage",
    "Step": ".steps",
    "StepContext": ".steps",
    "StepRegistry": ".steps",
    "VideoInfo": ".media",
    "probe": ".media",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "AnbError",
    "AnbSettings",
    "BrokerUnavailable",
    "check_key",
    "ConfigurationError",
    "event_order",
    "EventSink",
    "Job",
    "layout",
    "LocalStorage",
    "MAX_PARTS",
    "MediaError",
    "MediaPipeline",
    "MediaTimeout",
    "MediaUndecodable",
    "MIN_PART_BYTES",
    "NameList",
    "NotAVideo",
    "NOTHING_STARTED",
    "ObjectNotFound",
    "open_storage",
    "PermanentMediaError",
    "PipelineEvent",
    "probe",
    "run_of",
    "S3Storage",
    "Settings",
    "Step",
    "StepContext",
    "StepNotFound",
    "StepRegistry",
    "Storage",
    "StorageError",
    "StorageUnavailable",
    "VideoInfo",
    "VideoState",
    "WorkerBeat",
]
