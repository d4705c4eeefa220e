"""Per-step Prometheus metrics, fed by the pipeline's lifecycle events.

Dramatiq's Prometheus middleware runs the worker's exposition server and switches
prometheus_client to multiprocess mode; these metrics are written the same way, so the
same endpoint serves them. They are created on first use, after that switch.
"""

from __future__ import annotations

import threading
from typing import Any

from .events import PipelineEvent

#: Media steps take seconds to minutes.
DURATION_BUCKETS_S = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 900, float("inf"))


class StepMetrics:
    """An event sink: ``anb_step_*`` metrics labelled by step."""

    def __init__(self) -> None:
        self._metrics: dict[str, Any] | None = None
        self._lock = threading.Lock()

    def _create(self) -> dict[str, Any]:
        import prometheus_client as prom

        # registry=None: in multiprocess mode the values go to the shared files the
        # exposition server reads; registering them here would only risk duplicates.
        return {
            "duration": prom.Histogram("anb_step_duration_seconds",
                                       "Seconds a step took, successful runs.", ["step"],
                                       buckets=DURATION_BUCKETS_S, registry=None),
            "attempts": prom.Counter("anb_step_attempts_total", "Step runs started.",
                                     ["step"], registry=None),
            "failures": prom.Counter("anb_step_failures_total", "Step runs that raised.",
                                     ["step"], registry=None),
            "dead_letters": prom.Counter("anb_step_dead_letters_total",
                                         "Pipelines dead-lettered at this step.", ["step"],
                                         registry=None),
            "done": prom.Counter("anb_pipelines_done_total", "Pipelines that completed.",
                                 registry=None),
        }

    def metrics(self) -> dict[str, Any]:
        """The Prometheus metrics, created on first use (in multiprocess mode, shared files)."""
        with self._lock:
            if self._metrics is None:
                self._metrics = self._create()
            return self._metrics

    def emit(self, event: PipelineEvent) -> None:
        """Count the event in the step's metrics (attempts, durations, failures, dead letters,
        completed pipelines).
        """
        metrics = self.metrics()
        if event.kind == "step_started":
            metrics["attempts"].labels(event.step).inc()
        elif event.kind == "step_finished" and event.seconds is not None:
            metrics["duration"].labels(event.step).observe(event.seconds)
        elif event.kind == "step_failed":
            metrics["failures"].labels(event.step).inc()
        elif event.kind == "pipeline_dead_lettered":
            metrics["dead_letters"].labels(event.step).inc()
        elif event.kind == "pipeline_done":
            metrics["done"].inc()
