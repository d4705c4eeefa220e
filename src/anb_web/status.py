"""``anb status``: an operator's view of the queues, the workers, the dead letters and the
videos."""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from anb_pipeline import MediaPipeline, Settings
from anb_pipeline.ops import DeadLetterQueue, queue_depths

from .db import Database, make_engine
from .models import Video, VideoStep, WorkerRecord
from .settings import database_url_from_env
from .statuses import StepStatus

#: How many dead letters and slow steps the report shows.
REPORT_ROWS = 5
#: A worker whose last beat is older than this many seconds is shown as silent.
SILENT_AFTER_S = 60
#: "Recent" step records: the last this many that finished.
RECENT_STEP_RECORDS = 500


def _videos_by_status(session: Session) -> dict[str, int]:
    rows = session.execute(select(Video.status, func.count()).group_by(Video.status))
    return {status: int(count) for status, count in rows}


def _slowest_steps(session: Session) -> list[dict[str, Any]]:
    recent = (select(VideoStep.name, VideoStep.seconds)
              .where(VideoStep.seconds.is_not(None), VideoStep.status == StepStatus.SUCCEEDED)
              .order_by(VideoStep.finished_at.desc()).limit(RECENT_STEP_RECORDS).subquery())
    rows = session.execute(
        select(recent.c.name, func.count(), func.avg(recent.c.seconds), func.max(recent.c.seconds))
        .group_by(recent.c.name).order_by(func.max(recent.c.seconds).desc()).limit(REPORT_ROWS))
    return [{"step": name, "runs": int(runs), "avg_s": round(float(avg), 3),
             "max_s": round(float(peak), 3)} for name, runs, avg, peak in rows]


def _workers(session: Session) -> list[dict[str, Any]]:
    rows = session.scalars(select(WorkerRecord).order_by(WorkerRecord.last_beat_at.desc())
                           .limit(REPORT_ROWS * 4))
    return [{"worker_id": row.worker_id, "queue": row.queue, "last_receive_at": row.last_receive_at,
             "last_beat_at": row.last_beat_at, "free_slots": row.free_slots, "slots": row.slots}
            for row in rows]


def collect(pipeline: MediaPipeline, database: Database) -> dict[str, Any]:
    report: dict[str, Any] = {
        "broker": pipeline.settings.broker_url,
        "queues": [depth.asdict() for depth in queue_depths(pipeline.broker, pipeline.settings)],
        "workers": database.call(_workers),
        "videos": database.call(_videos_by_status),
        "slowest_steps": database.call(_slowest_steps),
    }
    if hasattr(pipeline.broker, "queue_url"):
        letters = sorted(DeadLetterQueue(pipeline.broker).letters(),
                         key=lambda letter: letter.dead_lettered_at_ms)
        report["dead_letters"] = [letter.asdict() for letter in letters[-REPORT_ROWS:]]
    return report


def render(report: dict[str, Any]) -> str:
    lines = [f"broker: {report['broker']}", "", "queue                          visible  in-flight  delayed"]
    for queue in report["queues"]:
        lines.append(f"{queue['name']:<30} {queue['visible']:>7}  {_n(queue['in_flight']):>9}  "
                     f"{_n(queue['delayed']):>7}")
    lines += ["", "workers (SQS; last beat every 15 s):"]
    lines += [_worker_line(w, now=time.time()) for w in report["workers"]] or ["  none seen"]
    if "dead_letters" in report:
        lines += ["", f"last dead letters ({len(report['dead_letters'])} shown):"]
        lines += [f"  video={d['video_id']} step={d['step']} attempts={d['attempts']}: {d['error']}"
                  for d in report["dead_letters"]] or ["  none"]
    lines += ["", "videos: " + (", ".join(f"{status} {count}" for status, count in
                                         sorted(report["videos"].items())) or "none")]
    lines += ["", "slowest steps (recent runs):"]
    lines += [f"  {s['step']:<12} max {s['max_s']:>8.2f} s  avg {s['avg_s']:>8.2f} s  runs {s['runs']}"
              for s in report["slowest_steps"]] or ["  no finished steps yet"]
    return "\n".join(lines)


def _worker_line(worker: dict[str, Any], *, now: float) -> str:
    received = ("never received" if worker["last_receive_at"] is None
                else f"last received {now - worker['last_receive_at']:.0f} s ago")
    silent = now - worker["last_beat_at"] > SILENT_AFTER_S
    state = f"SILENT for {now - worker['last_beat_at']:.0f} s" if silent else "alive"
    return (f"  {worker['worker_id']:<30} {state}, {received}, "
            f"{worker['free_slots']}/{worker['slots']} slots free")


def _n(value: int | None) -> str:
    return "-" if value is None else str(value)


def run_status(args: argparse.Namespace) -> int:
    pipeline = MediaPipeline(Settings.from_env())
    database = Database(make_engine(database_url_from_env()))
    try:
        report = collect(pipeline, database)
    finally:
        database.dispose()
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0
