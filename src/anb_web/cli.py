"""``anb web`` and ``anb db upgrade``, plugged into the ``anb`` command by entry point."""

from __future__ import annotations

import argparse

from .settings import database_url_from_env


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    web = subparsers.add_parser("web", help="Run the HTTP API with uvicorn")
    web.add_argument("--host", default="127.0.0.1")
    web.add_argument("--port", type=int, default=8000)
    web.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    web.add_argument("--upgrade-db", action="store_true",
                     help="Apply database migrations before starting")
    web.set_defaults(handler=run_web)

    db = subparsers.add_parser("db", help="Database maintenance")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser("upgrade", help="Apply migrations (alembic upgrade head)")
    upgrade.add_argument("--revision", default="head")
    upgrade.set_defaults(handler=run_upgrade)


# Handlers import their heavy modules late: registering must not slow every `anb` command.
def run_web(args: argparse.Namespace) -> int:
    import uvicorn

    from .metrics import multiprocess_dir
    from .settings import WebSettings

    # Fail here, with the message, rather than in every uvicorn worker.
    settings = WebSettings.from_env()
    if args.upgrade_db:
        run_upgrade(argparse.Namespace(revision="head"))
    # Forwarded headers are the app's own middleware's (ANB_TRUSTED_PROXIES), not uvicorn's.
    with multiprocess_dir(processes=args.workers):
        uvicorn.run("anb_web.app:create_app", factory=True, host=args.host, port=args.port,
                    workers=args.workers, proxy_headers=False,
                    timeout_graceful_shutdown=settings.shutdown_timeout_s)
    return 0


def run_upgrade(args: argparse.Namespace) -> int:
    from .db import upgrade

    upgrade(database_url_from_env(), args.revision)
    print("Database is at revision", args.revision)
    return 0
