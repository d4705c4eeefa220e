"""Settings of the web tier; the pipeline's own settings ride along in ``pipeline``.

Every value comes from an ``ANB_*`` environment variable. Units are in the names.
The JWT secret has no default on purpose: every web instance must share one secret,
so a generated per-process secret would silently log users out between instances.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

from anb_pipeline import ConfigurationError, Settings, env_values

MIB = 1024 * 1024


def default_database_url() -> str:
    return "sqlite:///" + str((Path.cwd() / ".anb" / "anb.db").resolve())


def database_url_from_env(environ: Mapping[str, str] | None = None) -> str:
    """The database URL alone: workers need it for the event sink, not the JWT secret."""
    env = os.environ if environ is None else environ
    return env.get("ANB_DATABASE_URL") or default_database_url()


@dataclasses.dataclass(frozen=True)
class WebSettings:
    pipeline: Settings
    jwt_secret: str = dataclasses.field(repr=False, default="")
    #: Bearer token of GET /metrics; empty means the endpoint does not exist.
    metrics_token: str = dataclasses.field(repr=False, default="")
    database_url: str = dataclasses.field(default_factory=default_database_url)
    jwt_ttl_s: int = 3600
    max_upload_bytes: int = 100 * MIB
    #: Prefix of app-served URLs, e.g. ``https://anb.example.org``; empty means relative URLs.
    public_base_url: str = ""
    #: Lifetime of the signed or presigned URLs handed to clients.
    url_ttl_s: int = 3600
    db_pool_size: int = 5
    db_max_overflow: int = 10
    db_pool_timeout_s: float = 10.0
    #: SQLite waits this long for a lock before "database is locked".
    db_busy_timeout_ms: int = 5000
    #: Each /health dependency check gives up after this long.
    health_timeout_s: float = 3.0
    #: Failed logins allowed per account, and per client address, in ``login_window_s``;
    #: past them login answers 429 until the oldest failure leaves the window.
    login_max_failures: int = 5
    login_max_failures_per_client: int = 50
    login_window_s: float = 300.0
    #: How many times an owner may "Try again" one failed video (POST /api/videos/{id}/retry).
    max_retries_per_video: int = 3
    #: Addresses or CIDR ranges of the proxies in front of the app (the ALB's VPC range in
    #: the CloudFormation template). From them, and only them, ``X-Forwarded-For`` and
    #: ``X-Forwarded-Proto`` name the real client; it is ``*`` to trust every peer.
    trusted_proxies: tuple[str, ...] = ("127.0.0.1",)
    #: When set, the login limiter's shared log lives in Redis; otherwise in the database.
    redis_url: str = dataclasses.field(repr=False, default="")
    #: A request whose body stops arriving for this long is answered 408 and dropped.
    request_body_idle_timeout_s: float = 30.0
    #: On SIGTERM, in-flight requests get this long to finish before they are cancelled
    #: (and clean up their spooled uploads). Below ``anb up``'s grace before SIGKILL.
    shutdown_timeout_s: int = 10
    #: A resumable (tus) upload must finish this long after its creation, or it expires.
    #: Keep it under the bucket's AbortIncompleteMultipartUpload days (the template: 2).
    upload_expiry_s: int = 24 * 3600
    #: How often each web process sweeps expired resumable uploads (parts, files, rows).
    upload_sweep_interval_s: float = 600.0

    def __post_init__(self) -> None:
        if not self.jwt_secret:
            raise ConfigurationError(
                "ANB_JWT_SECRET is not set: set it to a long random string shared by every "
                "web instance (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
            )
        if self.max_upload_bytes < 1:
            raise ConfigurationError("ANB_MAX_UPLOAD_BYTES must be positive")
        if self.jwt_ttl_s < 1 or self.url_ttl_s < 1:
            raise ConfigurationError("ANB_JWT_TTL_S and ANB_URL_TTL_S must be positive")
        if min(self.login_max_failures, self.login_max_failures_per_client) < 1 or (
            self.login_window_s <= 0
        ):
            raise ConfigurationError(
                "ANB_LOGIN_MAX_FAILURES, ANB_LOGIN_MAX_FAILURES_PER_CLIENT and "
                "ANB_LOGIN_WINDOW_S must be positive"
            )
        if self.upload_expiry_s < 1 or self.upload_sweep_interval_s <= 0:
            raise ConfigurationError(
                "ANB_UPLOAD_EXPIRY_S and ANB_UPLOAD_SWEEP_INTERVAL_S must be positive")
        if self.request_body_idle_timeout_s <= 0 or self.shutdown_timeout_s < 0:
            raise ConfigurationError(
                "ANB_REQUEST_BODY_IDLE_TIMEOUT_S must be positive and ANB_SHUTDOWN_TIMEOUT_S "
                "not negative")

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, pipeline: Settings | None = None,
        **overrides: object,
    ) -> WebSettings:
        """Read ``ANB_*`` variables; ``overrides`` win over the environment."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {"pipeline": pipeline or Settings.from_env(env)}
        values.update(env_values(cls, env, skip=frozenset({"pipeline"})))
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def replace(self, **changes: object) -> WebSettings:
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]

