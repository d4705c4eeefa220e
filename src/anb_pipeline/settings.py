"""The one settings object of the pipeline framework, and the base of every package's.

Every value comes from an ``ANB_*`` environment variable, ``ANB_`` and the field's name in
capitals, with a default that works on one machine. Units are in the names: ``*_s`` is
seconds, ``*_ms`` milliseconds, ``*_bytes`` bytes. The models are pydantic-settings models:
pydantic parses each value by the field's type and checks its bounds, and a value that does
not fit is a :class:`~anb_pipeline.errors.ConfigurationError` naming the variable.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BeforeValidator, Field, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .errors import ConfigurationError

ASSETS_DIR = Path(__file__).parent / "assets"
ENV_PREFIX = "ANB_"

#: SQS refuses a message delay above 15 minutes (the ``DelaySeconds`` limit of SendMessage,
#: Amazon SQS Developer Guide, "Amazon SQS delay queues"); Dramatiq's retry backoff must stay
#: under it or the retry is dropped (dramatiq-sqs raises inside a middleware and the message
#: is lost).
SQS_MAX_DELAY_MS = 900_000

DEFAULT_STEPS = ("trim", "resize", "watermark", "bumpers", "upload")

#: pydantic's error types for a value of the wrong kind, and the kind to name in the message.
KIND_ERRORS = {
    "int_parsing": "int", "int_from_float": "int", "int_type": "int",
    "float_parsing": "float", "float_type": "float",
    "bool_parsing": "bool", "bool_type": "bool",
}
BOUND_ERRORS = frozenset({"greater_than", "greater_than_equal", "less_than", "less_than_equal"})

SettingsT = TypeVar("SettingsT", bound="AnbSettings")


def variable_name(field_name: str) -> str:
    """The environment variable of a settings field: ``max_attempts`` is ``ANB_MAX_ATTEMPTS``."""
    return ENV_PREFIX + field_name.upper()


def default_storage_url() -> str:
    """``file://<cwd>/.anb/storage``, for the directory the process runs in when the
    settings are made (not when this module was imported)."""
    return "file://" + str(Path.cwd() / ".anb" / "storage")


def split_names(value: object) -> object:
    """A comma-separated variable as a tuple of names: ``"trim, resize,,upload"`` is
    ``("trim", "resize", "upload")`` (blanks around a name and empty names dropped).
    Any other value (a tuple given in code) is returned unchanged for pydantic to check."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


#: A list setting: comma-separated names in its variable, a tuple of strings in code.
NameList = Annotated[tuple[str, ...], BeforeValidator(split_names)]


class Environment(PydanticBaseSettingsSource):
    """The settings source of one environment: the value of each field is its ``ANB_<FIELD>``
    variable in ``environ`` (``os.environ``, or the environment a child process will get),
    as text for pydantic to parse; an empty variable counts as unset.
    """

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        super().__init__(settings_cls)
        self.environ = environ

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """``(text or None, variable name, False)``: the text is never JSON to decode."""
        variable = variable_name(field_name)
        return self.environ.get(variable) or None, variable, False

    def __call__(self) -> dict[str, Any]:
        """``{field name: variable text}`` for each field whose variable is set and not empty."""
        values = {}
        for name, field in self.settings_cls.model_fields.items():
            text, _, _ = self.get_field_value(field, name)
            if text is not None:
                values[name] = text
        return values


def _bounds(field: FieldInfo) -> str:
    """The values a field's ``ge``/``gt``/``le``/``lt`` constraints allow, in words."""
    ge, gt, le, lt = (next((getattr(item, name) for item in field.metadata if hasattr(item, name)), None)
                      for name in ("ge", "gt", "le", "lt"))
    if (ge, gt) != (None, None) and (le, lt) != (None, None):
        low = f"[{ge}" if ge is not None else f"({gt}"
        high = f"{le}]" if le is not None else f"{lt})"
        return f"in {low}, {high}"
    if ge is not None:
        return f"at least {ge}"
    if gt is not None:
        return "positive" if gt == 0 else f"above {gt}"
    return f"at most {le}" if le is not None else f"below {lt}"


def _describe(settings_cls: type[BaseSettings], problem: ErrorDetails) -> str:
    """One pydantic error as a sentence that names the variable and the value given."""
    name = str(problem["loc"][0]) if problem["loc"] else ""
    variable, given, kind = variable_name(name), problem["input"], problem["type"]
    if kind in KIND_ERRORS:
        return f"{variable}={given!r} is not a valid {KIND_ERRORS[kind]}"
    if kind in BOUND_ERRORS:
        return f"{variable} must be {_bounds(settings_cls.model_fields[name])}, not {given!r}"
    if kind == "literal_error":
        return f"{variable} must be {problem.get('ctx', {}).get('expected')}, not {given!r}"
    return f"{variable}={given!r}: {problem['msg']}"


class AnbSettings(BaseSettings):
    """Base of the settings models: frozen, read from ``ANB_*`` variables by :meth:`from_env`
    only, and every invalid value refused with a :class:`ConfigurationError`.

    Made in code (``Settings(broker_url="stub://")``), a model holds the values given and the
    defaults, whatever the process's environment says; a test or ``anb up`` building the
    settings of a child gets exactly what it wrote.
    """

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="forbid")

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only the values given to the constructor: :meth:`from_env` reads the environment."""
        return (init_settings,)

    @model_validator(mode="wrap")
    @classmethod
    def _refuse_clearly(cls, values: Any, handler: Any) -> Any:
        """pydantic's errors as one ConfigurationError naming each variable; an unknown
        field (a programming error) as a TypeError."""
        try:
            return handler(values)
        except ValidationError as exc:
            problems = exc.errors()
            unknown = [str(p["loc"][0]) for p in problems if p["type"] == "extra_forbidden"]
            if unknown:
                raise TypeError(f"{cls.__name__} has no field {', '.join(unknown)}") from None
            raise ConfigurationError("; ".join(_describe(cls, p) for p in problems)) from None

    @classmethod
    def from_env(cls: type[SettingsT], environ: Mapping[str, str] | None = None,
                 **overrides: Any) -> SettingsT:
        """The settings that the ``ANB_*`` variables of ``environ`` (default ``os.environ``)
        set, the defaults for the others; ``overrides`` (field names) win over the variables.

        Raises: ``ConfigurationError`` naming the variable whose value does not parse or is
        out of bounds.
        """
        values = Environment(cls, os.environ if environ is None else environ)()
        return cls(**{**values, **overrides})

    def replace(self: SettingsT, **changes: Any) -> SettingsT:
        """A copy with ``changes`` (field names) applied, checked like a new one.

        Raises: ``ConfigurationError`` for a value the model refuses; ``TypeError`` for an
        unknown field.
        """
        current = {name: getattr(self, name) for name in type(self).model_fields}
        return type(self)(**{**current, **changes})


class Settings(AnbSettings):
    """What a worker, the CLI or the web tier needs to know about the pipeline.

    Raises (when made): ``ConfigurationError`` naming the variable of a value that does not
    parse or is out of bounds, of an empty ``ANB_STEPS``, of a step named twice, or of an
    ``ANB_STANDALONE_STEPS`` name that ``ANB_STEPS`` does not list.
    """

    #: ``sqs://``, ``redis://host:port/db``, ``amqp://user:pass@host/vhost`` or ``stub://``.
    broker_url: str = "sqs://"
    #: ``file:///dir`` or ``s3://bucket/prefix``; default ``file://<cwd>/.anb/storage``.
    storage_url: str = Field(default_factory=default_storage_url)
    #: Endpoint of SQS and S3 (an emulator); unset is AWS's.
    aws_endpoint_url: str | None = None
    aws_region: str = "us-east-1"
    #: The queue is ``<namespace>_video``, its DLQ ``<namespace>_video_dlq``.
    queue_namespace: str = "anb"
    #: The step plugins (entry-point names) in their order (SPEC section 3: the defaults).
    steps: NameList = DEFAULT_STEPS
    #: Run consecutive filter steps as one actor with one ffmpeg pass (see steps/fused.py).
    fuse_steps: bool = True
    #: Filter steps that always run as their own actor, even with fusion on.
    standalone_steps: NameList = ()
    #: ``module:factory`` of the event sink; unset logs events only.
    event_sink: str | None = None
    #: Attempts in all, the first included (Dramatiq's ``max_retries`` is this minus one;
    #: SPEC section 4: 3 by default).
    max_attempts: int = Field(default=3, ge=1)
    #: Dramatiq's retry backoff: the first delay, and the longest (SPEC section 4: bounded by
    #: the SQS 15-minute delay limit).
    min_backoff_ms: int = 15_000
    max_backoff_ms: int = Field(default=SQS_MAX_DELAY_MS, le=SQS_MAX_DELAY_MS)
    #: How long a received SQS message stays hidden; the heartbeat renews it every third.
    visibility_timeout_s: int = Field(default=120, ge=3)
    #: Deliveries after which a message that keeps losing its worker is dead-lettered (SPEC
    #: section 4: the redrive policy's maxReceiveCount 3).
    max_receives: int = 3
    #: SQS long-poll wait of one receive (SQS allows 0 to 20).
    sqs_wait_time_s: int = 20
    #: Each ffmpeg call is killed after this long (fractions allowed).
    ffmpeg_timeout_s: float = Field(default=900, gt=0)
    #: How long a stopping worker lets in-flight steps finish before it gives them back
    #: (Dramatiq's ``--worker-shutdown-timeout``; the deployment's drain window).
    worker_drain_s: int = 960
    #: Content kept from the start of an upload (SPEC section 3: at most the first 30 s).
    max_content_s: float = 30.0
    #: Length of the intro and the outro card each (SPEC section 3: each at most 5 s).
    bumper_s: float = Field(default=2.0, gt=0, le=5)
    #: Frame-rate cap of the output (SPEC section 3: 30 fps).
    max_fps: int = 30
    #: x264's constant rate factor and preset of the final encode (ffmpeg's ``-crf``, ``-preset``).
    video_crf: int = 23
    video_preset: str = "veryfast"
    #: PNGs with alpha: the watermark over the content and the logo of the cards (SPEC section 3).
    watermark_path: Path = ASSETS_DIR / "watermark.png"
    logo_path: Path = ASSETS_DIR / "logo.png"
    #: Scratch space of the steps; unset is the system's temporary directory.
    work_dir: Path | None = None
    #: Port of the worker's Prometheus endpoint; 0 turns worker metrics off.
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
    #: ``text`` or ``json`` (one JSON object per line, with video_id/step/message_id/attempt).
    log_format: Literal["text", "json"] = "text"

    @model_validator(mode="after")
    def _check_steps(self) -> Settings:
        if not self.steps:
            raise ConfigurationError("ANB_STEPS names no step")
        repeated = sorted({name for name in self.steps if self.steps.count(name) > 1})
        if repeated:
            raise ConfigurationError(f"ANB_STEPS names {', '.join(repeated)} more than once")
        unknown = [name for name in self.standalone_steps if name not in self.steps]
        if unknown:
            raise ConfigurationError(
                f"ANB_STANDALONE_STEPS names {', '.join(unknown)}, which ANB_STEPS "
                f"({','.join(self.steps)}) does not list")
        return self

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
        return math.ceil(self.ffmpeg_timeout_s * 2 + 60)

    @property
    def heartbeat_interval_s(self) -> float:
        """Seconds between two visibility renewals: a third of ``ANB_VISIBILITY_TIMEOUT_S``,
        so two renewals can fail before a held message shows again.
        """
        return self.visibility_timeout_s / 3
