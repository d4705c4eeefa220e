"""Step plugins: the defaults live here; others arrive through the entry-point group.

A step is any object with ``name`` and ``run(ctx) -> Job``. A step that also has
``stage(ctx, info, meta) -> Stage`` is a FilterStep and can be fused with its neighbours.
"""

from .base import FilterStep, Step, StepContext
from .graph import Stage
from .registry import ENTRY_POINT_GROUP, StepRegistry

__all__ = ["ENTRY_POINT_GROUP", "FilterStep", "Stage", "Step", "StepContext", "StepRegistry"]
