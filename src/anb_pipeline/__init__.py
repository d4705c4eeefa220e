"""ANB pipeline: a pluggable task-queue framework for media pipelines on Dramatiq."""

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
from .events import EventSink, PipelineEvent, VideoState, WorkerBeat, event_order, run_of
from .job import Job
from .media import VideoInfo, probe
from .pipeline import MediaPipeline
from .settings import Settings, env_values
from .steps import Step, StepContext, StepRegistry
from .storage import (
    MAX_PARTS,
    MIN_PART_BYTES,
    LocalStorage,
    S3Storage,
    Storage,
    check_key,
    open_storage,
)

__all__ = [
    "AnbError",
    "BrokerUnavailable",
    "check_key",
    "ConfigurationError",
    "env_values",
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
    "NotAVideo",
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
