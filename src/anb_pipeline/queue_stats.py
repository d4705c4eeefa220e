"""How deep each queue is, per broker, from what that broker can tell without consuming."""

from __future__ import annotations

import dataclasses
from typing import Any

import dramatiq

from .settings import Settings


@dataclasses.dataclass(frozen=True)
class QueueDepth:
    """One queue's counters: ``visible`` messages waiting, ``in_flight`` received but not
    settled, ``delayed`` not yet visible (None where the broker does not count them).
    """
    name: str
    visible: int
    in_flight: int | None
    delayed: int | None

    def asdict(self) -> dict[str, Any]:
        """The counters as a JSON-ready dict."""
        return dataclasses.asdict(self)


def queue_depths(broker: dramatiq.Broker, settings: Settings) -> list[QueueDepth]:
    """The work queue and its dead-letter queue, in that order, as ``broker`` counts them:
    SQS's approximate attributes, Redis's lists, RabbitMQ's ``.XQ`` queue, or the stub
    broker's queues. Raises: whatever the broker's client raises when it cannot answer."""
    if hasattr(broker, "queue_url"):
        return [_sqs_depth(broker, name) for name in (settings.queue_name, settings.dlq_name)]
    if hasattr(broker, "get_queue_message_counts"):
        ready, delayed, dead = broker.get_queue_message_counts(settings.queue_name)
        return [QueueDepth(settings.queue_name, ready, None, delayed),
                QueueDepth(f"{settings.queue_name}.XQ", dead, None, None)]
    client = getattr(broker, "client", None)
    if client is not None:
        return _redis_depths(client, namespace=settings.queue_namespace, queue=settings.queue_name)
    queues = getattr(broker, "queues", {})
    ready = queues[settings.queue_name].qsize() if settings.queue_name in queues else 0
    dead = len(getattr(broker, "dead_letters", []))
    return [QueueDepth(settings.queue_name, ready, None, None),
            QueueDepth("dead_letters", dead, None, None)]


def _sqs_depth(broker: Any, name: str) -> QueueDepth:
    attributes = broker.client.get_queue_attributes(
        QueueUrl=broker.queue_url(name),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                        "ApproximateNumberOfMessagesDelayed"],
    )["Attributes"]
    return QueueDepth(name, int(attributes["ApproximateNumberOfMessages"]),
                      int(attributes["ApproximateNumberOfMessagesNotVisible"]),
                      int(attributes["ApproximateNumberOfMessagesDelayed"]))


def _redis_depths(client: Any, *, namespace: str, queue: str) -> list[QueueDepth]:
    # Dramatiq's Redis layout: a list of ready ids, a hash of every unacked message, and a
    # sorted set of dead letters.
    base = f"{namespace}:{queue}"
    ready = int(client.llen(base))
    unacked = int(client.hlen(f"{base}.msgs"))
    delayed = int(client.llen(f"{base}.DQ"))
    return [QueueDepth(queue, ready, max(unacked - ready, 0), delayed),
            QueueDepth(f"{queue}.XQ", int(client.zcard(f"{base}.XQ")), None, None)]
