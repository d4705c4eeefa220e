"""Lifecycle events and the sinks that receive them.

A sink is any object with ``emit(event)``. The web package plugs in a database sink by
naming it in ``ANB_EVENT_SINK`` (``package.module:factory``); the factory is called with
the settings. Events are delivered at least once and possibly out of order, so sinks must
apply them idempotently.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import time
from collections.abc import Callable
from typing import Any, Literal, Protocol

from .errors import ConfigurationError
from .settings import Settings

EventKind = Literal[
    "step_started", "step_finished", "step_failed", "pipeline_done", "pipeline_dead_lettered"
]


@dataclasses.dataclass(frozen=True)
class PipelineEvent:
    kind: EventKind
    video_id: str
    step: str
    attempt: int
    message_id: str
    #: Wall-clock time of the event, seconds since the epoch.
    at: float = dataclasses.field(default_factory=time.time)
    seconds: float | None = None
    error: str | None = None
    #: Final job fields (output and poster keys) on ``pipeline_done``.
    output: dict[str, Any] | None = None
    #: On ``pipeline_dead_lettered``: the job the failed step was given (``Job.to_message``),
    #: so the pipeline can be resumed at that step (``MediaPipeline.resume``).
    job: dict[str, Any] | None = None

    def asdict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class EventSink(Protocol):
    def emit(self, event: PipelineEvent) -> None: ...


class LoggingSink:
    """The default sink: one structured log line per event."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.logger = logging.getLogger(f"{__name__}.{type(self).__name__}")

    def emit(self, event: PipelineEvent) -> None:
        self.logger.info(
            "%s video=%s step=%s attempt=%d seconds=%s error=%s",
            event.kind, event.video_id, event.step, event.attempt, event.seconds, event.error,
            extra={"video_id": event.video_id, "step": event.step,
                   "message_id": event.message_id, "attempt": event.attempt},
        )


class CallbackSink:
    """Hands every event to a callable; the in-process CLI uses it for its progress bar."""

    def __init__(self, callback: Callable[[PipelineEvent], None]) -> None:
        self.callback = callback

    def emit(self, event: PipelineEvent) -> None:
        self.callback(event)


class FanoutSink:
    def __init__(self, *sinks: EventSink) -> None:
        self.sinks = sinks

    def emit(self, event: PipelineEvent) -> None:
        for sink in self.sinks:
            sink.emit(event)


def load_sink(settings: Settings) -> EventSink:
    """The sink named by ``ANB_EVENT_SINK``, always alongside the logging sink (and the
    step metrics when worker metrics are on)."""
    builtin: list[EventSink] = [LoggingSink(settings)]
    if settings.metrics_port:
        from .metrics import StepMetrics

        builtin.append(StepMetrics())
    if not settings.event_sink:
        return FanoutSink(*builtin)
    module_name, _, attr = settings.event_sink.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr or "make_sink")
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(
            f"ANB_EVENT_SINK={settings.event_sink!r} cannot be loaded: {exc}"
        ) from exc
    return FanoutSink(*builtin, factory(settings))
