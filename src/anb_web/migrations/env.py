"""Alembic environment: the URL comes from ``anb_web.db.alembic_config`` or ANB_DATABASE_URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from anb_web.db import MIGRATION_LOCK_ID
from anb_web.models import Base
from anb_web.settings import database_url_from_env

config = context.config
url = config.attributes.get("database_url") or database_url_from_env()


def run_offline() -> None:
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True,
                      render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        # Batch mode lets later migrations alter tables on SQLite, which lacks ALTER COLUMN.
        context.configure(connection=connection, target_metadata=Base.metadata,
                          render_as_batch=True)
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # Held to the end of the migration's transaction; alembic reads the current
                # revision only after it, so a second upgrade waits, then finds nothing to do.
                connection.execute(text("SELECT pg_advisory_xact_lock(:id)"),
                                   {"id": MIGRATION_LOCK_ID})
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
