"""Turns Dramatiq's message hooks into pipeline lifecycle events for a sink.

It must sit *before* Retries in the middleware list: ``after_*`` hooks run in reverse
order, so by the time ours runs, Retries has decided whether the message failed for good.

Events name configured steps only: a fused actor reports each of its parts for
``step_*`` events, and the part that failed (``messages.failed_step``) when its pipeline
is dead-lettered. Each event carries its ``order`` in the video's history, computed from
the message (run, step position, attempt), never from a clock.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import dramatiq
from dramatiq.middleware import CurrentMessage, Middleware, MiddlewareError

from ..events import EventKind, EventSink, PipelineEvent, WorkerBeat, event_order
from ..messages import (
    FAILED_STEP_OPTION,
    FINAL_JOB_OPTION,
    REASON_OPTION,
    RUN_OPTION,
    attempt_of,
    describe,
    failed_step,
    job_of,
    parts,
    position,
    run_of_message,
    step_name,
)


class SinkUnavailable(MiddlewareError):
    """Raised when the sink cannot record a step's start: the attempt fails and is retried."""


class LifecycleEvents(Middleware):
    """Parameters: ``sink`` receives the events; ``steps`` are the configured steps in
    pipeline order (their positions order a video's events)."""

    def __init__(self, *, sink: EventSink, steps: tuple[str, ...]) -> None:
        self.logger = logging.getLogger(f"{__name__}.{type(self).__name__}")
        self.sink = sink
        self.steps = steps
        self._started: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def after_worker_beat(self, broker: dramatiq.Broker, beat: WorkerBeat) -> None:
        """A consumer's sign of life (see the SQS broker), for sinks that keep them."""
        record = getattr(self.sink, "record_worker", None)
        if record is None:
            return
        try:
            record(beat)
        except Exception:
            self.logger.warning("Could not record worker %s's beat.", beat.worker_id,
                                exc_info=True)

    def before_enqueue(self, broker: dramatiq.Broker, message: dramatiq.Message[Any],
                       delay: int | None) -> None:
        """Carry the current message's run (``anb_run``) on to the pipeline's next message."""
        # A pipeline's next message was built when the pipeline started: it inherits the
        # run of the message that hands off to it (a redriven run stays that run).
        # The next message carries no job yet (it receives the previous step's result).
        current = CurrentMessage.get_current_message()
        if current is None or RUN_OPTION not in current.options:
            return
        if job_of(message).get("video_id") in (None, job_of(current).get("video_id")):
            message.options[RUN_OPTION] = current.options[RUN_OPTION]

    def before_process_message(self, broker: dramatiq.Broker, message: dramatiq.MessageProxy) -> None:
        """Emit ``step_started``. Raises: ``SinkUnavailable`` when the sink refuses it, so
        the attempt fails and is retried instead of running unrecorded.
        """
        step = step_name(message.actor_name)
        if step is None:
            return
        attempt = attempt_of(message)
        with self._lock:
            self._started[message.message_id] = (time.monotonic(), attempt)
        # Dramatiq only logs what a before-hook raises and runs the actor anyway, unless it
        # is a MiddlewareError: re-raised as one, a sink failure fails this attempt and
        # Retries tries again later, so a step never runs with its start unrecorded.
        try:
            self._emit("step_started", message, step, attempt)
        except Exception as exc:
            raise SinkUnavailable(f"the event sink refused step_started: {describe(exc)}") from exc

    def after_process_message(
        self, broker: dramatiq.Broker, message: dramatiq.MessageProxy, *,
        result: Any = None, exception: BaseException | None = None,
    ) -> None:
        """Emit ``step_finished`` or ``step_failed``, then ``pipeline_done`` or
        ``pipeline_dead_lettered`` when the pipeline ended; when the sink cannot take the end,
        the message is given back where the broker can.
        """
        step = step_name(message.actor_name)
        if step is None:
            return
        started, attempt = self._pop_started(message)
        seconds = round(time.monotonic() - started, 3)
        if exception is not None:
            error = describe(exception)
            self._emit("step_failed", message, step, attempt, seconds=seconds, error=error)
            if message.failed:
                message.options[FAILED_STEP_OPTION] = failed_step(step, exception)
                try:
                    self._emit("pipeline_dead_lettered", message,
                               message.options[FAILED_STEP_OPTION], attempt, error=error)
                except Exception:
                    self._redo_later(broker, message, kind="pipeline_dead_lettered")
            return
        self._emit("step_finished", message, step, attempt, seconds=seconds)
        if message.failed:
            # The step worked but its hand-off could not be sent (see the SQS broker).
            message.options[FAILED_STEP_OPTION] = parts(step)[-1]
            self._emit("pipeline_dead_lettered", message, parts(step)[-1], attempt,
                       error=message.options.get(REASON_OPTION, "the hand-off failed"))
            return
        if message.options.get("pipe_target") is None:
            final_job = message.options.get(FINAL_JOB_OPTION) or {}
            try:
                self._emit("pipeline_done", message, parts(step)[-1], attempt,
                           output=final_job.get("meta"))
            except Exception:
                self._redo_later(broker, message, kind="pipeline_done")

    def _pop_started(self, message: dramatiq.MessageProxy) -> tuple[float, int]:
        with self._lock:
            return self._started.pop(message.message_id, (time.monotonic(), 1))

    def _redo_later(self, broker: dramatiq.Broker, message: dramatiq.MessageProxy, *,
                    kind: str) -> None:
        """The pipeline ended but the sink could not record how: acking (or dead-lettering)
        now would leave the video ``processing`` for good. Where the broker can, the message
        goes back instead, and its (idempotent) step runs again once the sink is back."""
        give_back = getattr(broker, "give_back", None)
        self.logger.error("Could not record %s for message %s; %s.", kind,
                          message.message_id,
                          "giving it back" if give_back else "reconciliation will catch it",
                          exc_info=True)
        if give_back is not None:
            give_back(message.message_id)

    def after_skip_message(self, broker: dramatiq.Broker, message: dramatiq.MessageProxy) -> None:
        """Emit ``pipeline_dead_lettered`` for a skipped message that failed (poison, an
        unknown actor).
        """
        step = step_name(message.actor_name)
        if step is None:
            return
        self._pop_started(message)
        if message.failed:
            error = message.options.get(REASON_OPTION, "skipped")
            attempt = attempt_of(message)
            message.options[FAILED_STEP_OPTION] = parts(step)[0]
            self._emit("pipeline_dead_lettered", message, parts(step)[0], attempt, error=error)

    def _emit(self, kind: EventKind, message: dramatiq.MessageProxy, step: str, attempt: int,
              **fields: Any) -> None:
        video_id = str(job_of(message).get("video_id", ""))
        if kind == "pipeline_dead_lettered":
            fields["job"] = job_of(message) or None
        # A fused actor reports each of its steps, so progress reads the same either way.
        names = parts(step) if kind.startswith("step_") else [step]
        order = event_order(run=run_of_message(message),
                            position=position(step_name(message.actor_name) or step, self.steps),
                            attempt=attempt, kind=kind)
        for name in names:
            self.sink.emit(PipelineEvent(kind=kind, video_id=video_id, step=name,
                                         attempt=attempt, message_id=message.message_id,
                                         order=order, **fields))

