"""The framework's cross-cutting concerns, each a Dramatiq middleware."""

from .lifecycle import LifecycleEvents, step_name
from .poison import PoisonGuard

__all__ = ["LifecycleEvents", "PoisonGuard", "step_name"]
