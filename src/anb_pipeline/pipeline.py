"""The media pipeline: configured steps as Dramatiq actors, chained with ``dramatiq.pipeline``."""

from __future__ import annotations

import functools
import logging
import tempfile
from pathlib import Path
from typing import Any

import dramatiq
from dramatiq.middleware import CurrentMessage, SkipMessage, default_middleware
from dramatiq.middleware.retries import Retries

from .brokers import check_broker, make_broker
from .errors import BrokerUnavailable, NotAVideo
from .events import EventSink, VideoState, load_sink, video_state
from .job import Job
from .messages import FINAL_JOB_OPTION, RUN_OPTION, actor_name
from .middleware import LifecycleEvents, LogContext, PoisonGuard, VideoGuard
from .middleware.video_guard import skip_reason
from .settings import Settings
from .steps import Step, StepContext, StepRegistry
from .steps.fused import fuse
from .storage import Storage, open_storage


def middleware_stack(settings: Settings, sink: EventSink) -> list[dramatiq.Middleware]:
    """The same stack on every broker. Order matters: see LifecycleEvents."""
    stack: list[dramatiq.Middleware] = [
        # First, so its after-hook runs last: the SQS broker needs the current message
        # while Pipelines and Retries enqueue.
        CurrentMessage(),
        LogContext(),
        # Before PoisonGuard: a duplicate of finished work is not poison.
        VideoGuard(sink=sink),
        PoisonGuard(max_receives=settings.max_receives),
        LifecycleEvents(sink=sink, steps=settings.steps),
    ]
    if settings.metrics_port:
        # Imported only when wanted: the module reads its port from the environment and
        # creates its database directory on import.
        from dramatiq.middleware.prometheus import Prometheus

        stack.append(Prometheus())
    for middleware_class in default_middleware:
        if middleware_class is Retries:
            stack.append(Retries(max_retries=settings.max_retries,
                                 min_backoff=settings.min_backoff_ms,
                                 max_backoff=settings.max_backoff_ms))
        else:
            stack.append(middleware_class())
    return stack


class MediaPipeline:
    """Owns the broker, the step actors and the storage of one process.

    Parameters:
      settings: the configuration; ``settings.steps`` picks and orders the steps.
      registry: where steps come from; defaults to the entry-point group.
      sink: where lifecycle events go; defaults to ``ANB_EVENT_SINK``.
      broker: an existing broker to declare the actors on (tests); defaults to
        ``ANB_BROKER_URL`` with the framework's middleware stack.
    """

    def __init__(
        self, settings: Settings, *, registry: StepRegistry | None = None,
        sink: EventSink | None = None, broker: dramatiq.Broker | None = None,
    ) -> None:
        self.logger = logging.getLogger(f"{__name__}.{type(self).__name__}")
        self.settings = settings
        self.registry = registry or StepRegistry()
        self.sink = sink or load_sink(settings)
        self.broker = broker or make_broker(settings, middleware=middleware_stack(settings, self.sink))
        steps = self.registry.resolve(settings.steps)
        if settings.fuse_steps:
            steps = fuse(steps, standalone=frozenset(settings.standalone_steps))
        self.steps = steps
        self.actors = {step.name: self._declare(step) for step in self.steps}

    @functools.cached_property
    def storage(self) -> Storage:
        return open_storage(self.settings)

    def _declare(self, step: Step) -> dramatiq.Actor[Any, Any]:
        def perform(job: dict[str, Any]) -> dict[str, Any] | None:
            try:
                result = self.run_step(step, Job.from_message(job)).to_message()
            except Exception as exc:
                # Deleted or finished meanwhile (its inputs removed under the step): end
                # quietly, as VideoGuard would have, instead of retrying and dead-lettering.
                reason = skip_reason(str(job.get("video_id", "")), self._state_after_failure(job))
                if reason is None:
                    raise
                self.logger.info("Step %s failed because %s; not retried.", step.name, reason)
                raise SkipMessage(reason) from exc
            message = CurrentMessage.get_current_message()
            if message is not None and message.options.get("pipe_target") is None:
                # The last step: nothing consumes a return value, so the final job rides
                # on the message for the pipeline_done event instead.
                message.options[FINAL_JOB_OPTION] = result
                return None
            return result

        time_limit_ms = self.settings.step_time_limit_s * 1000
        declare = dramatiq.actor(
            actor_name=actor_name(step.name), broker=self.broker,
            queue_name=self.settings.queue_name, max_retries=self.settings.max_retries,
            min_backoff=self.settings.min_backoff_ms, max_backoff=self.settings.max_backoff_ms,
            time_limit=time_limit_ms, throws=(NotAVideo,),
        )
        return declare(perform)

    def _state_after_failure(self, job: dict[str, Any]) -> VideoState:
        try:
            return video_state(self.sink, str(job.get("video_id", "")))
        except Exception:
            # The sink cannot tell: the failure takes its ordinary course (retries).
            return VideoState.ACTIVE

    def run_step(self, step: Step, job: Job) -> Job:
        if self.settings.work_dir is not None:
            # A configured scratch directory may not exist yet (a fresh volume, a cleaned
            # /tmp); without it every attempt of every step would fail the same way.
            self.settings.work_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f"anb-{step.name}-",
                                         dir=self.settings.work_dir) as workdir:
            ctx = StepContext(step=step.name, job=job, storage=self.storage,
                              settings=self.settings, workdir=Path(workdir))
            return step.run(ctx)

    def messages(self, job: Job, *, start_at: str | None = None) -> list[dramatiq.Message[Any]]:
        names = [step.name for step in self.steps]
        first = names.index(start_at) if start_at else 0
        head, *rest = names[first:]
        return [self.actors[head].message(job.to_message())] + [
            self.actors[name].message() for name in rest
        ]

    def enqueue(self, *, video_id: str, source_key: str, run: int = 0) -> str:
        """Start processing one video; returns the first message's id.

        ``run`` counts earlier runs of this video's pipeline (0 for an upload; a restart
        passes one more than the last run, so its events order after the old ones).
        Raises: ``BrokerUnavailable`` when the queue cannot be reached.
        """
        job = Job.start(video_id=video_id, source_key=source_key)
        messages = self.messages(job)
        if run:
            messages[0].options[RUN_OPTION] = run
        try:
            dramatiq.pipeline(messages, broker=self.broker).run()
        except dramatiq.errors.BrokerError as exc:
            raise BrokerUnavailable(f"the queue is unreachable: {exc}") from exc
        self.logger.info("Enqueued video %s (%s).", video_id, ",".join(self.settings.steps),
                         extra={"video_id": video_id, "message_id": messages[0].message_id})
        return messages[0].message_id

    def check_queue(self) -> None:
        """Raise BrokerUnavailable unless the broker answers (for health checks)."""
        try:
            check_broker(self.broker, self.settings)
        except BrokerUnavailable:
            raise
        except Exception as exc:
            raise BrokerUnavailable(f"the queue is unreachable: {exc}") from exc
