"""Binds a message's video, step, id and attempt to every log line while it is processed."""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware

from ..logs import bind, unbind
from ..messages import attempt_of, job_of, step_name


class LogContext(Middleware):
    """Binds ``video_id``, ``step``, ``message_id`` and ``attempt`` to every log record
    while a step message is processed (see :mod:`anb_pipeline.logs`).
    """
    def __init__(self) -> None:
        self._tokens: dict[str, contextvars.Token[Mapping[str, Any]]] = {}

    def before_process_message(self, broker: dramatiq.Broker, message: dramatiq.MessageProxy) -> None:
        """Bind the message's fields for the thread's log records."""
        job = job_of(message)
        self._tokens[message.message_id] = bind(
            video_id=job.get("video_id"), step=step_name(message.actor_name),
            message_id=message.message_id, attempt=attempt_of(message),
        )

    def after_process_message(self, broker: dramatiq.Broker, message: dramatiq.MessageProxy, *,
                              result: Any = None, exception: BaseException | None = None) -> None:
        """Unbind what ``before_process_message`` bound."""
        token = self._tokens.pop(message.message_id, None)
        if token is not None:
            unbind(token)

    def after_skip_message(self, broker: dramatiq.Broker, message: dramatiq.MessageProxy) -> None:
        """Unbind what ``before_process_message`` bound."""
        self.after_process_message(broker, message)
