"""The ``anb`` command. Other packages add subcommands through the ``anb_pipeline.commands``
entry-point group: each entry point is a ``register(subparsers)`` function.

Parsing must stay fast (``anb --help`` answers in a fraction of a second), so registering
imports nothing heavy: handlers are given as :class:`~anb_pipeline.cli_support.lazy_handler`
and import their module (Dramatiq, boto3, PyAV, SQLAlchemy...) only when the command runs.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from . import commands
from .errors import AnbError
from .lifeline import hold_parent
from .local_stack import use_local_stack
from .logs import configure_logging
from .settings import Settings

COMMANDS_GROUP = "anb_pipeline.commands"
#: Loggers whose per-request or per-message lines drown out what matters, unless ``-v``.
CHATTY_LOGGERS = ("httpx", "werkzeug", "botocore", "urllib3", "alembic.runtime.plugins")


def build_parser() -> argparse.ArgumentParser:
    """``anb``'s parser: the framework's subcommands and those of every
    ``anb_pipeline.commands`` entry point (one that fails to import is skipped with a
    warning on stderr)."""
    parser = argparse.ArgumentParser(
        prog="anb", description="ANB Rising Stars Showcase: media pipeline and web app."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.register(subparsers)
    for entry_point in sorted(entry_points(group=COMMANDS_GROUP), key=lambda ep: ep.name):
        try:
            register = entry_point.load()
        except ImportError as exc:
            # A broken plugin must not take the framework's own commands down with it.
            print(f"anb: warning: commands from {entry_point.value} are unavailable: {exc}",
                  file=sys.stderr)
            continue
        register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``anb`` with ``argv`` (default ``sys.argv[1:]``); returns the exit status: the
    handler's, 2 after an ``AnbError`` (printed as one ``anb: error:`` line on stderr, no
    traceback), 130 on Ctrl-C."""
    hold_parent()
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else os.environ.get("ANB_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr,
    )
    if not args.verbose:
        for chatty in CHATTY_LOGGERS:
            logging.getLogger(chatty).setLevel(logging.WARNING)
    stack_dir = getattr(args, "stack_data_dir", None)
    #: An operator command with neither a running ``anb up`` nor exported settings.
    unconfigured = False
    try:
        if stack_dir is not None:
            unconfigured = not use_local_stack(stack_dir) and "ANB_BROKER_URL" not in os.environ
        configure_logging(Settings.from_env())
        return int(args.handler(args) or 0)
    except AnbError as exc:
        print(f"anb: error: {exc}", file=sys.stderr)
        if unconfigured:
            print(f"anb: no `anb up` is running with data directory {stack_dir} and "
                  "ANB_BROKER_URL is not set: start `anb up`, pass its --data-dir, or export "
                  "the ANB_* settings of the deployment", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
