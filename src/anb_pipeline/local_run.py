"""``anb process``: the configured pipeline on one local file, in this process.

It runs the real actors and middleware on Dramatiq's stub broker with a temporary
directory as storage, and draws a progress bar from the lifecycle events.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path
from typing import TextIO

import dramatiq

from . import layout
from .errors import MediaError
from .events import CallbackSink, FanoutSink, PipelineEvent, load_sink
from .job import Job
from .pipeline import MediaPipeline
from .settings import Settings

LOCAL_VIDEO_ID = "local"
BAR_WIDTH = 30


class ProgressBar:
    """A text progress bar of the configured steps, fed by lifecycle events; keeps the
    failure (``failure``) when the pipeline is dead-lettered.
    """
    def __init__(self, steps: tuple[str, ...], stream: TextIO) -> None:
        self.steps = steps
        self.stream = stream
        self.failure: str | None = None

    def __call__(self, event: PipelineEvent) -> None:
        done = self.steps.index(event.step) + (event.kind != "step_started")
        filled = BAR_WIDTH * done // len(self.steps)
        took = f" {event.seconds:.1f}s" if event.seconds is not None else ""
        self.stream.write(f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] "
                          f"{done}/{len(self.steps)} {event.step:<12}{event.kind:<24}{took}")
        if event.kind in ("pipeline_done", "pipeline_dead_lettered"):
            self.stream.write("\n")
        if event.kind == "pipeline_dead_lettered":
            self.failure = f"step {event.step} failed: {event.error}"
        self.stream.flush()


def process_file(settings: Settings, *, source: Path, output: Path,
                 stream: TextIO = sys.stderr) -> Job:
    """Process the local file ``source`` in this process (stub broker, temporary storage)
    and write the clip to ``output``; returns the final job.

    Raises: ``MediaError`` with the failed step and its error when the pipeline fails.
    """
    with tempfile.TemporaryDirectory(prefix="anb-process-") as tmp:
        local = settings.replace(broker_url="stub://", storage_url=f"file://{tmp}",
                                 min_backoff_ms=100, max_backoff_ms=1000)
        progress = ProgressBar(local.steps, stream)
        pipeline = MediaPipeline(local, sink=FanoutSink(load_sink(local), CallbackSink(progress)))
        source_key = layout.original_key(video_id=LOCAL_VIDEO_ID,
                                         extension=source.suffix.lower()[1:] or "bin")
        pipeline.storage.put_file(source_key, source)
        pipeline.enqueue(video_id=LOCAL_VIDEO_ID, source_key=source_key)
        worker = dramatiq.Worker(pipeline.broker, worker_threads=1)
        worker.start()
        try:
            pipeline.broker.join(local.queue_name)
            worker.join()
        finally:
            worker.stop()
        if progress.failure:
            raise MediaError(progress.failure)
        final = Job.start(video_id=LOCAL_VIDEO_ID, source_key=source_key)
        output.parent.mkdir(parents=True, exist_ok=True)
        with pipeline.storage.open_read(layout.clip_key(final.video_id)) as clip, open(output, "wb") as out:
            shutil.copyfileobj(clip, out)
        return final
