"""The one settings object of the pipeline framework.

Every value comes from an ``ANB_*`` environment variable, with a default that works on
one machine. Units are in the names: ``*_s`` is seconds, ``*_ms`` milliseconds.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path

from .errors import ConfigurationError

ASSETS_DIR = Path(__file__).parent / "assets"

#: SQS refuses a message delay above 15 minutes; Dramatiq's retry backoff must stay under it
#: or the retry is dropped (dramatiq-sqs raises inside a middleware and the message is lost).
SQS_MAX_DELAY_MS = 900_000

DEFAULT_STEPS = ("trim", "resize", "watermark", "bumpers", "upload")


def default_storage_url() -> str:
    """``file://<cwd>/.anb/storage``, for the directory the process runs in when the
    settings are made (not when this module was imported)."""
    return "file://" + str(Path.cwd() / ".anb" / "storage")


@dataclasses.dataclass(frozen=True)
class Settings:
    """What a worker, the CLI or the web tier needs to know about the pipeline."""

    broker_url: str = "sqs://"
    storage_url: str = dataclasses.field(default_factory=default_storage_url)
    aws_endpoint_url: str | None = None
    aws_region: str = "us-east-1"
    queue_namespace: str = "anb"
    steps: tuple[str, ...] = DEFAULT_STEPS
    #: Run consecutive filter steps as one actor with one ffmpeg pass (see steps/fused.py).
    fuse_steps: bool = True
    #: Filter steps that always run as their own actor, even with fusion on.
    standalone_steps: tuple[str, ...] = ()
    event_sink: str | None = None
    #: Attempts in all, the first included (Dramatiq's ``max_retries`` is this minus one).
    max_attempts: int = 3
    min_backoff_ms: int = 15_000
    max_backoff_ms: int = SQS_MAX_DELAY_MS
    #: How long a received SQS message stays hidden; the heartbeat renews it every third.
    visibility_timeout_s: int = 120
    #: Deliveries after which a message that keeps losing its worker is dead-lettered.
    max_receives: int = 3
    sqs_wait_time_s: int = 20
    ffmpeg_timeout_s: int = 900
    #: How long a stopping worker lets in-flight steps finish before it gives them back
    #: (Dramatiq's ``--worker-shutdown-timeout``; the deployment's drain window).
    worker_drain_s: int = 960
    max_content_s: float = 30.0
    bumper_s: float = 2.0
    max_fps: int = 30
    video_crf: int = 23
    video_preset: str = "veryfast"
    watermark_path: Path = ASSETS_DIR / "watermark.png"
    logo_path: Path = ASSETS_DIR / "logo.png"
    work_dir: Path | None = None
    #: Port of the worker's Prometheus endpoint; 0 turns worker metrics off.
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
    #: ``text`` or ``json`` (one JSON object per line, with video_id/step/message_id/attempt).
    log_format: str = "text"

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigurationError("ANB_MAX_ATTEMPTS must be at least 1")
        if not 0 < self.bumper_s <= 5:
            raise ConfigurationError("ANB_BUMPER_S must be in (0, 5] seconds")
        if self.max_backoff_ms > SQS_MAX_DELAY_MS:
            raise ConfigurationError(
                f"ANB_MAX_BACKOFF_MS must be at most {SQS_MAX_DELAY_MS} (the SQS delay limit)"
            )
        if self.visibility_timeout_s < 3:
            raise ConfigurationError("ANB_VISIBILITY_TIMEOUT_S must be at least 3 seconds")
        if not self.steps:
            raise ConfigurationError("ANB_STEPS names no step")
        if self.log_format not in ("text", "json"):
            raise ConfigurationError("ANB_LOG_FORMAT must be 'text' or 'json'")

    @property
    def max_retries(self) -> int:
        """Dramatiq's ``max_retries``: ``ANB_MAX_ATTEMPTS`` minus the first attempt."""
        return self.max_attempts - 1

    @property
    def queue_name(self) -> str:
        """The queue every step actor uses; on SQS also the queue's name."""
        return f"{self.queue_namespace}_video"

    @property
    def dlq_name(self) -> str:
        """The SQS dead-letter queue (dramatiq-sqs names it ``<queue>_dlq``)."""
        return f"{self.queue_name}_dlq"

    @property
    def step_time_limit_s(self) -> int:
        """Dramatiq's time limit of one step attempt: several ffmpeg calls may each use
        their full timeout, so it is a backstop above them, never the first to fire."""
        return self.ffmpeg_timeout_s * 2 + 60

    @property
    def heartbeat_interval_s(self) -> float:
        """Seconds between two visibility renewals: a third of ``ANB_VISIBILITY_TIMEOUT_S``,
        so two renewals can fail before a held message shows again.
        """
        return self.visibility_timeout_s / 3

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Read ``ANB_*`` variables; ``overrides`` win over the environment."""
        values = env_values(cls, os.environ if environ is None else environ)
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def replace(self, **changes: object) -> Settings:
        """A copy with ``changes`` applied, checked like a new one.

        Raises: ``ConfigurationError`` for a value ``__post_init__`` refuses; ``TypeError``
        for an unknown field.
        """
        return dataclasses.replace(self, **changes)  # type: ignore[arg-type]


def env_values(
    settings_class: type, environ: Mapping[str, str], *, skip: frozenset[str] = frozenset()
) -> dict[str, object]:
    """The fields of a settings dataclass that ``ANB_<FIELD>`` variables set, parsed by
    the field's resolved type (``X | None`` as ``X``); an empty variable counts as unset.

    Raises: ``ConfigurationError`` naming the variable when its value does not parse, or
    when the field's type is one no variable can set (a programming error).
    """
    values: dict[str, object] = {}
    hints = typing.get_type_hints(settings_class)
    for field in dataclasses.fields(settings_class):
        raw = environ.get("ANB_" + field.name.upper())
        if field.name not in skip and raw is not None and raw != "":
            values[field.name] = _parse(field.name, hints[field.name], raw)
    return values


def _parse(name: str, annotation: object, raw: str) -> object:
    variable = f"ANB_{name.upper()}"
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        annotation = options[0] if len(options) == 1 else annotation
    kind = typing.get_origin(annotation) or annotation
    try:
        if kind is bool:
            if raw.lower() not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                raise ValueError(raw)
            return raw.lower() in ("1", "true", "yes", "on")
        if kind in (int, float, Path, str):
            return kind(raw)
        if kind is tuple:
            return tuple(part.strip() for part in raw.split(",") if part.strip())
    except ValueError as exc:
        type_name = getattr(kind, "__name__", kind)
        raise ConfigurationError(f"{variable}={raw!r} is not a valid {type_name}") from exc
    raise ConfigurationError(f"{variable} has a type no environment variable can set: {annotation}")
