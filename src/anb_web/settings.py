"""Settings of the web tier; the pipeline's own settings ride along in ``pipeline``.

Every value comes from an ``ANB_*`` environment variable. Units are in the names.
The JWT secret has no default on purpose: every web instance must share one secret,
so a generated per-process secret would silently log users out between instances.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator

from anb_pipeline import AnbSettings, ConfigurationError, NameList, Settings

MIB = 1024 * 1024


def default_database_url() -> str:
    """``sqlite:///<cwd>/.anb/anb.db``, for the directory the process runs in when the
    settings are made."""
    return "sqlite:///" + str((Path.cwd() / ".anb" / "anb.db").resolve())


class DatabaseSettings(AnbSettings):
    """The database alone: workers need it for the event sink, not the JWT secret."""

    #: SQLAlchemy URL of the database.
    database_url: str = Field(default_factory=default_database_url)


def database_url_from_env(environ: Mapping[str, str] | None = None) -> str:
    """``ANB_DATABASE_URL`` of ``environ`` (default ``os.environ``), or the default."""
    return DatabaseSettings.from_env(environ).database_url


class WebSettings(DatabaseSettings):
    """What the web tier needs to know; the pipeline's own settings ride along in ``pipeline``.

    Raises (when made): ``ConfigurationError`` naming the variable of a value that does not
    parse or is out of bounds, or ``ANB_JWT_SECRET`` when it is empty.
    """

    pipeline: Settings
    jwt_secret: str = Field(default="", repr=False)
    #: Bearer token of GET /metrics; empty means the endpoint does not exist.
    metrics_token: str = Field(default="", repr=False)
    jwt_ttl_s: int = Field(default=3600, ge=1)
    max_upload_bytes: int = Field(default=100 * MIB, ge=1)
    #: Prefix of app-served URLs, e.g. ``https://anb.example.org``; empty means relative URLs.
    public_base_url: str = ""
    #: Lifetime of the signed or presigned URLs handed to clients.
    url_ttl_s: int = Field(default=3600, ge=1)
    db_pool_size: int = 5
    db_max_overflow: int = 10
    db_pool_timeout_s: float = 10.0
    #: SQLite waits this long for a lock before "database is locked".
    db_busy_timeout_ms: int = 5000
    #: Each /health dependency check gives up after this long.
    health_timeout_s: float = 3.0
    #: Failed logins allowed per account, and per client address, in ``login_window_s``;
    #: past them login answers 429 until the oldest failure leaves the window.
    login_max_failures: int = Field(default=5, ge=1)
    login_max_failures_per_client: int = Field(default=50, ge=1)
    login_window_s: float = Field(default=300.0, gt=0)
    #: How many times an owner may "Try again" one failed video (POST /api/videos/{id}/retry).
    max_retries_per_video: int = 3
    #: Addresses or CIDR ranges of the proxies in front of the app (the ALB's VPC range in
    #: the CloudFormation template). From them, and only them, ``X-Forwarded-For`` and
    #: ``X-Forwarded-Proto`` name the real client; it is ``*`` to trust every peer.
    trusted_proxies: NameList = ("127.0.0.1",)
    #: When set, the login limiter's shared log lives in Redis; otherwise in the database.
    redis_url: str = Field(default="", repr=False)
    #: A request whose body stops arriving for this long is answered 408 and dropped.
    request_body_idle_timeout_s: float = Field(default=30.0, gt=0)
    #: On SIGTERM, in-flight requests get this long to finish before they are cancelled
    #: (and clean up their spooled uploads). Below ``anb up``'s grace before SIGKILL.
    shutdown_timeout_s: int = Field(default=10, ge=0)
    #: A resumable (tus) upload must finish this long after its creation, or it expires.
    #: Keep it under the bucket's AbortIncompleteMultipartUpload days (the template: 2).
    upload_expiry_s: int = Field(default=24 * 3600, ge=1)
    #: How often each web process sweeps expired resumable uploads (parts, files, rows).
    upload_sweep_interval_s: float = Field(default=600.0, gt=0)

    @model_validator(mode="after")
    def _require_jwt_secret(self) -> WebSettings:
        if not self.jwt_secret:
            raise ConfigurationError(
                "ANB_JWT_SECRET is not set: set it to a long random string shared by every "
                "web instance (e.g. `python -c 'import secrets; print(secrets.token_urlsafe(48))'`)"
            )
        return self

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, pipeline: Settings | None = None,
        **overrides: Any,
    ) -> WebSettings:
        """The web settings of ``environ`` (default ``os.environ``), with ``pipeline`` or the
        pipeline settings of the same environment; ``overrides`` win over the variables.

        Raises: ``ConfigurationError`` naming the variable whose value is refused.
        """
        pipeline = pipeline or Settings.from_env(environ)
        return super().from_env(environ, pipeline=pipeline, **overrides)
