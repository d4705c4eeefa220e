"""Dead letters on SQS: list them, give them a fresh set of attempts, or purge them."""

from __future__ import annotations

import dataclasses
import json
import logging
from base64 import b64decode, b64encode
from collections.abc import Iterator
from typing import Any

import dramatiq

from .brokers.sqs import SafeSQSBroker
from .errors import ConfigurationError
from .middleware.lifecycle import step_name
from .middleware.poison import REASON_OPTION

#: How long listed messages stay hidden from other readers while a listing runs.
LIST_VISIBILITY_S = 30
#: Options that belong to a failed run; a redriven message starts without them.
RUN_OPTIONS = ("retries", "traceback", "requeue_timestamp", REASON_OPTION)


@dataclasses.dataclass(frozen=True)
class DeadLetter:
    message_id: str
    video_id: str
    step: str
    error: str
    attempts: int
    dead_lettered_at_ms: int

    def asdict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def describe_failure(options: dict[str, Any], *, receive_count: int) -> str:
    if options.get(REASON_OPTION):
        return str(options[REASON_OPTION])
    traceback = str(options.get("traceback") or "").strip()
    if traceback:
        return traceback.splitlines()[-1]
    return f"moved by the queue's redrive policy after {receive_count} receives"


class DeadLetterQueue:
    def __init__(self, broker: dramatiq.Broker) -> None:
        if not isinstance(broker, SafeSQSBroker):
            raise ConfigurationError(
                "the dlq commands need the SQS broker (ANB_BROKER_URL=sqs://); Redis and "
                "RabbitMQ keep dead letters in their own '<queue>.XQ' queues"
            )
        self.logger = logging.getLogger(f"{__name__}.{type(self).__name__}")
        self.broker = broker
        self.client = broker.client
        self.dlq_url = broker.queue_url(broker.settings.dlq_name)
        self.queue_url = broker.queue_url(broker.settings.queue_name)

    def _drain(self, *, visibility_s: int) -> Iterator[tuple[dict[str, Any], dramatiq.Message[Any]]]:
        """Receive every DLQ message once, hiding each for ``visibility_s`` seconds."""
        while True:
            response = self.client.receive_message(
                QueueUrl=self.dlq_url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                VisibilityTimeout=visibility_s,
                AttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
            )
            batch = response.get("Messages", [])
            if not batch:
                return
            for raw in batch:
                yield raw, dramatiq.Message.decode(b64decode(raw["Body"]))

    def letters(self) -> list[DeadLetter]:
        letters, handles = [], []
        for raw, message in self._drain(visibility_s=LIST_VISIBILITY_S):
            handles.append(raw["ReceiptHandle"])
            letters.append(self._describe(raw, message))
        self._release(handles)
        return letters

    def redrive(self, *, message_ids: set[str] | None = None) -> list[DeadLetter]:
        """Send dead letters back to their step with fresh attempts; returns what moved."""
        moved, skipped = [], []
        for raw, message in self._drain(visibility_s=LIST_VISIBILITY_S):
            if message_ids is not None and message.message_id not in message_ids:
                skipped.append(raw["ReceiptHandle"])
                continue
            options = {k: v for k, v in message.options.items() if k not in RUN_OPTIONS}
            fresh: dramatiq.Message[Any] = dramatiq.Message(**{**message.asdict(), "options": options})
            self.client.send_message(QueueUrl=self.queue_url,
                                     MessageBody=b64encode(fresh.encode()).decode())
            self.client.delete_message(QueueUrl=self.dlq_url, ReceiptHandle=raw["ReceiptHandle"])
            moved.append(self._describe(raw, message))
        self._release(skipped)
        return moved

    def purge(self) -> int:
        count = 0
        for raw, _ in self._drain(visibility_s=LIST_VISIBILITY_S):
            self.client.delete_message(QueueUrl=self.dlq_url, ReceiptHandle=raw["ReceiptHandle"])
            count += 1
        return count

    def _release(self, handles: list[str]) -> None:
        for start in range(0, len(handles), 10):
            self.client.change_message_visibility_batch(QueueUrl=self.dlq_url, Entries=[
                {"Id": str(i), "ReceiptHandle": handle, "VisibilityTimeout": 0}
                for i, handle in enumerate(handles[start : start + 10])
            ])

    @staticmethod
    def _describe(raw: dict[str, Any], message: dramatiq.Message[Any]) -> DeadLetter:
        attributes = raw.get("Attributes", {})
        job = next((a for a in message.args if isinstance(a, dict) and "video_id" in a), {})
        return DeadLetter(
            message_id=message.message_id,
            video_id=str(job.get("video_id", "")),
            step=step_name(message.actor_name) or message.actor_name,
            error=describe_failure(message.options, receive_count=int(
                attributes.get("ApproximateReceiveCount", 0))),
            attempts=int(message.options.get("retries", 0)) or 1,
            dead_lettered_at_ms=int(attributes.get("SentTimestamp", 0)),
        )


def to_json(letters: list[DeadLetter]) -> str:
    return json.dumps([letter.asdict() for letter in letters], indent=2)
