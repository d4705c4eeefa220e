"""Dead-letters a message that keeps losing its worker.

A step that raises is retried by Dramatiq's Retries middleware with fresh messages. A step
that *kills* its worker (out of memory, a crash, kill -9) never raises: the message simply
comes back after its visibility timeout, with a higher receive count. Without a guard it
would take down every worker it reaches. SQS's own RedrivePolicy (maxReceiveCount) is the
backstop; this guard fails the message one delivery earlier so the dead letter carries a
reason and emits a ``pipeline_dead_lettered`` event.

SQS counts receives, not deliveries that ran: a receive whose response a connection reset
dropped, or that an outage cut, counts too although no worker ever saw the message. When
the sink can tell that no delivery has started this attempt yet (``events.attempt_started``),
the earlier receives were lost in transit, and the message runs instead of being
dead-lettered; the queue's RedrivePolicy still bounds it.
"""

from __future__ import annotations

import logging

import dramatiq
from dramatiq.middleware import Middleware, SkipMessage

from ..events import EventSink, attempt_started, video_progress
from ..messages import REASON_OPTION, attempt_of, job_of, position, run_of_message, step_name


class PoisonGuard(Middleware):
    """Dead-letters a message delivered ``max_receives`` times or more (a message that keeps
    killing its worker) before it runs again; on SQS the receive count is
    ``ApproximateReceiveCount``.

    Parameters: ``max_receives`` (SPEC §4: 3); ``sink`` tells a video's progress (see the
    module's docstring); ``steps`` are the configured steps in pipeline order.
    """
    def __init__(self, *, max_receives: int, sink: EventSink, steps: tuple[str, ...]) -> None:
        self.logger = logging.getLogger(f"{__name__}.{type(self).__name__}")
        self.max_receives = max_receives
        self.sink = sink
        self.steps = steps

    def before_process_message(self, broker: dramatiq.Broker, message: dramatiq.MessageProxy) -> None:
        """Fail and skip the message (reason in ``dead_letter_reason``) once its receive count
        reaches ``max_receives``, unless the sink says no delivery ever started it.
        Raises: ``SkipMessage`` when it fails the message.
        """
        # Only brokers that count deliveries (SQS) set receive_count.
        receive_count = getattr(message, "receive_count", 1)
        if receive_count < self.max_receives or self._lost_in_transit(message):
            return
        reason = (
            f"delivered {receive_count} times without completing: the worker was killed "
            "or lost the message every time"
        )
        self.logger.error("Dead-lettering message %s: %s.", message.message_id, reason)
        message.options[REASON_OPTION] = reason
        message.fail()
        raise SkipMessage(reason)

    def _lost_in_transit(self, message: dramatiq.MessageProxy) -> bool:
        """Whether the sink says no delivery has started this attempt (so every earlier
        receive was lost before a worker ran it). False when it cannot tell."""
        step = step_name(message.actor_name)
        video_id = str(job_of(message).get("video_id", ""))
        if step is None or not video_id:
            return False
        try:
            _state, status_order = video_progress(self.sink, video_id)
        except Exception as exc:
            self.logger.warning("Could not ask the event sink whether message %s ever started "
                                "(%s); counting its receives as lost workers.",
                                message.message_id, exc)
            return False
        if attempt_started(status_order, run=run_of_message(message),
                           position=position(step, self.steps), attempt=attempt_of(message)):
            return False
        self.logger.warning(
            "Message %s was received %s times but no delivery ever started it: the earlier "
            "receives were lost on the way to a worker, not workers lost. Running it.",
            message.message_id, getattr(message, "receive_count", "?"),
            extra={"video_id": video_id, "step": step})
        return True
