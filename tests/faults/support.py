"""What the fault tests share: a TCP proxy to cut a dependency off, worker processes,
a PostgreSQL database of one's own, and waiting."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import uuid
from collections.abc import Iterator
from typing import Any, TypeVar
from urllib.parse import urlparse

import sqlalchemy as sa

from anb_pipeline.emulator import free_port
from anb_web.models import Base
from conftest import POSTGRES_URL, require_service

T = TypeVar("T")

CHUNK_BYTES = 64 * 1024


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; ``stop`` is an outage, ``start`` the recovery.

    Stopping closes the listener and every open connection, so clients see refused and
    reset connections, as they would when a service goes away. The port stays the same.
    """

    def __init__(self, target_url: str) -> None:
        target = urlparse(target_url)
        self.target = (target.hostname or "127.0.0.1", target.port or 80)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()

    def start(self) -> TcpProxy:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def stop(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def reset_connections(self) -> int:
        """Reset every open connection (RST, mid-call) and keep listening; returns how many."""
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                # SO_LINGER 0: close() sends a reset, as a dropped NAT entry or LB would.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()
        return len(sockets) // 2

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(CHUNK_BYTES):
                sink.sendall(data)
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def postgres_admin() -> sa.Engine:
    parsed = urlparse(POSTGRES_URL.replace("postgresql+psycopg2", "postgresql"))
    require_service("PostgreSQL", parsed.hostname or "127.0.0.1", parsed.port or 5432)
    return sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")


@contextlib.contextmanager
def postgres_database() -> Iterator[tuple[str, str]]:
    """A fresh database with the schema; yields its URL and its name, drops it after."""
    admin = postgres_admin()
    name = f"anb_fault_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = str(sa.engine.make_url(POSTGRES_URL).set(database=name))
    engine = sa.create_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    try:
        yield url, name
    finally:
        with admin.connect() as connection:
            for candidate in (name, name + "_away"):
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{candidate}" WITH (FORCE)'))
        admin.dispose()


def rename_database(name: str, new_name: str) -> None:
    """Take a database away (or bring it back) under the running server: no restart."""
    admin = postgres_admin()
    with admin.connect() as connection:
        # RENAME refuses while anyone is connected: end their sessions, as an outage would.
        connection.execute(sa.text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"
        ), {"name": name})
        connection.execute(sa.text(f'ALTER DATABASE "{name}" RENAME TO "{new_name}"'))
    admin.dispose()


def statuses(url: str) -> dict[str, str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT id, status FROM videos")).all()
    finally:
        engine.dispose()
    return {row.id: row.status for row in rows}


def insert_owner_and_videos(url: str, video_ids: list[str], *, source_keys: dict[str, str]) -> None:
    """The rows an upload would have made, so the database sink has videos to update."""
    engine = sa.create_engine(url)
    values: list[dict[str, Any]] = [
        {"id": vid, "user_id": "u-fault", "title": vid, "source_key": source_keys[vid],
         "status": "pending"} for vid in video_ids
    ]
    with engine.begin() as connection:
        connection.execute(sa.text(
            "INSERT INTO users (id, username, username_key, email, email_key, password_hash, "
            "created_at) VALUES ('u-fault', 'fault', 'fault', 'f@example.org', "
            "'f@example.org', 'x', now())"))
        connection.execute(sa.text(
            "INSERT INTO videos (id, user_id, title, source_key, status, created_at) "
            "VALUES (:id, :user_id, :title, :source_key, :status, now())"), values)
    engine.dispose()
