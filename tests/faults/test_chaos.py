"""Chaos soak: SQS connections reset and cut in bursts, with one full outage, while videos
process on two worker processes; then it heals, and nothing is lost, doubled or stuck.

The proxy stands between the workers and SQS only (S3 and PostgreSQL stay up), through
boto3's service-specific endpoint variable, so every fault lands on the queue's calls:
long polls, heartbeats, hand-offs, acks and retries.
"""

from __future__ import annotations

import collections
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from anb_pipeline.dlq import DeadLetterQueue
from anb_pipeline.queue_stats import queue_depths
from conftest import make_video
from helpers import EventLog, WorkerProcess, build_pipeline, settings_env, sqs_settings, wait_for

from .support import TcpProxy, insert_owner_and_videos, postgres_database, statuses

pytestmark = [pytest.mark.media, pytest.mark.slow]

VIDEOS = 12
LATE_VIDEOS = 2
OUTAGE_S = 12
RESET_EVERY_S = 1.5
CUT_S = 1.0


class Chaos:
    """Faults on a schedule: resets every ``RESET_EVERY_S``, a ``CUT_S`` cut right after
    any step finishes (its ack and hand-off are in flight), and a full outage."""

    def __init__(self, proxy: TcpProxy, database_url: str) -> None:
        self.proxy = proxy
        self.engine = sa.create_engine(database_url)
        self.counts: collections.Counter[str] = collections.Counter()

    def finished_steps(self) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(sa.text(
                "SELECT count(*) FROM video_steps WHERE status = 'succeeded'")).scalar_one())

    def bursts(self, *, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        next_reset = time.monotonic()
        seen = self.finished_steps()
        while time.monotonic() < deadline:
            finished = self.finished_steps()
            if finished > seen:
                seen = finished
                self.proxy.stop()
                time.sleep(CUT_S)
                self.proxy.start()
                self.counts["cuts as a step finished"] += 1
            elif time.monotonic() >= next_reset:
                self.counts["connections reset"] += self.proxy.reset_connections()
                self.counts["reset bursts"] += 1
                next_reset += RESET_EVERY_S
            time.sleep(0.05)

    def outage(self) -> None:
        self.proxy.stop()
        time.sleep(OUTAGE_S)
        self.proxy.start()
        self.counts["outage seconds"] += OUTAGE_S


def describe_state(url: str, pipeline, workers: list[WorkerProcess], tmp_path: Path) -> str:
    """What a timed-out soak left: statuses, the errors of failed videos, queue depths, the
    dead letters, the workers' exit codes (None: running) and, from each worker's log, the
    lines that name a video left behind or warn."""
    current = statuses(url)
    stuck = sorted(video_id for video_id, status in current.items() if status != "processed")
    depths = [depth.asdict() for depth in queue_depths(pipeline.broker, pipeline.settings)]
    letters = [letter.asdict() for letter in DeadLetterQueue(pipeline.broker).letters()]
    with sa.create_engine(url).connect() as connection:
        errors = connection.execute(sa.text(
            "SELECT id, error_step, error_message FROM videos WHERE status = 'failed'")).all()

    def relevant(line: str) -> bool:
        return "WARNING" in line or "ERROR" in line or any(f"={video_id} " in line
                                                           or f"'{video_id}'" in line
                                                           for video_id in stuck)

    logs = "".join(
        f"\n--- {log.name} (lines naming {stuck} or warning, last 60) ---\n"
        + "\n".join([line for line in log.read_text(errors="replace").splitlines()
                      if relevant(line)][-60:])
        for log in sorted(tmp_path.glob("worker*.log")))
    exit_codes = [worker.process.poll() for worker in workers]
    return (f"every video processed: {collections.Counter(current.values())}; not processed: "
            f"{stuck}; failed: {[tuple(row) for row in errors]}; queues: {depths}; "
            f"dead letters: {letters}; worker exit codes: {exit_codes}{logs}")


def test_resets_cuts_and_an_outage_lose_nothing_and_wedge_nothing(
    aws_endpoint, namespace, tmp_path: Path
) -> None:
    proxy = TcpProxy(aws_endpoint).start()
    settings = sqs_settings(endpoint=aws_endpoint, namespace=namespace, visibility_timeout_s=30,
                            sqs_wait_time_s=2, min_backoff_ms=1000, max_backoff_ms=5000)
    pipeline = build_pipeline(settings, EventLog())  # the web tier's side: no faults
    source = make_video(tmp_path / "in.mp4", seconds=1.5)
    early = [f"c{i:02d}" for i in range(VIDEOS)]
    late = [f"late{i}" for i in range(LATE_VIDEOS)]
    keys = {video_id: f"originals/{video_id}.mp4" for video_id in early + late}
    for key in keys.values():
        pipeline.storage.put_file(key, source)

    with postgres_database() as (url, _name):
        insert_owner_and_videos(url, early + late, source_keys=keys)
        env = settings_env(settings.replace(aws_endpoint_url=None),
                           ANB_EVENT_SINK="anb_web.sink:make_sink", ANB_DATABASE_URL=url,
                           AWS_ENDPOINT_URL_SQS=proxy.url, AWS_ENDPOINT_URL_S3=aws_endpoint)
        workers = [WorkerProcess(env, tmp_path / f"worker{i}.log") for i in range(2)]
        chaos = Chaos(proxy, url)
        started = time.monotonic()
        try:
            for video_id in early:
                pipeline.enqueue(video_id=video_id, source_key=keys[video_id])
            chaos.bursts(seconds=15)
            chaos.outage()
            chaos.bursts(seconds=15)
            healed = time.monotonic()
            for video_id in late:
                pipeline.enqueue(video_id=video_id, source_key=keys[video_id])
            wait_for(lambda: set(statuses(url).values()) == {"processed"}, timeout_s=300,
                     what=lambda: describe_state(url, pipeline, workers, tmp_path), interval_s=1)
            done = time.monotonic()
            alive = [worker.process.poll() is None for worker in workers]
        finally:
            for worker in workers:
                worker.terminate()
                worker.close()
            chaos.engine.dispose()
            proxy.stop()

        assert alive == [True, True], "no worker died or wedged"
        assert pipeline.storage.list("processed/") == sorted(
            f"processed/{video_id}.{extension}" for video_id in early + late
            for extension in ("jpg", "mp4"))
        assert pipeline.storage.list("work/") == []
        assert DeadLetterQueue(pipeline.broker).letters() == []
        print(f"chaos soak: {dict(chaos.counts)}; {VIDEOS} videos + {LATE_VIDEOS} after healing "
              f"processed; {healed - started:.0f} s of faults, all done "
              f"{done - healed:.0f} s after healing")
