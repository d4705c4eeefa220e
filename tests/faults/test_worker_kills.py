"""Workers SIGKILLed again and again while videos are in flight: nothing is lost.

Real worker processes (``anb worker``) on SQS and S3 (the moto server), writing status to a
real PostgreSQL through the DatabaseSink, as a deployment runs them.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from anb_pipeline.media.invariants import clip_problems
from conftest import make_video
from helpers import EventLog, WorkerProcess, build_pipeline, settings_env, sqs_settings, wait_for

from .support import insert_owner_and_videos, postgres_database, statuses

pytestmark = [pytest.mark.media, pytest.mark.slow]

VIDEOS = 20
KILLS = 6
SEED = 20240501


def test_twenty_videos_survive_repeated_worker_kills(
    aws_endpoint: str, namespace: str, tmp_path: Path
) -> None:
    rng = random.Random(SEED)
    # Killing this often is far harsher than production; the poison guard (tested in
    # tests/test_failures.py) would dead-letter a message killed twice, so it is relaxed here.
    settings = sqs_settings(endpoint=aws_endpoint, namespace=namespace, visibility_timeout_s=3,
                            sqs_wait_time_s=1, max_receives=20, ffmpeg_timeout_s=60,
                            bumper_s=0.5, video_preset="ultrafast")
    pipeline = build_pipeline(settings, EventLog())
    source = make_video(tmp_path / "in.mp4", width=160, height=90, seconds=1.0)
    video_ids = [f"kill-{n:02d}" for n in range(VIDEOS)]
    keys = {vid: f"originals/{vid}.mp4" for vid in video_ids}

    with postgres_database() as (database_url, _):
        insert_owner_and_videos(database_url, video_ids, source_keys=keys)
        for vid in video_ids:
            pipeline.storage.put_file(keys[vid], source)
            pipeline.enqueue(video_id=vid, source_key=keys[vid])
        env = settings_env(settings, ANB_EVENT_SINK="anb_web.sink:make_sink",
                         ANB_DATABASE_URL=database_url)

        kills_in_flight = 0
        for kill in range(KILLS):
            worker = WorkerProcess(env, tmp_path / f"worker{kill}.log", threads=2)
            try:
                # Kill once some work is under way, then at a random point of it.
                wait_for(lambda: "processing" in statuses(database_url).values()
                         or set(statuses(database_url).values()) == {"processed"},
                         timeout_s=60, what="a video to be in flight")
                time.sleep(rng.uniform(0.2, 3.0))
                kills_in_flight += "processing" in statuses(database_url).values()
            finally:
                worker.kill_host()
                worker.close()

        last = WorkerProcess(env, tmp_path / "worker-last.log", threads=2)
        try:
            wait_for(lambda: set(statuses(database_url).values()) == {"processed"},
                     timeout_s=150, what="every video to be processed", interval_s=0.5)
        finally:
            last.kill_host()
            last.close()
        final = statuses(database_url)

    lost = [vid for vid in video_ids if final.get(vid) != "processed"]
    print(f"\nworker kills: {KILLS} ({kills_in_flight} with work in flight); videos: {VIDEOS}; "
          f"processed: {VIDEOS - len(lost)}; lost: {len(lost)}")
    assert lost == []
    assert kills_in_flight >= 5
    expected = sorted(f"processed/{vid}.{ext}" for vid in video_ids for ext in ("jpg", "mp4"))
    assert pipeline.storage.list("processed/") == expected, "exactly one output and poster each"
    assert pipeline.storage.list("work/") == [], "intermediates were left behind"
    broken = {}
    for vid in video_ids:
        clip = tmp_path / f"{vid}.mp4"
        pipeline.storage.get_file(f"processed/{vid}.mp4", clip)
        if problems := clip_problems(clip, settings=settings, source_duration_s=1.0):
            broken[vid] = problems
    assert broken == {}
