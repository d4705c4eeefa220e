"""``anb process``: the configured pipeline on one local file, in this process.

It runs the real actors and middleware on Dramatiq's stub broker with a temporary
directory as storage. Progress comes from the lifecycle events: a live display on a
terminal, one line per step otherwise. Logs (the worker's included) stay quiet unless
``verbose``. It returns as soon as the final event arrives and the output is copied; the
worker is stopped with a short timeout rather than waited for.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import dramatiq

from . import layout
from .errors import MediaError
from .events import CallbackSink, FanoutSink, PipelineEvent, load_sink
from .job import Job
from .messages import FUSED_SEPARATOR
from .pipeline import MediaPipeline
from .settings import Settings

if TYPE_CHECKING:
    from rich.progress import Progress

LOCAL_VIDEO_ID = "local"
#: The worker's consumer wakes this often (milliseconds) to notice it is being stopped.
WORKER_POLL_MS = 50
#: How long the stopping worker may take (milliseconds); it has nothing left to do.
WORKER_STOP_MS = 1000
FINAL_KINDS = ("pipeline_done", "pipeline_dead_lettered")


class StepReport:
    """Turns lifecycle events into progress: a rich display on a terminal, else lines.

    ``done_steps`` counts finished configured steps (a fused actor finishes several at
    once); ``failure`` is set on ``pipeline_dead_lettered``; ``finished`` on either final event.
    """

    def __init__(self, steps: tuple[str, ...], *, stream: TextIO, live: bool) -> None:
        self.steps = steps
        self.stream = stream
        self.done_steps = 0
        self.failure: str | None = None
        self.finished = threading.Event()
        self.progress: Progress | None = None
        if live:  # rich only then: off a terminal its import is start-up time for nothing
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                Progress,
                TaskProgressColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self.progress = Progress(
                TextColumn("{task.description:<40}"), BarColumn(), TaskProgressColumn(),
                TimeElapsedColumn(), console=Console(file=stream), transient=False)
            self.task = self.progress.add_task("starting", total=len(steps))

    @contextlib.contextmanager
    def shown(self) -> Iterator[StepReport]:
        """The live display while the block runs (nothing to show off a terminal)."""
        if self.progress is None:
            yield self
            return
        with self.progress:
            yield self

    def __call__(self, event: PipelineEvent) -> None:
        label = event.step.replace(FUSED_SEPARATOR, " → ")
        if event.kind == "step_finished":
            self.done_steps += len(event.step.split(FUSED_SEPARATOR))
        if event.kind == "pipeline_dead_lettered":
            self.failure = f"step {event.step} failed: {event.error}"
        line = {"step_started": f"{label}: attempt {event.attempt}",
                "step_finished": f"{label}: done in {event.seconds or 0:.1f} s",
                "step_failed": f"{label}: attempt {event.attempt} failed: {event.error}",
                "pipeline_done": "done",
                "pipeline_dead_lettered": f"gave up: {self.failure}"}[event.kind]
        if self.progress is not None:
            self.progress.update(self.task, completed=self.done_steps, description=line[:40])
        elif event.kind != "step_started":
            self.stream.write(f"[{self.done_steps}/{len(self.steps)}] {line}\n")
            self.stream.flush()
        if event.kind in FINAL_KINDS:
            self.finished.set()


@contextlib.contextmanager
def quiet_logs(*, verbose: bool) -> Iterator[None]:
    """Silence every log record (the worker's tracebacks of failed attempts included)
    while the block runs, unless ``verbose``: the progress says what happened."""
    if verbose:
        yield
        return
    logging.disable(logging.CRITICAL)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def process_file(settings: Settings, *, source: Path, output: Path, verbose: bool = False,
                 stream: TextIO = sys.stderr) -> Job:
    """Process the local file ``source`` in this process (stub broker, temporary storage)
    and write the clip to ``output``; returns the final job. Progress goes to ``stream``;
    logs are silenced unless ``verbose``.

    Raises:
        MediaError: a step failed on every attempt; the message names the step and error.
    """
    with tempfile.TemporaryDirectory(prefix="anb-process-") as tmp, quiet_logs(verbose=verbose):
        local = settings.replace(broker_url="stub://", storage_url=f"file://{tmp}",
                                 min_backoff_ms=100, max_backoff_ms=1000)
        report = StepReport(local.steps, stream=stream, live=stream.isatty() and not verbose)
        pipeline = MediaPipeline(local, sink=FanoutSink(load_sink(local), CallbackSink(report)))
        source_key = layout.original_key(video_id=LOCAL_VIDEO_ID,
                                         extension=source.suffix.lower()[1:] or "bin")
        pipeline.storage.put_file(source_key, source)
        worker = dramatiq.Worker(pipeline.broker, worker_threads=1, worker_timeout=WORKER_POLL_MS)
        with report.shown():
            pipeline.enqueue(video_id=LOCAL_VIDEO_ID, source_key=source_key)
            worker.start()
            try:
                report.finished.wait()
            finally:
                worker.stop(timeout=WORKER_STOP_MS)
        if report.failure:
            raise MediaError(report.failure)
        final = Job.start(video_id=LOCAL_VIDEO_ID, source_key=source_key)
        output.parent.mkdir(parents=True, exist_ok=True)
        with pipeline.storage.open_read(layout.clip_key(final.video_id)) as clip, open(output, "wb") as out:
            shutil.copyfileobj(clip, out)
        return final
