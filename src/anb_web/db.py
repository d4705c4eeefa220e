"""Engine, sessions and migrations.

Route handlers are ``async``; every query runs in Starlette's threadpool through
``Database.run`` so the event loop never waits on the database. A unit of work opens a
connection, runs, commits and gives the connection back: no connection is ever held
across password hashing, probing or storage I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import sessionmaker
from starlette.concurrency import run_in_threadpool

T = TypeVar("T")

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
#: Connections idle longer than this are replaced: RDS and proxies drop idle sockets.
POOL_RECYCLE_S = 1800
CONNECT_TIMEOUT_S = 5


def make_engine(
    url: str, *, pool_size: int = 5, max_overflow: int = 10, pool_timeout_s: float = 10.0,
    busy_timeout_ms: int = 5000,
) -> Engine:
    parsed = make_url(url)
    options: dict[str, Any] = {
        "pool_size": pool_size, "max_overflow": max_overflow, "pool_timeout": pool_timeout_s,
        "pool_pre_ping": True, "pool_recycle": POOL_RECYCLE_S,
    }
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # The app's threads share the pool; each connection is used by one thread at a time.
        options["connect_args"] = {"check_same_thread": False,
                                   "timeout": busy_timeout_ms / 1000}
        engine = create_engine(parsed, **options)
        event.listen(engine, "connect", _sqlite_pragmas(busy_timeout_ms))
        return engine
    if parsed.get_backend_name() == "postgresql":
        options["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
    return create_engine(parsed, **options)


def _sqlite_pragmas(busy_timeout_ms: int) -> Callable[[Any, Any], None]:
    def on_connect(dbapi_connection: Any, connection_record: Any) -> None:
        cursor = dbapi_connection.cursor()
        # WAL lets readers run while one writer writes; busy_timeout makes writers queue
        # instead of failing at once; SQLite enforces foreign keys only when asked.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return on_connect


class Database:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sessions = sessionmaker(engine, expire_on_commit=False)

    def call(self, work: Callable[..., T], /, **kwargs: Any) -> T:
        """Run ``work(session, **kwargs)`` in one transaction, committed on success."""
        with self.sessions.begin() as session:
            return work(session, **kwargs)

    async def run(self, work: Callable[..., T], /, **kwargs: Any) -> T:
        """``call`` in the threadpool, for async route handlers."""
        return await run_in_threadpool(self.call, work, **kwargs)

    def check(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


#: The PostgreSQL advisory lock that serializes migrations: instances booting together on
#: one database take turns, and each after the first finds the schema already current.
MIGRATION_LOCK_ID = 0x616E62  # "anb"


def alembic_config(url: str) -> Config:
    """Alembic's configuration, built in code so it works from an installed package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Passed as an attribute, not an ini option: ini interpolation would mangle a '%'.
    config.attributes["database_url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(url), revision)
