"""dramatiq-sqs 0.4.4, made safe for long media steps.

What this subclass changes, and why:

- Thread safety: dramatiq-sqs shares boto3 *resource* objects between the consumer thread
  and the worker threads (which ack, nack and enqueue). Resources are not thread-safe;
  clients are. Every call here goes through a client.
- Visibility: messages are received with a short timeout that a heartbeat renews while a
  worker holds them, so a killed worker's message comes back in minutes, not 12 hours.
- Poison messages: each message carries its SQS receive count; the PoisonGuard middleware
  dead-letters one that has already been lost by ``max_receives - 1`` workers.
- Delays: a retry delay above the SQS limit is clamped, never dropped.
- Hand-offs: if enqueueing the next step or a retry fails, the message being processed is
  given back to the queue instead of being acked, so the step is redone, not lost.
- Dead letters: ``nack`` stores the message as it is *now* (error, attempts, reason),
  not the body it arrived with.
- Queues: created with the attributes the deployment expects (long polling, retention,
  a RedrivePolicy to the DLQ), the same ones CloudFormation declares.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from base64 import b64decode, b64encode
from collections import deque
from collections.abc import Iterable
from typing import Any

import boto3
import dramatiq
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from dramatiq.middleware import CurrentMessage
from dramatiq_sqs import SQSBroker
from dramatiq_sqs.broker import MAX_DELAY_SECONDS, MAX_PREFETCH
from dramatiq_sqs.exceptions import MessageTooLarge

from ..errors import BrokerUnavailable
from ..middleware.poison import REASON_OPTION
from ..settings import Settings
from .heartbeat import VisibilityHeartbeat

QUEUE_RETENTION_S = 4 * 86400
DLQ_RETENTION_S = 14 * 86400
#: Longest wait before a message whose hand-off failed is tried again.
HANDOFF_RETRY_DELAY_S = 30
FULL_SLOTS_SLEEP_S = 0.2


def queue_attributes(settings: Settings, *, dlq_arn: str) -> dict[str, str]:
    return {
        "MessageRetentionPeriod": str(QUEUE_RETENTION_S),
        "ReceiveMessageWaitTimeSeconds": str(settings.sqs_wait_time_s),
        "VisibilityTimeout": str(settings.visibility_timeout_s),
        "RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(settings.max_receives)}
        ),
    }


def sqs_client(settings: Settings) -> Any:
    return boto3.client(
        "sqs", endpoint_url=settings.aws_endpoint_url, region_name=settings.aws_region,
        config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5,
                      read_timeout=settings.sqs_wait_time_s + 10),
    )


class SafeSQSBroker(SQSBroker):
    def __init__(self, *, settings: Settings, middleware: list[dramatiq.Middleware]) -> None:
        super().__init__(
            middleware=middleware, dead_letter=True, retention=QUEUE_RETENTION_S,
            dead_letter_retention=DLQ_RETENTION_S,
            visibility_timeout=settings.visibility_timeout_s,
            endpoint_url=settings.aws_endpoint_url, region_name=settings.aws_region,
        )
        self.settings = settings
        self.client = sqs_client(settings)
        self._urls: dict[str, str] = {}
        self._urls_lock = threading.Lock()
        self._failed_handoffs: set[str] = set()

    def ensure_queues(self) -> dict[str, str]:
        """Create the queue and its DLQ with their attributes; safe to repeat."""
        dlq_url = self._create(self.settings.dlq_name, {"MessageRetentionPeriod": str(DLQ_RETENTION_S)})
        dlq_arn = self.client.get_queue_attributes(
            QueueUrl=dlq_url, AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        queue_url = self._create(self.settings.queue_name,
                                 queue_attributes(self.settings, dlq_arn=dlq_arn))
        return {"queue": queue_url, "dlq": dlq_url}

    def _create(self, name: str, attributes: dict[str, str]) -> str:
        try:
            url: str = self.client.get_queue_url(QueueName=name)["QueueUrl"]
            self.client.set_queue_attributes(QueueUrl=url, Attributes=attributes)
        except self.client.exceptions.QueueDoesNotExist:
            url = self.client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        with self._urls_lock:
            self._urls[name] = url
        return url

    def queue_url(self, name: str) -> str:
        with self._urls_lock:
            url = self._urls.get(name)
        if url is None:
            try:
                url = self.ensure_queues()["queue" if name == self.settings.queue_name else "dlq"]
            except (BotoCoreError, ClientError) as exc:
                raise BrokerUnavailable(f"SQS is unreachable: {exc}") from exc
        return url

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 20000) -> dramatiq.Consumer:
        if queue_name not in self.queue_names:
            raise dramatiq.QueueNotFound(queue_name)
        # The consumer gets its own client: its 20-second long polls never hold up a
        # worker thread's enqueue on a shared connection pool.
        return SafeSQSConsumer(
            client=sqs_client(self.settings), queue_url=self.queue_url(queue_name),
            dlq_url=self.queue_url(self.settings.dlq_name), prefetch=prefetch,
            wait_time_s=min(self.settings.sqs_wait_time_s, max(timeout // 1000, 1)),
            visibility_timeout_s=self.settings.visibility_timeout_s,
            take_failed_handoff=self._take_failed_handoff,
        )

    def enqueue(self, message: dramatiq.Message, *, delay: int | None = None) -> dramatiq.Message:
        delay_s = min((delay or 0) // 1000, MAX_DELAY_SECONDS)
        body = b64encode(message.encode()).decode()
        if len(body) > self.max_message_size:
            reason = (f"the next message would be {len(body)} bytes encoded, over the SQS "
                      f"limit of {self.max_message_size}: a step returned too large a result")
            # Retrying cannot shrink it; without this the pipeline would silently end here.
            self._dead_letter_current(reason)
            raise MessageTooLarge(reason)
        self.emit_before("enqueue", message, delay)
        try:
            self.client.send_message(QueueUrl=self.queue_url(message.queue_name),
                                     MessageBody=body, DelaySeconds=delay_s)
        except (BotoCoreError, ClientError, BrokerUnavailable) as exc:
            self._mark_failed_handoff()
            raise BrokerUnavailable(f"could not enqueue to SQS: {exc}") from exc
        self.emit_after("enqueue", message, delay)
        return message

    def _mark_failed_handoff(self) -> None:
        # Called from a worker thread inside Pipelines/Retries: their caller only logs the
        # error and acks. Remember the message so its consumer gives it back instead.
        current = CurrentMessage.get_current_message()
        if current is not None:
            self.give_back(current.message_id)

    def give_back(self, message_id: str) -> None:
        """Have the consumer return this message to the queue instead of acking it."""
        self._failed_handoffs.add(message_id)

    def _dead_letter_current(self, reason: str) -> None:
        current = CurrentMessage.get_current_message()
        # While processing, the current message is the consumer's MessageProxy.
        if isinstance(current, dramatiq.MessageProxy):
            current.options[REASON_OPTION] = reason
            current.fail()

    def _take_failed_handoff(self, message_id: str) -> bool:
        try:
            self._failed_handoffs.remove(message_id)
        except KeyError:
            return False
        return True


class SafeSQSConsumer(dramatiq.Consumer):
    def __init__(
        self, *, client: Any, queue_url: str, dlq_url: str, prefetch: int, wait_time_s: int,
        visibility_timeout_s: int, take_failed_handoff: Any,
    ) -> None:
        self.logger = logging.getLogger(f"{__name__}.{type(self).__name__}")
        self.client = client
        self.queue_url = queue_url
        self.dlq_url = dlq_url
        self.prefetch = min(prefetch, MAX_PREFETCH)
        self.wait_time_s = wait_time_s
        self.visibility_timeout_s = visibility_timeout_s
        self.take_failed_handoff = take_failed_handoff
        self.heartbeat = VisibilityHeartbeat(
            client=client, queue_url=queue_url, visibility_timeout_s=visibility_timeout_s
        )
        self.buffer: deque[SQSMessage] = deque()
        self.held = 0
        self._held_lock = threading.Lock()

    def __next__(self) -> dramatiq.MessageProxy | None:
        if not self.buffer:
            if self._free_slots() > 0:
                self._receive()
            else:
                # Every slot is busy with a step that may run for minutes: poll gently.
                time.sleep(FULL_SLOTS_SLEEP_S)
        if self.buffer:
            return self.buffer.popleft()
        return None

    def _free_slots(self) -> int:
        with self._held_lock:
            return self.prefetch - self.held

    def _receive(self) -> None:
        response = self.client.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=self._free_slots(),
            WaitTimeSeconds=self.wait_time_s, VisibilityTimeout=self.visibility_timeout_s,
            AttributeNames=["ApproximateReceiveCount"],
        )
        for raw in response.get("Messages", []):
            self.heartbeat.track(raw["ReceiptHandle"])
            try:
                message = dramatiq.Message.decode(b64decode(raw["Body"]))
            except Exception:
                # Not ours to run: the queue's RedrivePolicy moves it to the DLQ after
                # max_receives deliveries. Stop renewing so that happens soon.
                self.logger.error("Undecodable message %s left for the redrive policy.",
                                  raw["MessageId"])
                self.heartbeat.forget(raw["ReceiptHandle"])
                continue
            receive_count = int(raw.get("Attributes", {}).get("ApproximateReceiveCount", 1))
            self.buffer.append(SQSMessage(message, raw["ReceiptHandle"], receive_count))
            with self._held_lock:
                self.held += 1

    def _release(self, message: SQSMessage) -> None:
        self.heartbeat.forget(message.receipt_handle)
        with self._held_lock:
            self.held -= 1

    def ack(self, message: SQSMessage) -> None:  # type: ignore[override]
        if self._gave_back(message):
            return
        self.client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message.receipt_handle)
        self._release(message)

    def _gave_back(self, message: SQSMessage) -> bool:
        """Return the message to the queue if its hand-off (or its record) failed."""
        if not self.take_failed_handoff(message.message_id):
            return False
        self.logger.warning("Giving back message %s: its hand-off failed.", message.message_id)
        self._change_visibility([message], min(HANDOFF_RETRY_DELAY_S, self.visibility_timeout_s))
        self._release(message)
        return True

    def nack(self, message: SQSMessage) -> None:  # type: ignore[override]
        if self._gave_back(message):
            return
        body = b64encode(message.encode()).decode()
        self.client.send_message(QueueUrl=self.dlq_url, MessageBody=body)
        self.client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message.receipt_handle)
        self._release(message)

    def requeue(self, messages: Iterable[SQSMessage]) -> None:  # type: ignore[override]
        messages = list(messages)
        self._change_visibility(messages, 0)
        for message in messages:
            self._release(message)

    def _change_visibility(self, messages: list[SQSMessage], timeout_s: int) -> None:
        for start in range(0, len(messages), 10):
            entries = [
                {"Id": str(i), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": timeout_s}
                for i, m in enumerate(messages[start : start + 10])
            ]
            self.client.change_message_visibility_batch(QueueUrl=self.queue_url, Entries=entries)

    def close(self) -> None:
        # Messages received but never handed to a worker go straight back to the queue.
        buffered, self.buffer = list(self.buffer), deque()
        if buffered:
            self.requeue(buffered)
        self.heartbeat.stop()


class SQSMessage(dramatiq.MessageProxy):
    def __init__(self, message: dramatiq.Message, receipt_handle: str, receive_count: int) -> None:
        super().__init__(message)
        self.receipt_handle = receipt_handle
        self.receive_count = receive_count
