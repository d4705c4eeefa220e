"""Lifecycle events and the sinks that receive them.

A sink is any object with ``emit(event)``. The web package plugs in a database sink by
naming it in ``ANB_EVENT_SINK`` (``package.module:factory``); the factory is called with
the settings. Events are delivered at least once and possibly out of order, so sinks must
apply them idempotently.
"""

from __future__ import annotations

import dataclasses
import enum
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


#: Where each kind falls within one attempt of one step.
PHASES: dict[str, int] = {"step_started": 0, "step_finished": 1, "step_failed": 1,
                          "pipeline_done": 2, "pipeline_dead_lettered": 2}
#: Limits of the packing in ``event_order``: positions and attempts must stay below them.
MAX_POSITIONS = 1000
MAX_ATTEMPTS_PER_RUN = 100_000
#: The status order a sink reports for a video none of whose steps has started yet: below
#: every ``event_order``.
NOTHING_STARTED = -1


def event_order(*, run: int, position: int, attempt: int, kind: EventKind) -> int:
    """An event's place in its video's history, one integer for one SQL comparison.

    A video's events sort by (run, step position, attempt, phase of ``kind``): the run
    counts restarts of its pipeline (redrive, try again), the position is the actor's
    first step in the configured order. None of it comes from a clock, so workers whose
    clocks disagree still order a video's events right. Duplicates get the same order.
    """
    packed = (run * MAX_POSITIONS + min(position, MAX_POSITIONS - 1)) * MAX_ATTEMPTS_PER_RUN
    return (packed + min(attempt, MAX_ATTEMPTS_PER_RUN - 1)) * len(set(PHASES.values())) \
        + PHASES[kind]


def run_of(order: int | None) -> int:
    """The run an ``event_order`` belongs to; a restart enqueues with ``run_of(last) + 1``."""
    if order is None:
        return 0
    return order // (len(set(PHASES.values())) * MAX_ATTEMPTS_PER_RUN * MAX_POSITIONS)


@dataclasses.dataclass(frozen=True)
class PipelineEvent:
    """One step of one video's pipeline started, ended or ended the pipeline.

    The payload, as sinks in other processes get it from ``asdict()`` (the same names, JSON
    values only):

    - ``kind`` (str, an ``EventKind``): ``step_started``, ``step_finished``, ``step_failed``,
      ``pipeline_done`` or ``pipeline_dead_lettered``;
    - ``video_id`` (str): the video's id, from the job;
    - ``step`` (str): one step's name; a fused actor reports each of its steps, so the
      name never holds ``+``. On ``pipeline_done`` the last step, on
      ``pipeline_dead_lettered`` the step that failed;
    - ``attempt`` (int, from 1): the attempt within the run;
    - ``message_id`` (str): the Dramatiq message id of the step's message;
    - ``order`` (int): ``event_order(...)`` of the event; sinks order a video's events by
      it, never by a clock;
    - ``at`` (float, seconds since the epoch): the emitting host's wall clock, for display
      and staleness only;
    - ``seconds`` (float or None, seconds, to the millisecond): the step's duration, on
      ``step_finished`` and ``step_failed``;
    - ``error`` (str or None): ``Type: message`` (``messages.describe``, at most
      ``MAX_ERROR_CHARS``) on ``step_failed`` and ``pipeline_dead_lettered``, or the reason
      a skipped message was dead-lettered;
    - ``output`` (dict or None): the final job's meta (``Job.meta``: ``output_key`` and
      ``poster_key`` among its keys) on ``pipeline_done``;
    - ``job`` (dict or None): on ``pipeline_dead_lettered``, the job the failed step was
      given (``Job.to_message``: ``video_id``, ``source_key``, ``input_key``, ``meta``).
    """

    kind: EventKind
    video_id: str
    step: str
    attempt: int
    message_id: str
    order: int = 0
    #: Wall-clock time of the event, seconds since the epoch.
    at: float = dataclasses.field(default_factory=time.time)
    seconds: float | None = None
    error: str | None = None
    #: The final ``Job.meta`` (with the output and poster keys) on ``pipeline_done``.
    output: dict[str, Any] | None = None
    #: On ``pipeline_dead_lettered``: the job the failed step was given (``Job.to_message``),
    #: so the pipeline can be resumed at that step (``MediaPipeline.resume``).
    job: dict[str, Any] | None = None

    def asdict(self) -> dict[str, Any]:
        """The event as a JSON-ready dict, one key per field (see the class for each key's
        type and unit)."""
        return dataclasses.asdict(self)


class EventSink(Protocol):
    """Anything with ``emit(event)``: the receiver of lifecycle events.

    Events arrive at least once and possibly out of order (sort a video's events by
    ``order``), so a sink applies them idempotently. A sink may also implement
    ``record_worker`` (:class:`WorkerRegistry`), ``video_state`` (:class:`VideoStateSource`)
    and ``video_progress`` (:class:`VideoProgressSource`).
    """
    def emit(self, event: PipelineEvent) -> None:
        """Record one event. Raises: whatever the sink's store raises; on ``step_started``
        the attempt then fails and is retried, so a step never runs unrecorded.
        """
        ...


@dataclasses.dataclass(frozen=True)
class WorkerBeat:
    """A consumer's sign of life, sent every ``BEAT_INTERVAL_S`` by SQS workers.

    ``worker_id`` is ``host:pid``; ``last_receive_at`` is the wall-clock time (seconds
    since the epoch, the worker's clock) of its last receive call that SQS answered, None
    before the first; ``at`` is when the beat was sent; ``free_slots`` of ``slots`` are
    ready for a message.
    """

    worker_id: str
    queue: str
    last_receive_at: float | None
    free_slots: int
    slots: int
    at: float = dataclasses.field(default_factory=time.time)


class WorkerRegistry(Protocol):
    """A sink that also keeps the workers' beats (the web tier's database sink does)."""

    def record_worker(self, beat: WorkerBeat) -> None:
        """Record the consumer's latest beat (replacing its previous one)."""
        ...


class VideoState(enum.Enum):
    """What a sink knows of a video, for deciding whether its messages still matter."""

    #: Being processed, or the sink cannot tell: messages run as usual.
    ACTIVE = "active"
    #: Processed: any further message of its pipeline is a duplicate of finished work.
    DONE = "done"
    #: Deleted by its owner: the rest of its pipeline has nothing to do.
    GONE = "gone"


class VideoStateSource(Protocol):
    """A sink that can also tell a video's state (the web tier's database sink can)."""

    def video_state(self, video_id: str) -> VideoState:
        """The video's state. Raises: whatever the sink's lookup raises."""
        ...


class VideoProgressSource(Protocol):
    """A sink that can tell a video's state and the ``event_order`` of its latest status
    change (the web tier's database sink can), in one lookup."""

    def video_progress(self, video_id: str) -> tuple[VideoState, int | None]:
        """The video's state and its latest status change's order: :data:`NOTHING_STARTED`
        when none of its steps has started yet, None when unknown.
        Raises: whatever the sink's lookup raises."""
        ...


def superseded(status_order: int | None, *, run: int, position: int, attempt: int) -> bool:
    """Whether a video whose latest status change has ``status_order`` has moved past this
    attempt of the step at ``position`` in ``run``: a later attempt, a later step or a later
    run has started since, so a delivery of this attempt is a duplicate of work already
    handed off (an ack that failed, a send retried) or of a run restarted since.
    False when ``status_order`` is None (the sink cannot tell)."""
    if status_order is None:
        return False
    last_of_attempt = event_order(run=run, position=position, attempt=attempt,
                                  kind="pipeline_done")
    return status_order > last_of_attempt


def attempt_started(status_order: int | None, *, run: int, position: int, attempt: int) -> bool:
    """Whether some delivery has already started this attempt of the step at ``position`` in
    ``run`` (the video's latest status change, ``status_order``, is at or past its
    ``step_started``). False means every earlier receive of the message was lost before any
    worker ran it (a receive whose response a connection reset dropped still counts as a
    receive in SQS). True when ``status_order`` is None (the sink cannot tell)."""
    if status_order is None:
        return True
    return status_order >= event_order(run=run, position=position, attempt=attempt,
                                       kind="step_started")


def video_state(sink: EventSink, video_id: str) -> VideoState:
    """The video's state as ``sink`` knows it; ACTIVE when the sink cannot tell.

    Raises: whatever the sink's lookup raises (its database being down, for example).
    """
    lookup = getattr(sink, "video_state", None)
    return VideoState.ACTIVE if lookup is None else lookup(video_id)


def video_progress(sink: EventSink, video_id: str) -> tuple[VideoState, int | None]:
    """The video's state and the order of its latest status change as ``sink`` knows them
    (see :class:`VideoProgressSource`); the order is None when the sink cannot tell.

    Raises: whatever the sink's lookup raises (its database being down, for example).
    """
    lookup = getattr(sink, "video_progress", None)
    if lookup is not None:
        progress: tuple[VideoState, int | None] = lookup(video_id)
        return progress
    return video_state(sink, video_id), None


class LoggingSink:
    """The default sink: one structured log line per event."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.logger = logging.getLogger(f"{__name__}.{type(self).__name__}")

    def emit(self, event: PipelineEvent) -> None:
        """Log the event at INFO with its video id, step, message id and attempt as fields."""
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
        """Call the callback with the event; what it raises propagates."""
        self.callback(event)


class FanoutSink:
    """Hands every event (and worker beat) to each of several sinks, in order."""
    def __init__(self, *sinks: EventSink) -> None:
        self.sinks = sinks

    def emit(self, event: PipelineEvent) -> None:
        """Emit to every sink in order; the first sink that raises stops the rest."""
        for sink in self.sinks:
            sink.emit(event)

    def record_worker(self, beat: WorkerBeat) -> None:
        """Pass the beat to every sink that keeps worker beats."""
        for sink in self.sinks:
            record = getattr(sink, "record_worker", None)
            if record is not None:
                record(beat)

    def video_state(self, video_id: str) -> VideoState:
        """GONE if any sink says so, else DONE if any says so, else ACTIVE."""
        return self.video_progress(video_id)[0]

    def video_progress(self, video_id: str) -> tuple[VideoState, int | None]:
        """The state as :meth:`video_state` combines it, and the latest order any sink
        knows (None when none can tell)."""
        progress = [video_progress(sink, video_id) for sink in self.sinks]
        states = {state for state, _order in progress}
        orders = [order for _state, order in progress if order is not None]
        latest = max(orders) if orders else None
        for state in (VideoState.GONE, VideoState.DONE):
            if state in states:
                return state, latest
        return VideoState.ACTIVE, latest


def load_sink(settings: Settings) -> EventSink:
    """The sink named by ``ANB_EVENT_SINK`` (``module:factory``, the factory called with
    ``settings``; ``module`` alone means ``module:make_sink``), always alongside the logging
    sink (and the step metrics when worker metrics are on).

    Raises: ``ConfigurationError`` when the module or the factory cannot be loaded.
    """
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
