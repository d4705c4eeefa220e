"""The framework's cross-cutting concerns, each a Dramatiq middleware."""

from .lifecycle import LifecycleEvents, step_name
from .log_context import LogContext
from .poison import PoisonGuard

__all__ = ["LifecycleEvents", "LogContext", "PoisonGuard", "step_name"]
