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
from .pipeline import MediaPipeline
from .settings import Settings
from .steps import Step, StepContext, StepRegistry
from .storage import Storage, open_storage

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
    "layout",
    "open_storage",
    "event_order",
    "run_of",
]
