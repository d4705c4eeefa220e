"""Fixtures of the fault and abuse suite; the web suite's database fixtures are reused."""

from __future__ import annotations

from web.conftest import database_url, postgres_database, small_video

__all__ = ["database_url", "postgres_database", "small_video"]
