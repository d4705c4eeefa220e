"""The shipped migrations build exactly the models' schema; the CLI drives them."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from starlette.testclient import TestClient

from anb_pipeline import MediaPipeline, Settings
from anb_web import cli
from anb_web.app import create_app
from anb_web.models import Base
from anb_web.settings import WebSettings

from .conftest import JWT_SECRET, TABLES, signup


@pytest.fixture
def empty_database_url(database_url: str) -> str:
    engine = sa.create_engine(database_url)
    with engine.begin() as connection:
        for table in TABLES:
            connection.execute(sa.text(f"DROP TABLE IF EXISTS {table} CASCADE"
                                       if engine.dialect.name == "postgresql"
                                       else f"DROP TABLE IF EXISTS {table}"))
        connection.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()
    return database_url


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="anb")
    cli.register(root.add_subparsers(dest="command", required=True))
    return root


def test_db_upgrade_builds_the_models_schema_and_the_app_runs_on_it(
    empty_database_url: str, pipeline_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANB_DATABASE_URL", empty_database_url)
    args = parser().parse_args(["db", "upgrade"])
    assert args.handler(args) == 0
    assert args.handler(args) == 0  # a second upgrade is a no-op
    engine = sa.create_engine(empty_database_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    engine.dispose()
    settings = WebSettings(pipeline=pipeline_settings, jwt_secret=JWT_SECRET,
                           database_url=empty_database_url)
    with TestClient(create_app(settings, pipeline=MediaPipeline(pipeline_settings))) as client:
        signup(client, "migrated")
    # Leave the session database as the other tests expect it: created from the models.
    engine = sa.create_engine(empty_database_url)
    with engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE alembic_version"))
    engine.dispose()


def test_web_command_parses_its_options() -> None:
    args = parser().parse_args(["web", "--host", "0.0.0.0", "--port", "9000",
                                "--workers", "3"])
    assert (args.host, args.port, args.workers, args.upgrade_db) == ("0.0.0.0", 9000, 3, False)
    assert args.handler is cli.run_web


def test_web_command_refuses_to_start_without_a_secret(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("ANB_JWT_SECRET", raising=False)
    monkeypatch.chdir(tmp_path)
    args = parser().parse_args(["web"])
    with pytest.raises(Exception, match="ANB_JWT_SECRET"):
        args.handler(args)
