"""Consecutive filter steps fused into one actor: one decode, one graph, one encode."""

from __future__ import annotations

from collections.abc import Sequence

from ..job import Job
from ..media import probe
from ..messages import FAILED_STEP_ATTRIBUTE, FUSED_SEPARATOR
from .base import FilterStep, Step, StepContext
from .graph import Stage


class FusedStep:
    """Consecutive filter steps as one actor and one ffmpeg pass; its name is the parts'
    names joined by ``+`` (``messages.FUSED_SEPARATOR``).
    """
    def __init__(self, parts: Sequence[FilterStep]) -> None:
        self.parts = list(parts)
        self.name = FUSED_SEPARATOR.join(part.name for part in parts)

    def run(self, ctx: StepContext) -> Job:
        """Probe the input once, compose every part's stage and render them in one pass.

        Raises: what a part's stage or the render raises; an exception from building a part's
        stage is marked with that part (``messages.FAILED_STEP_ATTRIBUTE``).
        """
        source = ctx.input_source()
        info = probe(source)
        meta = dict(ctx.job.meta)
        stages: list[Stage] = []
        for part in self.parts:
            try:
                stage = part.stage(ctx, info, meta)
            except Exception as exc:
                # The events name the part that failed, not the group (messages.failed_step).
                setattr(exc, FAILED_STEP_ATTRIBUTE, part.name)
                raise
            meta.update(stage.meta)
            stages.append(stage)
        return ctx.render(stages, source, info)


def fuse(steps: Sequence[Step], *, standalone: frozenset[str]) -> list[Step]:
    """Group runs of two or more consecutive filter steps; the rest stay as they are."""
    result: list[Step] = []
    run: list[FilterStep] = []

    def flush() -> None:
        if len(run) > 1:
            result.append(FusedStep(run))
        else:
            result.extend(run)
        run.clear()

    for step in steps:
        if isinstance(step, FilterStep) and step.name not in standalone:
            run.append(step)
        else:
            flush()
            result.append(step)
    flush()
    return result
