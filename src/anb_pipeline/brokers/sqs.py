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
- Faults: no SQS call that fails (a reset, an outage, a receipt handle a purge made
  invalid) can leave a consumer slot held or a message renewed forever; a watchdog frees
  leaked slots and restarts a stalled worker (see ``watchdog``).
- Foreign messages: a body that is not a Dramatiq message goes to the DLQ at once, as it
  is, with the reason in a message attribute.
- Dead letters: ``nack`` stores the message as it is *now* (error, attempts, reason),
  not the body it arrived with.
- Queues: created with the attributes the deployment expects (long polling, retention,
  a RedrivePolicy to the DLQ), the same ones CloudFormation declares.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from base64 import b64encode
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import boto3
import dramatiq
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from dramatiq.middleware import CurrentMessage
from dramatiq_sqs import SQSBroker
from dramatiq_sqs.broker import MAX_DELAY_SECONDS, MAX_MESSAGE_SIZE_BYTES
from dramatiq_sqs.exceptions import MessageTooLarge

from ..errors import BrokerUnavailable
from ..events import WorkerBeat
from ..messages import REASON_OPTION, decode_body
from ..settings import Settings
from .heartbeat import VisibilityHeartbeat, change_visibility
from .limits import SQS_MAX_BATCH
from .watchdog import ConsumerWatchdog, SlotTable

QUEUE_RETENTION_S = 4 * 86400
DLQ_RETENTION_S = 14 * 86400
#: Longest wait before a message whose hand-off failed is tried again.
HANDOFF_RETRY_DELAY_S = 30
FULL_SLOTS_SLEEP_S = 0.2
#: Pause after a receive call that failed (an outage), in seconds.
RECEIVE_RETRY_DELAY_S = 2
#: Seconds a call may take beyond its long poll before the client gives up on it.
SQS_READ_MARGIN_S = 10
#: Seconds the client waits for a TCP connection to SQS.
SQS_CONNECT_TIMEOUT_S = 5
#: Attempts per SQS call, the first included (botocore's ``total_max_attempts``).
SQS_TOTAL_MAX_ATTEMPTS = 4
#: The longest pause botocore's standard retry mode makes between two attempts, in seconds.
STANDARD_MODE_MAX_BACKOFF_S = 20
#: Longest possible SQS calls in a row after which a consumer that has not polled counts as
#: stalled: a call that merely retries through a network partition is never mistaken for one.
STALL_CALLS = 2
#: The DLQ message attribute that says why a foreign body was dead-lettered.
FOREIGN_REASON_ATTRIBUTE = "anb_dead_letter_reason"
MAX_REASON_CHARS = 1000
#: How often a consumer reports a WorkerBeat (``anb status`` shows them), in seconds.
BEAT_INTERVAL_S = 15.0
#: Pause between two looks at the queue's counters in ``join``, in seconds.
JOIN_POLL_S = 1.0


def queue_attributes(settings: Settings, *, dlq_arn: str) -> dict[str, str]:
    """The SQS attributes of the work queue: retention, long-poll wait, visibility timeout
    and the redrive policy to ``dlq_arn`` after ``ANB_MAX_RECEIVES`` receives (all strings,
    as SQS wants them).
    """
    return {
        "MessageRetentionPeriod": str(QUEUE_RETENTION_S),
        "ReceiveMessageWaitTimeSeconds": str(settings.sqs_wait_time_s),
        "VisibilityTimeout": str(settings.visibility_timeout_s),
        "RedrivePolicy": json.dumps(
            {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(settings.max_receives)}
        ),
    }


def sqs_client(settings: Settings) -> Any:
    """A boto3 SQS client for the settings' endpoint and region: 3 standard retries, 5 s to
    connect, and a read timeout of the long poll plus ``SQS_READ_MARGIN_S``.
    """
    return boto3.client(
        "sqs", endpoint_url=settings.aws_endpoint_url, region_name=settings.aws_region,
        config=Config(retries={"total_max_attempts": SQS_TOTAL_MAX_ATTEMPTS, "mode": "standard"},
                      connect_timeout=SQS_CONNECT_TIMEOUT_S,
                      read_timeout=settings.sqs_wait_time_s + SQS_READ_MARGIN_S),
    )


def longest_call_s(*, read_timeout_s: float) -> float:
    """The longest one call of :func:`sqs_client` can block, in seconds: every attempt
    timing out on connect and on read (a partition that drops packets rather than refusing
    them), with the longest backoff of botocore's standard retry mode between attempts."""
    return (SQS_TOTAL_MAX_ATTEMPTS * (SQS_CONNECT_TIMEOUT_S + read_timeout_s)
            + (SQS_TOTAL_MAX_ATTEMPTS - 1) * STANDARD_MODE_MAX_BACKOFF_S)


class SafeSQSBroker(SQSBroker):
    """dramatiq-sqs's broker with every SQS call made through thread-safe clients.

    Parameters:
      settings: queue names, endpoint, region, visibility timeout, long-poll wait.
      middleware: the framework's stack (``pipeline.middleware_stack``).
    """

    def __init__(self, *, settings: Settings, middleware: list[dramatiq.Middleware]) -> None:
        # SQSBroker.__init__ would build a boto3 *resource*, which is not thread-safe and
        # which nothing here uses: set up the plain Dramatiq broker and the few attributes
        # SQSBroker's own methods read (declare_queue, get_declared_queues) instead.
        self.queue_names: set[str] = set()
        dramatiq.Broker.__init__(self, middleware=middleware)
        self.namespace = None
        self.retention = QUEUE_RETENTION_S
        self.max_message_size = MAX_MESSAGE_SIZE_BYTES
        self.dead_letter = True
        self.dead_letter_retention = DLQ_RETENTION_S
        self.visibility_timeout = settings.visibility_timeout_s
        self.tags = None
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
        """The URL of the work queue or its DLQ (created on first use, then cached).

        Raises: ``BrokerUnavailable`` when SQS cannot be reached.
        """
        with self._urls_lock:
            url = self._urls.get(name)
        if url is None:
            try:
                url = self.ensure_queues()["queue" if name == self.settings.queue_name else "dlq"]
            except (BotoCoreError, ClientError) as exc:
                raise BrokerUnavailable(f"SQS is unreachable: {exc}") from exc
        return url

    def consume(self, queue_name: str, prefetch: int = 1, timeout: int = 20000) -> dramatiq.Consumer:
        """A consumer of ``queue_name`` with its own SQS client and at most ``prefetch``
        (capped at 10, the SQS batch limit) messages held; ``timeout`` is in milliseconds.

        Raises: ``dramatiq.QueueNotFound`` for an undeclared queue.
        """
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
            max_hold_s=self.settings.step_time_limit_s + self.settings.visibility_timeout_s,
            actors=self.actors, on_beat=self._beat,
        )

    def _beat(self, beat: WorkerBeat) -> None:
        # Only middleware that define the hook: Broker.emit_after would log every other.
        for middleware in self.middleware:
            hook = getattr(middleware, "after_worker_beat", None)
            if hook is not None:
                hook(self, beat)

    def join(self, queue_name: str, *, timeout: int | None = None) -> None:
        """Wait until the queue holds no visible, delayed or in-flight message.

        ``timeout`` is in milliseconds, as in every Dramatiq broker.
        Raises: ``dramatiq.QueueJoinTimeout`` when the timeout passes first;
        ``BrokerUnavailable`` when SQS cannot be reached.
        """
        if queue_name not in self.queue_names:
            raise dramatiq.QueueNotFound(queue_name)
        deadline = None if timeout is None else time.monotonic() + timeout / 1000
        counters = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesDelayed",
                    "ApproximateNumberOfMessagesNotVisible"]
        while True:
            try:
                attributes = self.client.get_queue_attributes(
                    QueueUrl=self.queue_url(queue_name), AttributeNames=counters)["Attributes"]
            except (BotoCoreError, ClientError) as exc:
                raise BrokerUnavailable(f"SQS is unreachable: {exc}") from exc
            if sum(int(attributes.get(name, 0)) for name in counters) == 0:
                return
            if deadline is not None and time.monotonic() >= deadline:
                raise dramatiq.QueueJoinTimeout(queue_name)
            time.sleep(JOIN_POLL_S)

    def enqueue(self, message: dramatiq.Message, *, delay: int | None = None) -> dramatiq.Message:
        """Send ``message``, delayed ``delay`` milliseconds (capped at SQS's 15 minutes).

        Raises: ``BrokerUnavailable`` when SQS cannot take it (the current message is then
        given back); ``MessageTooLarge`` when the encoded body is over SQS's message size
        limit (the current message is dead-lettered: retrying cannot shrink it).
        """
        delay_s = min((delay or 0) // 1000, MAX_DELAY_SECONDS)
        # Before encoding: middleware may set options (LifecycleEvents carries the run).
        self.emit_before("enqueue", message, delay)
        body = b64encode(message.encode()).decode()
        if len(body) > self.max_message_size:
            reason = (f"the next message would be {len(body)} bytes encoded, over the SQS "
                      f"limit of {self.max_message_size}: a step returned too large a result")
            # Retrying cannot shrink it; without this the pipeline would silently end here.
            self._dead_letter_current(reason)
            raise MessageTooLarge(reason)
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
    """Receives into a bounded number of slots; every SQS call it makes may fail.

    A slot is taken when a message is received and released when the message is acked,
    nacked, given back or requeued, whatever SQS answers: a call that fails is logged and
    the message comes back by its visibility timeout (its step is redone, never lost),
    because releasing a slot also stops the heartbeat renewing that message. A failed
    receive is retried after a pause; the consumer itself never raises, since Dramatiq
    would replace it and orphan the messages its worker threads still hold.
    """

    def __init__(
        self, *, client: Any, queue_url: str, dlq_url: str, prefetch: int, wait_time_s: int,
        visibility_timeout_s: int, take_failed_handoff: Any, max_hold_s: float,
        actors: Mapping[str, Any], on_beat: Callable[[WorkerBeat], None],
    ) -> None:
        self.logger = logging.getLogger(f"{__name__}.{type(self).__name__}")
        self.client = client
        self.queue_url = queue_url
        self.dlq_url = dlq_url
        self.prefetch = min(prefetch, SQS_MAX_BATCH)
        self.wait_time_s = wait_time_s
        self.visibility_timeout_s = visibility_timeout_s
        self.take_failed_handoff = take_failed_handoff
        #: The broker's declared actors (a live view): messages for others are not ours.
        self.actors = actors
        self.heartbeat = VisibilityHeartbeat(
            client=client, queue_url=queue_url, visibility_timeout_s=visibility_timeout_s
        )
        self.buffer: deque[SQSMessage] = deque()
        self.slots = SlotTable(capacity=self.prefetch)
        #: Wall-clock time of the last receive call that SQS answered (``anb status``).
        self.last_receive_at: float | None = None
        self.on_beat = on_beat
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self._next_beat = 0.0
        self.watchdog = ConsumerWatchdog(
            consumer=self, max_hold_s=max_hold_s,
            stall_after_s=STALL_CALLS * longest_call_s(
                read_timeout_s=client.meta.config.read_timeout),
        )

    def __next__(self) -> dramatiq.MessageProxy | None:
        self.watchdog.polled()
        if not self.buffer:
            if self.slots.free() > 0:
                self._receive()
            else:
                # Every slot is busy with a step that may run for minutes: poll gently.
                time.sleep(FULL_SLOTS_SLEEP_S)
        if self.buffer:
            return self.buffer.popleft()
        return None

    def _receive(self) -> None:
        try:
            response = self.client.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=self.slots.free(),
                WaitTimeSeconds=self.wait_time_s, VisibilityTimeout=self.visibility_timeout_s,
                AttributeNames=["ApproximateReceiveCount"],
            )
        except (BotoCoreError, ClientError) as exc:
            self.logger.warning("Receiving from SQS failed (%s); trying again in %d s.",
                                exc, RECEIVE_RETRY_DELAY_S)
            time.sleep(RECEIVE_RETRY_DELAY_S)
            return
        self.last_receive_at = time.time()
        for raw in response.get("Messages", []):
            message = decode_body(raw["Body"])
            if message is None:
                self._dead_letter_at_once(raw, reason="not a Dramatiq message")
                continue
            if message.actor_name not in self.actors:
                # Dramatiq would dead-letter it with no reason, and a redrive would bounce.
                reason = f"unknown actor {message.actor_name}"
                message.options[REASON_OPTION] = reason
                self._dead_letter_at_once(raw, reason=reason,
                                          body=b64encode(message.encode()).decode())
                continue
            receive_count = int(raw.get("Attributes", {}).get("ApproximateReceiveCount", 1))
            proxy = SQSMessage(message, raw["ReceiptHandle"], receive_count)
            self.slots.take(proxy.receipt_handle)
            self.heartbeat.track(proxy.receipt_handle)
            self.buffer.append(proxy)

    def _dead_letter_at_once(self, raw: dict[str, Any], *, reason: str,
                             body: str | None = None) -> None:
        """Move a message no worker here can run to the DLQ, with the reason beside it."""
        self.logger.error("Dead-lettering SQS message %s: %s.", raw["MessageId"], reason)
        try:
            self.client.send_message(
                QueueUrl=self.dlq_url, MessageBody=raw["Body"] if body is None else body,
                MessageAttributes={FOREIGN_REASON_ATTRIBUTE: {
                    "DataType": "String", "StringValue": reason[:MAX_REASON_CHARS]}},
            )
            self.client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=raw["ReceiptHandle"])
        except (BotoCoreError, ClientError) as exc:
            # Left alone, the queue's RedrivePolicy moves it after max_receives deliveries.
            self.logger.warning("Could not move message %s to the DLQ (%s); the redrive "
                                "policy will.", raw["MessageId"], exc)

    def _release(self, message: SQSMessage) -> None:
        self.heartbeat.forget(message.receipt_handle)
        self.slots.release(message.receipt_handle)

    def _settle(self, message: SQSMessage, action: str, call: Callable[[], None]) -> None:
        """Run ``call`` (SQS calls that settle ``message``); release its slot whatever happens."""
        try:
            call()
        except (BotoCoreError, ClientError) as exc:
            self.logger.warning(
                "Could not %s message %s (%s): it comes back after its visibility timeout "
                "and its step is redone.", action, message.message_id, exc)
        finally:
            self._release(message)

    def ack(self, message: SQSMessage) -> None:  # type: ignore[override]
        """Delete the message from the queue (or give it back when its hand-off failed)."""
        if self._gave_back(message):
            return
        self._settle(message, "delete", lambda: self.client.delete_message(
            QueueUrl=self.queue_url, ReceiptHandle=message.receipt_handle))

    def _gave_back(self, message: SQSMessage) -> bool:
        """Return the message to the queue if its hand-off (or its record) failed.

        The message goes back as a fresh copy, delayed: a give-back is not a lost worker,
        so its receive count must not count towards the poison limit. If SQS cannot take
        the copy, the original comes back by its visibility timeout instead.
        """
        if not self.take_failed_handoff(message.message_id):
            return False
        self.logger.warning("Giving back message %s: its hand-off failed.", message.message_id)

        def give_back() -> None:
            self.client.send_message(
                QueueUrl=self.queue_url, MessageBody=b64encode(message.encode()).decode(),
                DelaySeconds=min(HANDOFF_RETRY_DELAY_S, self.visibility_timeout_s))
            self.client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message.receipt_handle)

        self._settle(message, "give back", give_back)
        return True

    def nack(self, message: SQSMessage) -> None:  # type: ignore[override]
        """Move the message to the DLQ: send it there, then delete it from the queue (or give
        it back when its hand-off failed).
        """
        if self._gave_back(message):
            return

        def dead_letter() -> None:
            body = b64encode(message.encode()).decode()
            self.client.send_message(QueueUrl=self.dlq_url, MessageBody=body)
            self.client.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message.receipt_handle)

        self._settle(message, "dead-letter", dead_letter)

    def requeue(self, messages: Iterable[SQSMessage]) -> None:  # type: ignore[override]
        """Make the messages visible again at once (visibility timeout 0) and free their slots;
        if SQS refuses, they come back after their visibility timeout.
        """
        messages = list(messages)
        try:
            change_visibility(self.client, self.queue_url,
                              [m.receipt_handle for m in messages], timeout_s=0)
        except (BotoCoreError, ClientError) as exc:
            self.logger.warning("Could not requeue %d message(s) (%s): they come back after "
                                "their visibility timeout.", len(messages), exc)
        finally:
            for message in messages:
                self._release(message)

    def report(self) -> None:
        """Send a WorkerBeat at most every ``BEAT_INTERVAL_S`` (called by the watchdog)."""
        if time.monotonic() < self._next_beat:
            return
        self._next_beat = time.monotonic() + BEAT_INTERVAL_S
        self.on_beat(WorkerBeat(worker_id=self.worker_id, queue=self.queue_url.rsplit("/", 1)[-1],
                                last_receive_at=self.last_receive_at,
                                free_slots=self.slots.free(), slots=self.slots.capacity))

    def release_leaked(self, receipt_handle: str) -> None:
        """Free a slot the watchdog found held past any step's time limit."""
        self.heartbeat.forget(receipt_handle)
        self.slots.release(receipt_handle)

    def close(self) -> None:
        """Requeue what was received but never handed to a worker, then stop the heartbeat
        and the watchdog.
        """
        # Messages received but never handed to a worker go straight back to the queue.
        buffered, self.buffer = list(self.buffer), deque()
        if buffered:
            self.requeue(buffered)
        self.heartbeat.stop()
        self.watchdog.stop()


class SQSMessage(dramatiq.MessageProxy):
    """A received message with its SQS ``receipt_handle`` and ``receive_count`` (the
    ``ApproximateReceiveCount`` attribute, for the poison limit).
    """
    def __init__(self, message: dramatiq.Message, receipt_handle: str, receive_count: int) -> None:
        super().__init__(message)
        self.receipt_handle = receipt_handle
        self.receive_count = receive_count
