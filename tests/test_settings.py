"""Settings come from ANB_* variables, with clear errors for bad values."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

import anb_pipeline
from anb_pipeline import AnbSettings, ConfigurationError, Settings
from anb_pipeline.settings import variable_name
from anb_web.settings import WebSettings, database_url_from_env

ROOT = Path(__file__).resolve().parents[1]
#: The assets shipped inside the package, wherever it is installed (src/ or site-packages).
ASSETS = Path(anb_pipeline.__file__).resolve().parent / "assets"
#: The defaults as they were before the settings became pydantic models (issue 14): a
#: changed default must be a decision, made here too.
PIPELINE_DEFAULTS = {
    "broker_url": "sqs://", "aws_endpoint_url": None, "aws_region": "us-east-1",
    "queue_namespace": "anb", "steps": ("trim", "resize", "watermark", "bumpers", "upload"),
    "fuse_steps": True, "standalone_steps": (), "event_sink": None, "max_attempts": 3,
    "min_backoff_ms": 15000, "max_backoff_ms": 900000, "visibility_timeout_s": 120,
    "max_receives": 3, "sqs_wait_time_s": 20, "ffmpeg_timeout_s": 900, "worker_drain_s": 960,
    "max_content_s": 30.0, "bumper_s": 2.0, "max_fps": 30, "video_crf": 23,
    "video_preset": "veryfast", "watermark_path": ASSETS / "watermark.png",
    "logo_path": ASSETS / "logo.png", "work_dir": None, "metrics_port": 0,
    "metrics_host": "127.0.0.1", "log_format": "text",
}
WEB_DEFAULTS = {
    "metrics_token": "", "jwt_ttl_s": 3600, "max_upload_bytes": 104857600,
    "public_base_url": "", "url_ttl_s": 3600, "db_pool_size": 5, "db_max_overflow": 10,
    "db_pool_timeout_s": 10.0, "db_busy_timeout_ms": 5000, "health_timeout_s": 3.0,
    "login_max_failures": 5, "login_max_failures_per_client": 50, "login_window_s": 300.0,
    "max_retries_per_video": 3, "trusted_proxies": ("127.0.0.1",), "redis_url": "",
    "request_body_idle_timeout_s": 30.0, "shutdown_timeout_s": 10, "upload_expiry_s": 86400,
    "upload_sweep_interval_s": 600.0,
}


def test_environment_values_are_parsed_by_field_type() -> None:
    settings = Settings.from_env({
        "ANB_MAX_ATTEMPTS": "5", "ANB_BUMPER_S": "1.5", "ANB_STEPS": "trim, resize ,upload",
        "ANB_FUSE_STEPS": "off", "ANB_QUEUE_NAMESPACE": "prod",
    })
    assert (settings.max_attempts, settings.max_retries) == (5, 4)
    assert settings.bumper_s == 1.5
    assert settings.steps == ("trim", "resize", "upload")
    assert settings.fuse_steps is False
    assert (settings.queue_name, settings.dlq_name) == ("prod_video", "prod_video_dlq")


@pytest.mark.parametrize(("name", "value", "message"), [
    ("ANB_MAX_ATTEMPTS", "three", "ANB_MAX_ATTEMPTS='three' is not a valid int"),
    ("ANB_MAX_ATTEMPTS", "0", "ANB_MAX_ATTEMPTS must be at least 1"),
    ("ANB_BUMPER_S", "6", r"ANB_BUMPER_S must be in \(0, 5\]"),
    ("ANB_MAX_BACKOFF_MS", "3600000", "at most 900000"),
    ("ANB_FUSE_STEPS", "maybe", "ANB_FUSE_STEPS='maybe' is not a valid bool"),
    ("ANB_LOG_FORMAT", "xml", "'text' or 'json'"),
])
def test_bad_values_say_which_variable_and_why(name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_env({name: value})


def test_overrides_win_over_the_environment() -> None:
    assert Settings.from_env({"ANB_MAX_ATTEMPTS": "5"}, max_attempts=2).max_attempts == 2


def test_the_defaults_are_the_ones_the_settings_always_had(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    pipeline = Settings()
    assert pipeline.model_dump() == {**PIPELINE_DEFAULTS,
                                     "storage_url": f"file://{tmp_path}/.anb/storage"}
    web = WebSettings(pipeline=pipeline, jwt_secret="s")
    assert web.model_dump() == {**WEB_DEFAULTS, "jwt_secret": "s", "pipeline": pipeline.model_dump(),
                                "database_url": f"sqlite:///{tmp_path.resolve()}/.anb/anb.db"}


def test_the_path_defaults_follow_the_directory_the_settings_are_made_in(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert Settings().storage_url == f"file://{tmp_path}/.anb/storage"
    assert database_url_from_env({}) == f"sqlite:///{tmp_path.resolve()}/.anb/anb.db"
    monkeypatch.chdir(tmp_path.parent)
    assert Settings().storage_url == f"file://{tmp_path.parent}/.anb/storage"


def test_settings_made_in_code_ignore_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANB_MAX_ATTEMPTS", "7")
    monkeypatch.setenv("ANB_AWS_REGION", "")
    assert Settings().max_attempts == 3
    assert Settings.from_env({}).max_attempts == 3
    assert Settings.from_env().max_attempts == 7
    assert Settings.from_env().aws_region == "us-east-1", "an empty variable counts as unset"


def _kind(model: type[AnbSettings], name: str) -> str:
    annotation = model.model_fields[name].annotation
    return next((kind.__name__ for kind in (bool, int, float) if annotation is kind), "text")


def _every_field() -> list[tuple[type[AnbSettings], str]]:
    return [(model, name) for model in (Settings, WebSettings) for name in model.model_fields
            if name != "pipeline"]


@pytest.mark.parametrize(("model", "name"), _every_field(),
                         ids=[variable_name(name) for _, name in _every_field()])
def test_a_value_that_does_not_parse_names_its_variable(model: type[AnbSettings], name: str) -> None:
    variable = variable_name(name)
    environ = {"ANB_JWT_SECRET": "s", variable: "not-a-value"}
    kind = _kind(model, name)
    if kind == "text":  # a string, a path, a list of names or a choice
        try:
            model.from_env(environ)
        except ConfigurationError as exc:  # a choice or a step name refuses it, naming it
            assert str(exc).startswith(f"{variable} "), exc
        return
    with pytest.raises(ConfigurationError) as refused:
        model.from_env(environ)
    assert str(refused.value) == f"{variable}='not-a-value' is not a valid {kind}"


@pytest.mark.parametrize(("environ", "message"), [
    ({"ANB_LOG_FORMAT": "JSON"}, "ANB_LOG_FORMAT must be 'text' or 'json', not 'JSON'"),
    ({"ANB_STEPS": " , "}, "ANB_STEPS names no step"),
    ({"ANB_STEPS": "trim,resize,trim"}, "ANB_STEPS names trim more than once"),
    ({"ANB_STANDALONE_STEPS": "watermark,sparkle"},
     "ANB_STANDALONE_STEPS names sparkle, which ANB_STEPS "
     "(trim,resize,watermark,bumpers,upload) does not list"),
])
def test_an_unknown_choice_or_name_is_refused(environ: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError) as refused:
        Settings.from_env(environ)
    assert str(refused.value) == message


def test_every_bad_value_is_named_at_once() -> None:
    with pytest.raises(ConfigurationError) as refused:
        WebSettings.from_env({"ANB_JWT_SECRET": "s", "ANB_JWT_TTL_S": "0",
                              "ANB_LOGIN_WINDOW_S": "0", "ANB_SHUTDOWN_TIMEOUT_S": "-1"})
    assert str(refused.value) == ("ANB_JWT_TTL_S must be at least 1, not '0'; "
                                  "ANB_LOGIN_WINDOW_S must be positive, not '0'; "
                                  "ANB_SHUTDOWN_TIMEOUT_S must be at least 0, not '-1'")


def test_settings_are_frozen_and_replace_checks_the_copy() -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.max_attempts = 5  # type: ignore[misc]
    assert settings.replace(max_attempts=5).max_attempts == 5
    assert settings.max_attempts == 3
    with pytest.raises(ConfigurationError, match="ANB_MAX_ATTEMPTS must be at least 1"):
        settings.replace(max_attempts=0)
    with pytest.raises(TypeError, match="no field max_atempts"):
        settings.replace(max_atempts=5)
    web = WebSettings(pipeline=settings, jwt_secret="s")
    assert web.replace(jwt_ttl_s=60).pipeline is settings


def test_the_command_prints_a_bad_value_on_one_line() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANB_", "AWS_"))}
    # redis 4.0 (the floor, tox -e min) warns on import that hiredis is missing.
    env["PYTHONWARNINGS"] = "ignore::UserWarning"
    for command, variable in ((["dlq", "list"], "ANB_MAX_ATTEMPTS"), (["web"], "ANB_JWT_TTL_S")):
        done = subprocess.run([sys.executable, "-m", "anb_pipeline.cli", *command],
                              env={**env, "ANB_BROKER_URL": "stub://", "ANB_JWT_SECRET": "s",
                                   variable: "soon"},
                              capture_output=True, text=True, timeout=60)
        assert (done.returncode, done.stderr) == (
            2, f"anb: error: {variable}='soon' is not a valid int\n")


def test_the_readme_lists_every_variable() -> None:
    readme = (ROOT / "README.md").read_text()
    listed = set(re.findall(r"^\| (.*?) \|", readme, re.M))
    documented = {name for row in listed for name in re.findall(r"`(ANB_[A-Z_0-9]+)`", row)}
    assert {variable_name(name) for _, name in _every_field()} <= documented
