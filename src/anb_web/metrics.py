"""Web metrics: latency by route template, responses by status, upload bytes.

``/metrics`` answers only with ``Authorization: Bearer $ANB_METRICS_TOKEN``; without a
token configured it does not exist (404), so it is never public by accident.

With several processes (``anb web --workers N``) each scrape reaches one of them, so they
share prometheus_client's multiprocess mode: every process writes its samples to files in
``PROMETHEUS_MULTIPROC_DIR`` and a scrape sums them all (see ``multiprocess_dir``).
"""

from __future__ import annotations

import contextlib
import hmac
import os
import shutil
import tempfile
import time
from collections.abc import Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import ApiError

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Requests that matched no route share one label, so scanners cannot explode the series.
UNMATCHED = "<unmatched>"


class WebMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.latency = Histogram("anb_http_request_duration_seconds",
                                 "Request latency by route template.", ["method", "route"],
                                 buckets=LATENCY_BUCKETS_S, registry=self.registry)
        self.responses = Counter("anb_http_responses_total", "Responses by status code.",
                                 ["method", "route", "status"], registry=self.registry)
        self.upload_bytes = Counter("anb_upload_bytes_total", "Bytes of accepted uploads.",
                                    registry=self.registry)
        self.tus_received_bytes = Counter(
            "anb_tus_received_bytes_total",
            "Body bytes that resumable (tus) upload requests delivered, resent ones included.",
            registry=self.registry)

    def render(self) -> bytes:
        """The exposition text: of every process in multiprocess mode, else of this one."""
        if os.environ.get(MULTIPROC_ENV):
            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged)
            return generate_latest(merged)
        return generate_latest(self.registry)


@contextlib.contextmanager
def multiprocess_dir(*, processes: int) -> Iterator[None]:
    """Multiprocess mode for ``processes`` > 1, in a fresh directory removed afterwards.

    Must be entered before the processes start (prometheus_client reads the variable at
    import). A directory the operator set is used as it is.
    """
    if processes <= 1 or os.environ.get(MULTIPROC_ENV):
        yield
        return
    directory = tempfile.mkdtemp(prefix="anb-metrics-")
    os.environ[MULTIPROC_ENV] = directory
    try:
        yield
    finally:
        del os.environ[MULTIPROC_ENV]
        shutil.rmtree(directory, ignore_errors=True)


class MetricsMiddleware:
    """Times every HTTP request and labels it with the route template, not the raw path."""

    def __init__(self, app: ASGIApp, *, metrics: WebMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED
            method = scope["method"]
            self.metrics.latency.labels(method, template).observe(time.perf_counter() - started)
            self.metrics.responses.labels(method, template, str(status)).inc()


async def metrics_endpoint(request: Request) -> Response:
    services = request.app.state.services
    token = services.settings.metrics_token
    if not token:
        raise ApiError(404, "Not found")
    supplied = request.headers.get("authorization", "")
    if not hmac.compare_digest(supplied.encode(), f"Bearer {token}".encode()):
        raise ApiError(401, "A valid metrics token is required",
                       headers={"WWW-Authenticate": "Bearer"})
    return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)


routes = [Route("/metrics", metrics_endpoint, methods=["GET"])]
