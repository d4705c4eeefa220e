"""What a package that adds ``anb`` subcommands (entry-point group ``anb_pipeline.commands``)
uses to keep the command fast and uniform. Light by design: importing it imports nothing
heavy (no Dramatiq, boto3 or PyAV), so ``anb --help`` stays fast."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from pathlib import Path

from .local_stack import DEFAULT_DATA_DIR

__all__ = ["add_stack_argument", "DEFAULT_DATA_DIR", "lazy_handler"]


class lazy_handler:  # noqa: N801 - used like a function in ``set_defaults(handler=...)``
    """A command handler named ``"module:function"``, imported when it is first called, so
    that registering a command imports nothing heavy."""

    def __init__(self, target: str) -> None:
        self.target = target

    def __call__(self, args: argparse.Namespace) -> int | None:
        module, _, name = self.target.partition(":")
        handler: Callable[[argparse.Namespace], int | None] = getattr(
            importlib.import_module(module), name)
        return handler(args)


def add_stack_argument(parser: argparse.ArgumentParser) -> None:
    """``--data-dir`` for an operator command: the ``anb up`` whose settings it uses when
    ``ANB_BROKER_URL`` is not exported (see :mod:`anb_pipeline.local_stack`)."""
    parser.add_argument("--data-dir", dest="stack_data_dir", type=Path, default=DEFAULT_DATA_DIR,
                        help="data directory of a running `anb up` whose settings to use when "
                             "ANB_BROKER_URL is not set (default: %(default)s)")
