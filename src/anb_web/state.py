"""What every request handler needs, built once by the app factory."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from starlette.requests import Request

from anb_pipeline import MediaPipeline

from .db import Database
from .ratelimit import LoginLimiter
from .security import TokenCodec
from .settings import WebSettings

if TYPE_CHECKING:
    from .media import MediaUrls


@dataclasses.dataclass(frozen=True)
class Services:
    settings: WebSettings
    database: Database
    pipeline: MediaPipeline
    tokens: TokenCodec
    urls: MediaUrls
    login_limiter: LoginLimiter


def services(request: Request) -> Services:
    services_: Services = request.app.state.services
    return services_
