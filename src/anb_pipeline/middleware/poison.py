"""Dead-letters a message that keeps losing its worker.

A step that raises is retried by Dramatiq's Retries middleware with fresh messages. A step
that *kills* its worker (out of memory, a crash, kill -9) never raises: the message simply
comes back after its visibility timeout, with a higher receive count. Without a guard it
would take down every worker it reaches. SQS's own RedrivePolicy (maxReceiveCount) is the
backstop; this guard fails the message one delivery earlier so the dead letter carries a
reason and emits a ``pipeline_dead_lettered`` event.
"""

from __future__ import annotations

import logging

import dramatiq
from dramatiq.middleware import Middleware, SkipMessage

from ..messages import REASON_OPTION


class PoisonGuard(Middleware):
    """Dead-letters a message delivered ``max_receives`` times or more (a message that keeps
    killing its worker) before it runs again; on SQS the receive count is
    ``ApproximateReceiveCount``.
    """
    def __init__(self, *, max_receives: int) -> None:
        self.logger = logging.getLogger(f"{__name__}.{type(self).__name__}")
        self.max_receives = max_receives

    def before_process_message(self, broker: dramatiq.Broker, message: dramatiq.MessageProxy) -> None:
        """Fail and skip the message (reason in ``dead_letter_reason``) once its receive count
        reaches ``max_receives``. Raises: ``SkipMessage`` then.
        """
        # Only brokers that count deliveries (SQS) set receive_count.
        receive_count = getattr(message, "receive_count", 1)
        if receive_count < self.max_receives:
            return
        reason = (
            f"delivered {receive_count} times without completing: the worker was killed "
            "or lost the message every time"
        )
        self.logger.error("Dead-lettering message %s: %s.", message.message_id, reason)
        message.options[REASON_OPTION] = reason
        message.fail()
        raise SkipMessage(reason)
