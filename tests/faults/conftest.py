"""Fixtures of the fault and abuse suite; the web suite's database fixtures are reused."""

from __future__ import annotations

from web.conftest import (
    app,
    client,
    database,
    database_url,
    pipeline,
    pipeline_settings,
    postgres_database,
    sink,
    small_video,
    web_settings,
)

__all__ = ["app", "client", "database", "database_url", "pipeline", "pipeline_settings",
           "postgres_database", "sink", "small_video", "web_settings"]
