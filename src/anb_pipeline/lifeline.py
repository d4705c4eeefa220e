"""Tie a child process to its parent's life, from inside the child.

A supervisor (``anb up``) starts each child with ``ANB_PARENT_PID`` set; the child's ``anb``
command calls :func:`hold_parent` first thing. It asks the kernel for SIGTERM when the
parent dies (Linux ``PR_SET_PDEATHSIG``, kept across ``exec``) and then checks the parent is
still the one that started it, which closes the race of a parent dying before the request.
This runs in the child's own interpreter, not in ``preexec_fn`` between ``fork`` and
``exec`` (which CPython documents as unsafe once the parent has threads).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import MutableMapping

PARENT_PID_ENV = "ANB_PARENT_PID"
PR_SET_PDEATHSIG = 1


def hold_parent(environ: MutableMapping[str, str] | None = None) -> None:
    """If ``ANB_PARENT_PID`` is set, die with that parent; the variable is removed so the
    command's own children do not inherit it. Does nothing off Linux."""
    environ = os.environ if environ is None else environ
    parent = environ.pop(PARENT_PID_ENV, None)
    if parent is None or not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != int(parent):  # it died before the request: the signal will not come
        os.kill(os.getpid(), signal.SIGTERM)
