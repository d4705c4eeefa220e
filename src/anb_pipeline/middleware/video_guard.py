"""Ends quietly the messages of a video that is deleted or already processed.

Both are normal, not failures: an owner may delete a video while it is processed, and SQS
delivers at least once, so a step message can arrive again after its pipeline finished
(a retried send whose response was lost, an ack that failed). Without this guard such a
message runs its step on inputs that are gone, fails three times and pages an operator
through the dead-letter alarm. The sink says what it knows of the video
(``events.video_state``); a sink that cannot tell lets every message run.

It must sit before PoisonGuard: a duplicate of finished work is not a poison message.
"""

from __future__ import annotations

import logging

import dramatiq
from dramatiq.middleware import Middleware, SkipMessage

from ..events import EventSink, VideoState, video_state
from ..messages import describe, job_of, step_name
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
    """Skips step messages of a video the sink reports processed (a duplicate) or deleted."""
    def __init__(self, *, sink: EventSink) -> None:
        self.logger = logging.getLogger(f"{__name__}.{type(self).__name__}")
        self.sink = sink

    def before_process_message(self, broker: dramatiq.Broker, message: dramatiq.MessageProxy) -> None:
        """Ask the sink for the video's state. Raises: ``SkipMessage`` for a processed or
        deleted video; ``SinkUnavailable`` when the sink cannot tell (the attempt is retried).
        """
        step = step_name(message.actor_name)
        video_id = str(job_of(message).get("video_id", ""))
        if step is None or not video_id:
            return
        try:
            state = video_state(self.sink, video_id)
        except Exception as exc:
            # As for a refused step_started: this attempt fails and is retried later.
            raise SinkUnavailable(f"the event sink could not tell the video's state: "
                                  f"{describe(exc)}") from exc
        reason = skip_reason(video_id, state)
        if reason is not None:
            self.logger.info("Skipping step %s (message %s): %s.", step, message.message_id,
                             reason, extra={"video_id": video_id, "step": step})
            raise SkipMessage(reason)
