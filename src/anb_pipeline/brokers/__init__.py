"""Brokers chosen by URL, all with the same middleware stack."""

from __future__ import annotations

from urllib.parse import urlparse

import dramatiq

from ..errors import ConfigurationError
from ..settings import Settings

__all__ = ["make_broker"]


def make_broker(settings: Settings, *, middleware: list[dramatiq.Middleware]) -> dramatiq.Broker:
    """``sqs://``, ``redis://``, ``amqp://`` or ``stub://``, per ``ANB_BROKER_URL``."""
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
