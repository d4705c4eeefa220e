"""Step plugins: the defaults live here; others arrive through the entry-point group."""

from .base import Step, StepContext
from .registry import ENTRY_POINT_GROUP, StepRegistry

__all__ = ["ENTRY_POINT_GROUP", "Step", "StepContext", "StepRegistry"]
