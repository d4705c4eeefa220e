"""Steps that behave in the ways the failure tests need. Each is controlled by a file or an
environment variable, because the worker running it may be another process."""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path

from anb_pipeline import Job, StepContext


class ChecksumStep:
    """Passes its input through unchanged and records its SHA-256 in the job."""

    name = "checksum"

    def run(self, ctx: StepContext) -> Job:
        digest = hashlib.sha256(ctx.fetch_input().read_bytes()).hexdigest()
        return ctx.job.advance(input_key=ctx.job.input_key, checksum=digest)


class FlakyStep:
    """Raises while the file named by ANB_TEST_FAIL_FLAG exists; counts its calls there."""

    name = "flaky"

    def run(self, ctx: StepContext) -> Job:
        flag = Path(os.environ["ANB_TEST_FAIL_FLAG"])
        calls = flag.with_suffix(".calls")
        calls.write_text(str(int(calls.read_text() or 0) + 1) if calls.exists() else "1")
        if flag.exists():
            raise RuntimeError("flaky step was told to fail")
        return ctx.job


def mark_started() -> None:
    """Append this process's pid to ANB_TEST_STARTED_MARKER: one line per step start."""
    marker = os.environ.get("ANB_TEST_STARTED_MARKER")
    if marker:
        with open(marker, "a") as out:
            out.write(f"{os.getpid()}\n")


class SlowStep:
    """Sleeps ANB_TEST_SLOW_S seconds (default 6), marking its start, then reads its input
    (as a step that decodes for a while would: the input may have gone meanwhile)."""

    name = "slow"

    def run(self, ctx: StepContext) -> Job:
        mark_started()
        time.sleep(float(os.environ.get("ANB_TEST_SLOW_S", "6")))
        ctx.fetch_input()
        return ctx.job


class CrashStep:
    """Kills its own worker process, as an out-of-memory kill or a segfault would."""

    name = "crash"

    def run(self, ctx: StepContext) -> Job:
        mark_started()
        os.kill(os.getpid(), signal.SIGKILL)
        return ctx.job


class BloatStep:
    """Returns a job too large for an SQS message (2 MB of metadata)."""

    name = "bloat"

    def run(self, ctx: StepContext) -> Job:
        return ctx.job.advance(input_key=ctx.job.input_key, padding="x" * 2_000_000)
