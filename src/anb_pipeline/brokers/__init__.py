"""Brokers chosen by URL, all with the same middleware stack."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import dramatiq

from ..errors import ConfigurationError
from ..settings import Settings

__all__ = ["check_broker", "make_broker"]


def make_broker(settings: Settings, *, middleware: list[dramatiq.Middleware]) -> dramatiq.Broker:
    """The broker ``ANB_BROKER_URL`` names (``sqs://``, ``redis://``, ``amqp://`` or
    ``stub://``), with ``middleware`` (in that order) and the settings' queue namespace.

    Raises: ``ConfigurationError`` for another scheme.
    """
    scheme = urlparse(settings.broker_url).scheme
    if scheme == "sqs":
        from .sqs import SafeSQSBroker

        return SafeSQSBroker(settings=settings, middleware=middleware)
    if scheme in ("redis", "rediss"):
        from dramatiq.brokers.redis import RedisBroker

        return RedisBroker(url=settings.broker_url, middleware=middleware,
                           namespace=settings.queue_namespace)
    if scheme in ("amqp", "amqps"):
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        return RabbitmqBroker(url=settings.broker_url, middleware=middleware)
    if scheme == "stub":
        from dramatiq.brokers.stub import StubBroker

        return StubBroker(middleware=middleware)
    raise ConfigurationError(
        f"ANB_BROKER_URL scheme {scheme!r} is not supported; use sqs://, redis://, amqp:// or stub://"
    )


def check_broker(broker: dramatiq.Broker, settings: Settings) -> None:
    """One cheap round trip to the broker; raises whatever the client raises."""
    client: Any = getattr(broker, "client", None)
    if hasattr(broker, "queue_url"):
        client.get_queue_attributes(
            QueueUrl=broker.queue_url(settings.queue_name), AttributeNames=["QueueArn"]
        )
    elif client is not None:
        client.ping()
    elif hasattr(broker, "connection"):
        broker.connection.process_data_events(time_limit=0)
