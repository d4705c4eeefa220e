"""Health: a deep check of every dependency, and a shallow one for the load balancer."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import anyio
import anyio.to_thread
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .answers import respond
from .schemas import Alive, Health
from .state import services

logger = logging.getLogger(__name__)


async def _probe(name: str, check: Callable[[], None], *, timeout_s: float) -> bool:
    """True when ``check`` returns in time. A hung check's thread is abandoned, not awaited."""
    try:
        with anyio.fail_after(timeout_s):
            await anyio.to_thread.run_sync(check, abandon_on_cancel=True)
    except Exception as exc:
        logger.warning("Health check: %s is unavailable: %s", name, exc)
        return False
    return True


async def health(request: Request) -> JSONResponse:
    app = services(request)
    timeout_s = app.settings.health_timeout_s
    database, storage, queue = await asyncio.gather(
        _probe("database", app.database.check, timeout_s=timeout_s),
        _probe("storage", app.pipeline.storage.check, timeout_s=timeout_s),
        _probe("queue", app.pipeline.check_queue, timeout_s=timeout_s),
    )
    healthy = database and storage and queue
    answer = Health(status="healthy" if healthy else "unhealthy",
                    database="connected" if database else "unavailable",
                    storage="available" if storage else "unavailable",
                    queue="available" if queue else "unavailable")
    return respond(answer, status_code=200 if healthy else 503)


async def live(request: Request) -> JSONResponse:
    return respond(Alive(status="alive"))


routes = [
    Route("/health", health, methods=["GET"]),
    Route("/health/live", live, methods=["GET"]),
]
