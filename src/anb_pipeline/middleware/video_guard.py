"""Ends quietly the messages of a video that is deleted, already processed, or past them.

All three are normal, not failures: an owner may delete a video while it is processed, and
SQS delivers at least once, so a step message can arrive again after its pipeline finished
or after its step handed off to the next (a retried send whose response was lost, an ack
that failed). Without this guard such a message runs its step on inputs that are gone or
starts a second chain of the pipeline, and one whose acks kept failing reaches
PoisonGuard's receive limit and pages an operator through the dead-letter alarm although
no worker was lost. The sink says what it knows of the video (``events.video_progress``:
its state and the order of its latest status change); a sink that cannot tell lets every
message run.

It must sit before PoisonGuard: a duplicate of finished work is not a poison message.
"""

from __future__ import annotations

import logging

import dramatiq
from dramatiq.middleware import Middleware, SkipMessage

from ..events import EventSink, VideoState, superseded, video_progress
from ..messages import attempt_of, describe, job_of, position, run_of_message, step_name
from .lifecycle import SinkUnavailable

#: Why a message of a video in that state does nothing.
SKIP_REASONS = {
    VideoState.GONE: "was deleted by its owner; the rest of its pipeline is skipped",
    VideoState.DONE: "is already processed; this message is a duplicate of finished work",
}


def skip_reason(video_id: str, state: VideoState) -> str | None:
    """The sentence logged when a message of ``video_id`` is skipped; None when it runs."""
    reason = SKIP_REASONS.get(state)
    return None if reason is None else f"video {video_id} {reason}"


class VideoGuard(Middleware):
    """Parameters: ``sink`` tells a video's progress; ``steps`` are the configured steps in
    pipeline order (a message's place among them is compared with the video's)."""

    def __init__(self, *, sink: EventSink, steps: tuple[str, ...]) -> None:
        self.logger = logging.getLogger(f"{__name__}.{type(self).__name__}")
        self.sink = sink
        self.steps = steps

    def before_process_message(self, broker: dramatiq.Broker, message: dramatiq.MessageProxy) -> None:
        """Ask the sink for the video's progress. Raises: ``SkipMessage`` for a processed or
        deleted video, or one that has moved past this delivery; ``SinkUnavailable`` when
        the sink's lookup fails (the attempt is retried)."""
        step = step_name(message.actor_name)
        video_id = str(job_of(message).get("video_id", ""))
        if step is None or not video_id:
            return
        try:
            state, status_order = video_progress(self.sink, video_id)
        except Exception as exc:
            # As for a refused step_started: this attempt fails and is retried later.
            raise SinkUnavailable(f"the event sink could not tell the video's state: "
                                  f"{describe(exc)}") from exc
        reason = skip_reason(video_id, state)
        run, attempt = run_of_message(message), attempt_of(message)
        if reason is None and superseded(status_order, run=run, position=position(step, self.steps),
                                         attempt=attempt):
            reason = (f"video {video_id} has moved past run {run}, attempt {attempt} of step "
                      f"{step}; this message is a duplicate of work already handed off")
        if reason is not None:
            self.logger.info("Skipping step %s (message %s): %s.", step, message.message_id,
                             reason, extra={"video_id": video_id, "step": step})
            raise SkipMessage(reason)
