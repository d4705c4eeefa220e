"""Turns Dramatiq's message hooks into pipeline lifecycle events for a sink.

It must sit *before* Retries in the middleware list: ``after_*`` hooks run in reverse
order, so by the time ours runs, Retries has decided whether the message failed for good.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware, MiddlewareError

from ..events import EventKind, EventSink, PipelineEvent
from ..steps.fused import FUSED_SEPARATOR
from .poison import REASON_OPTION

STEP_ACTOR_PREFIX = "anb_step_"
#: Where the last step leaves the final job (output keys) for the pipeline_done event.
FINAL_JOB_OPTION = "anb_final_job"
#: Error texts are for people: long enough to say what failed, short enough to store.
MAX_ERROR_CHARS = 1000


def step_name(actor_name: str) -> str | None:
    if actor_name.startswith(STEP_ACTOR_PREFIX):
        return actor_name[len(STEP_ACTOR_PREFIX) :]
    return None


def describe(exception: BaseException) -> str:
    return f"{type(exception).__name__}: {exception}"[:MAX_ERROR_CHARS]


class SinkUnavailable(MiddlewareError):
    """The sink could not record a step's start; the attempt fails and is retried."""


class LifecycleEvents(Middleware):
    def __init__(self, *, sink: EventSink) -> None:
        self.logger = logging.getLogger(f"{__name__}.{type(self).__name__}")
        self.sink = sink
        self._started: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()

    def before_process_message(self, broker: dramatiq.Broker, message: dramatiq.MessageProxy) -> None:
        step = step_name(message.actor_name)
        if step is None:
            return
        attempt = message.options.get("retries", 0) + 1
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
        step = step_name(message.actor_name)
        if step is None:
            return
        with self._lock:
            started, attempt = self._started.pop(message.message_id, (time.monotonic(), 1))
        seconds = round(time.monotonic() - started, 3)
        if exception is not None:
            error = describe(exception)
            self._emit("step_failed", message, step, attempt, seconds=seconds, error=error)
            if message.failed:
                try:
                    self._emit("pipeline_dead_lettered", message, step, attempt, error=error)
                except Exception:
                    self._redo_later(broker, message, kind="pipeline_dead_lettered")
            return
        self._emit("step_finished", message, step, attempt, seconds=seconds)
        if message.failed:
            # The step worked but its hand-off could not be sent (see the SQS broker).
            self._emit("pipeline_dead_lettered", message, step, attempt,
                       error=message.options.get(REASON_OPTION, "the hand-off failed"))
            return
        if message.options.get("pipe_target") is None:
            final_job = message.options.get(FINAL_JOB_OPTION) or {}
            try:
                self._emit("pipeline_done", message, step, attempt, output=final_job.get("meta"))
            except Exception:
                self._redo_later(broker, message, kind="pipeline_done")

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
        step = step_name(message.actor_name)
        if step is not None and message.failed:
            error = message.options.get(REASON_OPTION, "skipped")
            attempt = message.options.get("retries", 0) + 1
            self._emit("pipeline_dead_lettered", message, step, attempt, error=error)

    def _emit(self, kind: EventKind, message: dramatiq.MessageProxy, step: str, attempt: int,
              **fields: Any) -> None:
        video_id = _video_id(message)
        if kind == "pipeline_dead_lettered":
            fields["job"] = job_of(message) or None
        # A fused actor reports each of its steps, so progress reads the same either way.
        steps = step.split(FUSED_SEPARATOR) if kind.startswith("step_") else [step]
        for name in steps:
            self.sink.emit(PipelineEvent(kind=kind, video_id=video_id, step=name,
                                         attempt=attempt, message_id=message.message_id,
                                         **fields))


def job_of(message: dramatiq.MessageProxy) -> dict[str, Any]:
    """The job a step message carries (its first dict argument with a video id)."""
    for arg in message.args:
        if isinstance(arg, dict) and "video_id" in arg:
            return arg
    return {}


def _video_id(message: dramatiq.MessageProxy) -> str:
    return str(job_of(message).get("video_id", ""))
