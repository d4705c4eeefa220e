"""The web tier's ``anb`` commands (web, db, up, status, reconcile, demo), plugged into the
``anb`` command by entry point. Registering imports nothing heavy: each handler imports its
module when it runs."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from anb_pipeline.cli_support import DEFAULT_DATA_DIR, add_stack_argument, lazy_handler


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

    up = subparsers.add_parser("up", help="run the whole product on this machine")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8000)
    up.add_argument("--workers", type=int, default=1, help="worker processes (0: none)")
    up.add_argument("--web-workers", type=int, default=os.cpu_count() or 1,
                    help="web processes (default: one per core, %(default)s here)")
    up.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR)
    up.set_defaults(handler=lazy_handler("anb_web.stack:run_up"))

    status = subparsers.add_parser("status", help="queues, dead letters, videos, slow steps")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    add_stack_argument(status)
    status.set_defaults(handler=lazy_handler("anb_web.status:run_status"))

    reconcile = subparsers.add_parser("reconcile", help="re-enqueue stranded videos")
    reconcile.add_argument("--stale-after-s", type=float, default=None,
                           help="only videos with no progress for this long (seconds; default: "
                                "longer than the longest retry backoff)")
    add_stack_argument(reconcile)
    reconcile.set_defaults(handler=lazy_handler("anb_web.reconcile:run_reconcile"))

    demo = subparsers.add_parser("demo", help="upload a sample video and watch it processed")
    demo.add_argument("--url", default="http://127.0.0.1:8000",
                      help="the stack to use; started with `anb up` if nothing answers there")
    demo.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR,
                      help="data directory of the stack the demo starts")
    demo.add_argument("--timeout-s", type=float, default=300, help="give up after this long")
    demo.set_defaults(handler=lazy_handler("anb_web.demo:run_demo"))


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
    from .settings import database_url_from_env

    upgrade(database_url_from_env(), args.revision)
    print("Database is at revision", args.revision)
    return 0
