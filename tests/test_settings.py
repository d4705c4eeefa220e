"""Settings come from ANB_* variables, with clear errors for bad values."""

from __future__ import annotations

import pytest

from anb_pipeline import ConfigurationError, Settings


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
