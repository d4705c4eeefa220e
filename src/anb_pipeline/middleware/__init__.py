"""The framework's cross-cutting concerns, each a Dramatiq middleware."""

from .lifecycle import LifecycleEvents
from .log_context import LogContext
from .poison import PoisonGuard
from .video_guard import VideoGuard

__all__ = ["LifecycleEvents", "LogContext", "PoisonGuard", "VideoGuard"]
