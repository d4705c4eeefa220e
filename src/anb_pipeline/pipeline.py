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
from .errors import BrokerUnavailable, PermanentMediaError
from .events import EventSink, VideoState, load_sink, video_state
from .job import Job
from .messages import FINAL_JOB_OPTION, RUN_OPTION, actor_name, parts
from .middleware import LifecycleEvents, LogContext, PoisonGuard, VideoGuard
from .middleware.video_guard import skip_reason
from .settings import Settings
from .steps import Step, StepContext, StepRegistry
from .steps.fused import fuse
from .storage import Storage, open_storage


def middleware_stack(settings: Settings, sink: EventSink) -> list[dramatiq.Middleware]:
    """The middleware of every broker, in order (order matters: see LifecycleEvents), with
    events going to ``sink``: the framework's guards and lifecycle events, Prometheus when
    ``ANB_METRICS_PORT`` is set, and Dramatiq's defaults with Retries set from
    ``ANB_MAX_ATTEMPTS`` and the backoff bounds (milliseconds)."""
    stack: list[dramatiq.Middleware] = [
        # First, so its after-hook runs last: the SQS broker needs the current message
        # while Pipelines and Retries enqueue.
        CurrentMessage(),
        LogContext(),
        # Before PoisonGuard: a duplicate of finished work is not poison.
        VideoGuard(sink=sink, steps=settings.steps),
        PoisonGuard(max_receives=settings.max_receives, sink=sink, steps=settings.steps),
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

    def passes(self) -> dict[str, str]:
        """Each configured step's name -> the name of the actor (one ffmpeg pass for fused
        steps) that runs it: ``{"trim": "trim+resize+watermark+bumpers", ..., "upload":
        "upload"}``. Fused steps report equal times: they are one pass, not several."""
        return {part: step.name for step in self.steps
                for part in parts(step.name)}

    @functools.cached_property
    def storage(self) -> Storage:
        """The storage ``ANB_STORAGE_URL`` names, opened on first use."""
        return open_storage(self.settings)

    def _declare(self, step: Step) -> dramatiq.Actor[Any, Any]:
        def perform(job: dict[str, Any]) -> dict[str, Any] | None:
            try:
                result = self.run_step(step, Job.from_message(job)).to_message()
            except Exception as exc:
                # Deleted or finished meanwhile (its inputs removed under the step): end
                # quietly, as VideoGuard would have, instead of retrying and dead-lettering.
                reason = skip_reason(str(job.get("video_id", "")), self._current_state(job))
                if reason is None:
                    raise
                self.logger.info("Step %s failed because %s; not retried.", step.name, reason)
                raise SkipMessage(reason) from exc
            reason = skip_reason(str(job.get("video_id", "")), self._current_state(job))
            if reason is not None:
                # A duplicate delivery ran this step while another finished the pipeline (or
                # the owner deleted the video): what it wrote is nobody's input any more.
                self.storage.delete_prefix(Job.from_message(job).work_prefix)
                self.logger.info("Step %s finished but %s; its output is removed and the "
                                 "pipeline not continued.", step.name, reason)
                raise SkipMessage(reason)
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
            time_limit=time_limit_ms, retry_when=self.should_retry,
        )
        return declare(perform)

    def should_retry(self, retries_so_far: int, exception: BaseException) -> bool:
        """Dramatiq's ``retry_when``: a PermanentMediaError (the file itself cannot be
        processed) fails on its first attempt; anything else gets ``max_retries`` retries.

        Not ``throws``: Retries records the traceback only on this path, and the dead letter
        shows its last line (the error) instead of a bare redrive note.
        """
        if isinstance(exception, PermanentMediaError):
            return False
        return retries_so_far < self.settings.max_retries

    def _current_state(self, job: dict[str, Any]) -> VideoState:
        """The job's video's state now; ACTIVE when the sink cannot tell (then the step's
        success or failure takes its ordinary course: hand-off, or retries)."""
        try:
            return video_state(self.sink, str(job.get("video_id", "")))
        except Exception:
            return VideoState.ACTIVE

    def run_step(self, step: Step, job: Job) -> Job:
        """Run ``step`` on ``job`` in a fresh scratch directory under ``ANB_WORK_DIR`` (made
        if missing), deleted afterwards; returns the step's job. Raises: what the step raises.
        """
        if self.settings.work_dir is not None:
            # A configured scratch directory may not exist yet (a fresh volume, a cleaned
            # /tmp); without it every attempt of every step would fail the same way.
            self.settings.work_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=f"anb-step-{step.name}-",
                                         dir=self.settings.work_dir) as workdir:
            ctx = StepContext(step=step.name, job=job, storage=self.storage,
                              settings=self.settings, workdir=Path(workdir))
            return step.run(ctx)

    def messages(self, job: Job, *, start_at: str | None = None) -> list[dramatiq.Message[Any]]:
        """The pipeline's messages from ``start_at`` (default: the first step) as one chain:
        the first carries ``job``, each later one receives the previous step's result.
        """
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
        return self._send(self.messages(job), run=run)

    def resume(self, job: Job, *, step: str | None, run: int) -> str:
        """Run a failed video's pipeline again from ``step``, with fresh attempts.

        What ``anb dlq redrive`` does for a dead letter, for callers that kept the failed
        step's name and job (the ``pipeline_dead_lettered`` event carries both): ``job`` is
        the job that step was given; ``step`` a configured step or an actor's step (a fused
        part resumes at its fused actor, which that job was given to). When ``step`` is not
        a step of this pipeline (the configuration changed since) or None (the job is not
        known), the video starts over from the first step with ``job.source_key``. ``run``
        is the new run's number (one more than the failed run's, see ``run_of``), so its
        events order after the old ones. Steps are idempotent, so a dead letter redriven as
        well only repeats work.

        Returns the first message's id. Raises BrokerUnavailable when the queue cannot be
        reached (nothing was sent).
        """
        names = [candidate.name for candidate in self.steps]
        actor = self.passes().get(step, step) if step is not None else None
        if actor is None or actor not in names:
            job, actor = Job.start(video_id=job.video_id, source_key=job.source_key), names[0]
        message_id = self._send(self.messages(job, start_at=actor), run=run)
        self.logger.info("Resumed video %s at step %s (run %d).", job.video_id, actor, run,
                         extra={"video_id": job.video_id, "message_id": message_id})
        return message_id

    def _send(self, messages: list[dramatiq.Message[Any]], *, run: int) -> str:
        if run:
            messages[0].options[RUN_OPTION] = run
        try:
            dramatiq.pipeline(messages, broker=self.broker).run()
        except dramatiq.errors.BrokerError as exc:
            raise BrokerUnavailable(f"the queue is unreachable: {exc}") from exc
        return messages[0].message_id

    def check_queue(self) -> None:
        """One cheap round trip to the broker, for health checks.

        Raises: ``BrokerUnavailable`` unless the broker answers.
        """
        try:
            check_broker(self.broker, self.settings)
        except BrokerUnavailable:
            raise
        except Exception as exc:
            raise BrokerUnavailable(f"the queue is unreachable: {exc}") from exc
