"""``<data-dir>/stack.json``: where a running ``anb up`` is, for the operator commands.

``anb up`` writes the file when its stack is ready and removes it when it stops. It holds
the environment the stack's children run with (broker, storage, emulator endpoint and
credentials, database), the web URL, and the pid of ``anb up``. ``anb status``,
``anb dlq ...`` and ``anb reconcile`` read it when ``ANB_BROKER_URL`` is not exported, so
they work against the local stack with nothing set; an exported configuration always wins.

Shape::

    {"pid": 1234, "web_url": "http://127.0.0.1:8000",
     "env": {"ANB_BROKER_URL": "sqs://", "ANB_AWS_ENDPOINT_URL": "http://127.0.0.1:41234", ...}}
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, MutableMapping
from pathlib import Path
from typing import Any

from .errors import ConfigurationError

DEFAULT_DATA_DIR = Path(".anb")
STACK_FILE = "stack.json"
#: The variables of the stack's environment that the operator commands need.
STACK_ENV_PREFIXES = ("ANB_", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
#: Set in the stack's environment but not the operator's business.
PRIVATE_ENV = frozenset({"ANB_JWT_SECRET"})


def stack_file(data_dir: Path) -> Path:
    """``<data_dir>/stack.json``: where a running ``anb up`` describes itself."""
    return data_dir / STACK_FILE


def write_local_stack(data_dir: Path, *, env: Mapping[str, str], web_url: str) -> Path:
    """Write the stack file (mode 0600: it holds credentials); returns its path."""
    shared = {name: value for name, value in sorted(env.items())
              if name.startswith(STACK_ENV_PREFIXES) and name not in PRIVATE_ENV}
    path = stack_file(data_dir)
    path.touch(mode=0o600)
    path.write_text(json.dumps({"pid": os.getpid(), "web_url": web_url, "env": shared}, indent=2))
    return path


def read_local_stack(data_dir: Path) -> dict[str, Any] | None:
    """The stack file of ``data_dir``, or None when no ``anb up`` runs there.

    Raises:
        ConfigurationError: the file is left over from an ``anb up`` that no longer runs.
    """
    import psutil  # only here: the CLI imports this module on every command

    path = stack_file(data_dir)
    if not path.is_file():
        return None
    stack: dict[str, Any] = json.loads(path.read_text())
    if not psutil.pid_exists(int(stack["pid"])):
        raise ConfigurationError(
            f"{path} is left from an `anb up` that is no longer running; start it again "
            f"with `anb up --data-dir {data_dir}`, or export ANB_BROKER_URL and friends")
    return stack


def use_local_stack(data_dir: Path, environ: MutableMapping[str, str] | None = None) -> bool:
    """Take the running stack's settings into ``environ`` (default ``os.environ``) unless
    ``ANB_BROKER_URL`` is already set there; returns whether they were taken."""
    target = os.environ if environ is None else environ
    if "ANB_BROKER_URL" in target:
        return False
    stack = read_local_stack(data_dir)
    if stack is None:
        return False
    for name, value in stack["env"].items():
        target.setdefault(name, value)
    return True

