"""The application factory: ``uvicorn --factory anb_web.app:create_app``."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from anb_pipeline import MediaPipeline

from . import auth, health, media, metrics, openapi, pages, public, tus, videos
from .db import Database, make_engine
from .deadlines import RequestBodyDeadline
from .errors import EXCEPTION_HANDLERS
from .media import MediaUrls
from .ratelimit import DatabaseFailureLog, LoginLimiter, RedisFailureLog
from .security import TokenCodec
from .settings import WebSettings
from .state import Services
from .tus_expiry import sweep_forever
from .uploads import sweep_spool

logger = logging.getLogger(__name__)


def build_services(settings: WebSettings, pipeline: MediaPipeline) -> Services:
    engine = make_engine(
        settings.database_url, pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow, pool_timeout_s=settings.db_pool_timeout_s,
        busy_timeout_ms=settings.db_busy_timeout_ms,
    )
    database = Database(engine)
    return Services(
        settings=settings, database=database, pipeline=pipeline,
        tokens=TokenCodec(secret=settings.jwt_secret, ttl_s=settings.jwt_ttl_s),
        urls=MediaUrls(storage=pipeline.storage, secret=settings.jwt_secret,
                       ttl_s=settings.url_ttl_s, public_base_url=settings.public_base_url),
        login_limiter=LoginLimiter(
            log=RedisFailureLog(settings.redis_url) if settings.redis_url
            else DatabaseFailureLog(database),
            max_failures=settings.login_max_failures,
            max_failures_per_client=settings.login_max_failures_per_client,
            window_s=settings.login_window_s,
        ),
    )


def create_app(
    settings: WebSettings | None = None, *, pipeline: MediaPipeline | None = None
) -> Starlette:
    settings = settings or WebSettings.from_env(pipeline=pipeline.settings if pipeline else None)
    services = build_services(settings, pipeline or MediaPipeline(settings.pipeline))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        swept = await run_in_threadpool(sweep_spool, settings.pipeline.work_dir)
        if swept:
            logger.info("Removed %d upload spool file(s) left by stopped processes", swept)
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(sweep_forever, services)
            yield
            tasks.cancel_scope.cancel()
        services.database.dispose()

    app = Starlette(
        routes=[*auth.routes, *videos.routes, *tus.routes, *public.routes, *health.routes, *media.routes,
                *openapi.routes, *metrics.routes,
                # Last: the pages claim only their own paths (see pages.PageMount).
                *pages.routes],
        exception_handlers={**EXCEPTION_HANDLERS,
                            HTTPException: pages.browser_errors(EXCEPTION_HANDLERS[HTTPException])},
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.metrics = metrics.WebMetrics()
    app.add_middleware(metrics.MetricsMiddleware, metrics=app.state.metrics)
    app.add_middleware(RequestBodyDeadline,
                       idle_timeout_s=settings.request_body_idle_timeout_s)
    # Outermost: everything inside sees the real client address and scheme.
    app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=list(settings.trusted_proxies))
    return app
