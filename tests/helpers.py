"""Helpers the pipeline tests share: building pipelines on each broker and running them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import av
import dramatiq
from PIL import Image, ImageChops, ImageStat

from anb_pipeline import MediaPipeline, PipelineEvent, Settings
from anb_pipeline.events import CallbackSink
from anb_pipeline.media.invariants import clip_problems
from anb_pipeline.settings import variable_name
from anb_pipeline.storage import S3Storage

FINAL_KINDS = ("pipeline_done", "pipeline_dead_lettered")
T = TypeVar("T")


class EventLog:
    """Collects events and lets a test wait for one."""

    def __init__(self) -> None:
        self.events: list[PipelineEvent] = []
        self.changed = threading.Condition()

    def __call__(self, event: PipelineEvent) -> None:
        with self.changed:
            self.events.append(event)
            self.changed.notify_all()

    def of(self, video_id: str, kind: str | None = None) -> list[PipelineEvent]:
        return [e for e in self.events if e.video_id == video_id and kind in (None, e.kind)]

    def wait_final(self, video_id: str, *, timeout_s: float) -> PipelineEvent:
        deadline = time.monotonic() + timeout_s
        with self.changed:
            while True:
                final = [e for e in self.of(video_id) if e.kind in FINAL_KINDS]
                if final:
                    return final[0]
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"video {video_id} did not finish: {self.of(video_id)}")
                self.changed.wait(remaining)


def quick_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"min_backoff_ms": 50, "max_backoff_ms": 200,
                              "ffmpeg_timeout_s": 120}
    values.update(overrides)
    return Settings(**values)


def sqs_settings(*, endpoint: str, namespace: str, **overrides: Any) -> Settings:
    return quick_settings(broker_url="sqs://", aws_endpoint_url=endpoint, queue_namespace=namespace,
                         storage_url=f"s3://{namespace}-media/anb", **overrides)


def build_pipeline(settings: Settings, log: EventLog) -> MediaPipeline:
    pipeline = MediaPipeline(settings, sink=CallbackSink(log))
    if isinstance(pipeline.storage, S3Storage):
        pipeline.storage.ensure_bucket()
    if hasattr(pipeline.broker, "ensure_queues"):
        pipeline.broker.ensure_queues()
    return pipeline


def start_video(pipeline: MediaPipeline, source: Path, video_id: str) -> None:
    key = f"originals/{video_id}{source.suffix}"
    pipeline.storage.put_file(key, source)
    pipeline.enqueue(video_id=video_id, source_key=key)


def run_until_final(pipeline: MediaPipeline, log: EventLog, video_ids: list[str], *,
                    timeout_s: float = 120, threads: int = 1) -> dict[str, PipelineEvent]:
    worker = dramatiq.Worker(pipeline.broker, worker_threads=threads, worker_timeout=200)
    worker.start()
    try:
        return {video_id: log.wait_final(video_id, timeout_s=timeout_s) for video_id in video_ids}
    finally:
        worker.stop()


def fetch_output(pipeline: MediaPipeline, video_id: str, target: Path) -> Path:
    pipeline.storage.get_file(f"processed/{video_id}.mp4", target)
    return target


def assert_clip_ok(pipeline: MediaPipeline, video_id: str, tmp_path: Path, *,
                   source_duration_s: float) -> None:
    clip = fetch_output(pipeline, video_id, tmp_path / f"{video_id}-out.mp4")
    assert clip_problems(clip, settings=pipeline.settings, source_duration_s=source_duration_s) == []
    assert pipeline.storage.exists(f"processed/{video_id}.jpg"), "the poster is missing"
    poster = tmp_path / f"{video_id}.jpg"
    pipeline.storage.get_file(f"processed/{video_id}.jpg", poster)
    assert_poster_shows_content(poster, clip, bumper_s=pipeline.settings.bumper_s)
    assert pipeline.storage.list(f"work/{video_id}/") == [], "intermediates were left behind"


def mean_difference(first: Image.Image, second: Image.Image) -> float:
    """Mean absolute difference of two RGB images, 0-255."""
    return sum(ImageStat.Stat(ImageChops.difference(first, second)).mean) / 3


def assert_poster_shows_content(poster: Path, clip: Path, *, bumper_s: float) -> None:
    """A full-frame JPEG of one of the clip's first content frames, not of a card."""
    with Image.open(poster) as image:
        assert (image.format, image.size) == ("JPEG", (1280, 720))
        still = image.convert("RGB")
    with av.open(str(clip)) as container:
        stream = container.streams.video[0]
        content_end_s = float(stream.duration * stream.time_base) - bumper_s
        frames = []
        for frame in container.decode(stream):
            if frame.time is None or frame.time > bumper_s + 1.5:
                break
            frames.append((frame.time, frame.to_image().convert("RGB")))
    card = frames[0][1]
    content = [image for time_s, image in frames if bumper_s - 1e-3 <= time_s < content_end_s]
    to_content = min(mean_difference(still, image) for image in content)
    to_card = mean_difference(still, card)
    assert to_content < 3 and to_content < to_card, (
        f"the poster is not a content frame: {to_content:.1f} from the nearest one, "
        f"{to_card:.1f} from the intro card")


def settings_env(settings: Settings, **extra: str) -> dict[str, str]:
    """The environment that gives a subprocess exactly these settings."""
    env: dict[str, str] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if value is None:
            continue
        if isinstance(value, tuple):
            value = ",".join(value)
        elif isinstance(value, bool):
            value = "true" if value else "false"
        env[variable_name(name)] = str(value)
    return {**os.environ, **env, **extra}


class WorkerProcess:
    """``anb worker`` in its own process group, as a host runs it."""

    def __init__(self, env: dict[str, str], log_path: Path, *, threads: int = 1) -> None:
        self.log = open(log_path, "ab")  # noqa: SIM115 - closed by close()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "anb_pipeline.cli", "worker", "--threads", str(threads)],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def kill_host(self) -> None:
        """SIGKILL the whole group, as an instance termination would."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def terminate(self, *, timeout_s: float = 60) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout_s)

    def close(self) -> None:
        if self.process.poll() is None:
            self.kill_host()
        self.log.close()


def wait_for(predicate: Callable[[], T], *, timeout_s: float, what: str | Callable[[], str],
             interval_s: float = 0.2) -> T:
    """Poll ``predicate`` until it returns a true value; ``what`` (a text, or a callable
    evaluated at the timeout so it describes the final state) names what was awaited."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval_s)
    described = what() if callable(what) else what
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {described}")


def clean_env() -> dict[str, str]:
    """The environment of a newcomer: no ANB_* or AWS_* settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("ANB_", "AWS_"))}


def stack_healthy(url: str) -> bool:
    """True once a stack at ``url`` answers its deep health check."""
    import httpx

    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
