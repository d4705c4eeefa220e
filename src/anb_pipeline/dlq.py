"""Dead letters on SQS: list them, give them a fresh set of attempts, or purge them.

A DLQ can hold bodies that are not Dramatiq messages (sent by something else, or moved
by the queue's RedrivePolicy); they are listed as *foreign* (size, first bytes, receive
count, and the reason the consumer recorded), purged like the rest, and never redriven.
A letter for an actor this process does not declare is not redriven either: it would come
straight back.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from base64 import b64encode
from collections.abc import Iterator
from typing import Any

import dramatiq

from .brokers.heartbeat import change_visibility
from .brokers.limits import SQS_MAX_BATCH
from .brokers.sqs import FOREIGN_REASON_ATTRIBUTE, SafeSQSBroker
from .errors import ConfigurationError
from .messages import (
    FAILED_STEP_OPTION,
    REASON_OPTION,
    RUN_OPTION,
    decode_body,
    job_of,
    step_name,
)

#: How long listed messages stay hidden from other readers while a listing runs.
LIST_VISIBILITY_S = 30
#: Options that belong to a failed run; a redriven message starts without them.
RUN_OPTIONS = ("retries", "traceback", "requeue_timestamp", REASON_OPTION, FAILED_STEP_OPTION)
#: How much of a foreign body a listing shows.
PREVIEW_BYTES = 48


@dataclasses.dataclass(frozen=True)
class DeadLetter:
    """One DLQ message. For a foreign body, ``foreign`` is true, ``message_id`` is the SQS
    message id, ``video_id`` and ``step`` are empty and ``preview`` shows its first bytes."""

    message_id: str
    video_id: str
    step: str
    error: str
    attempts: int
    dead_lettered_at_ms: int
    receive_count: int = 0
    size_bytes: int = 0
    foreign: bool = False
    preview: str = ""

    def asdict(self) -> dict[str, Any]:
        """The letter as a JSON-ready dict, one key per field."""
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class Redrive:
    """What a redrive did: the letters sent back, and the ones left with the reason why."""

    moved: list[DeadLetter]
    skipped: list[tuple[DeadLetter, str]]


def describe_failure(options: dict[str, Any], *, receive_count: int) -> str:
    """Why a letter failed: the recorded reason, else the traceback's last line, else its
    receive count (a message that kept losing its worker).
    """
    if options.get(REASON_OPTION):
        return str(options[REASON_OPTION])
    traceback = str(options.get("traceback") or "").strip()
    if traceback:
        return traceback.splitlines()[-1]
    return f"moved by the queue's redrive policy after {receive_count} receives"


class DeadLetterQueue:
    """The DLQ of ``broker``'s queue. Raises ConfigurationError for a non-SQS broker."""

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

    def _drain(self, *, visibility_s: int) -> Iterator[tuple[dict[str, Any], dramatiq.Message[Any] | None]]:
        """Receive every DLQ message once, hiding each for ``visibility_s`` seconds."""
        while True:
            response = self.client.receive_message(
                QueueUrl=self.dlq_url, MaxNumberOfMessages=SQS_MAX_BATCH, WaitTimeSeconds=1,
                VisibilityTimeout=visibility_s,
                AttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
                MessageAttributeNames=[FOREIGN_REASON_ATTRIBUTE],
            )
            batch = response.get("Messages", [])
            if not batch:
                return
            for raw in batch:
                yield raw, decode_body(raw["Body"])

    def letters(self) -> list[DeadLetter]:
        """Every dead letter, oldest reads first; each is visible again when this returns."""
        letters, handles = [], []
        try:
            for raw, message in self._drain(visibility_s=LIST_VISIBILITY_S):
                handles.append(raw["ReceiptHandle"])
                letters.append(self._describe(raw, message))
        finally:
            self._release(handles)
        return letters

    def redrive(self, *, message_ids: set[str] | None = None) -> Redrive:
        """Send dead letters back to their step with fresh attempts, as a new run."""
        moved: list[DeadLetter] = []
        skipped: list[tuple[DeadLetter, str]] = []
        left: list[str] = []
        try:
            for raw, message in self._drain(visibility_s=LIST_VISIBILITY_S):
                letter = self._describe(raw, message)
                if message_ids is not None and letter.message_id not in message_ids:
                    left.append(raw["ReceiptHandle"])
                    continue
                reason = self._unredrivable(message)
                if message is None or reason is not None:
                    skipped.append((letter, reason or "not a Dramatiq message"))
                    left.append(raw["ReceiptHandle"])
                    continue
                self.client.send_message(QueueUrl=self.queue_url,
                                         MessageBody=b64encode(fresh_run(message).encode()).decode())
                self.client.delete_message(QueueUrl=self.dlq_url, ReceiptHandle=raw["ReceiptHandle"])
                moved.append(letter)
        finally:
            self._release(left)
        return Redrive(moved=moved, skipped=skipped)

    def _unredrivable(self, message: dramatiq.Message[Any] | None) -> str | None:
        if message is None:
            return "not a Dramatiq message"
        if message.actor_name not in self.broker.actors:
            return f"unknown actor {message.actor_name}"
        return None

    def purge(self) -> int:
        """Delete every dead letter, foreign ones included; returns how many."""
        count = 0
        for raw, _ in self._drain(visibility_s=LIST_VISIBILITY_S):
            self.client.delete_message(QueueUrl=self.dlq_url, ReceiptHandle=raw["ReceiptHandle"])
            count += 1
        return count

    def _release(self, handles: list[str]) -> None:
        change_visibility(self.client, self.dlq_url, handles, timeout_s=0)

    @staticmethod
    def _describe(raw: dict[str, Any], message: dramatiq.Message[Any] | None) -> DeadLetter:
        attributes = raw.get("Attributes", {})
        receive_count = int(attributes.get("ApproximateReceiveCount", 0))
        sent_at_ms = int(attributes.get("SentTimestamp", 0))
        size_bytes = len(raw["Body"].encode())
        if message is None:
            reason = (raw.get("MessageAttributes", {}).get(FOREIGN_REASON_ATTRIBUTE, {})
                      .get("StringValue") or "not a Dramatiq message")
            return DeadLetter(message_id=raw["MessageId"], video_id="", step="", error=reason,
                              attempts=0, dead_lettered_at_ms=sent_at_ms,
                              receive_count=receive_count, size_bytes=size_bytes, foreign=True,
                              preview=raw["Body"][:PREVIEW_BYTES])
        return DeadLetter(
            message_id=message.message_id,
            video_id=str(job_of(message).get("video_id", "")),
            step=str(message.options.get(FAILED_STEP_OPTION)
                     or step_name(message.actor_name) or message.actor_name),
            error=describe_failure(message.options, receive_count=receive_count),
            attempts=int(message.options.get("retries", 0)) or 1,
            dead_lettered_at_ms=sent_at_ms, receive_count=receive_count, size_bytes=size_bytes,
        )


def fresh_run(message: dramatiq.Message[Any]) -> dramatiq.Message[Any]:
    """The message as the first attempt of a new run of its pipeline (see ``messages``)."""
    options = {k: v for k, v in message.options.items() if k not in RUN_OPTIONS}
    options[RUN_OPTION] = int(options.get(RUN_OPTION, 0)) + 1
    return dramatiq.Message(**{**message.asdict(), "options": options})


def to_json(letters: list[DeadLetter]) -> str:
    """The letters as an indented JSON array (``anb dlq list --json``)."""
    return json.dumps([letter.asdict() for letter in letters], indent=2)
