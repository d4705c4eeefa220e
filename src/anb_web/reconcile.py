"""Re-enqueues videos that are ``pending`` or ``processing`` with no message in flight.

That happens when a queue loses its messages (the local emulator restarted) or when an
upload's enqueue was interrupted. Re-enqueueing a video that *is* still in flight is safe,
only wasteful: every step writes deterministic keys and status updates are idempotent. So
on a real broker only videos with no progress for ``stale_after_s`` are touched.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import time

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from anb_pipeline import BrokerUnavailable, MediaPipeline, Settings, run_of

from .db import Database, make_engine
from .models import Video
from .settings import database_url_from_env
from .statuses import VideoStatus

logger = logging.getLogger(__name__)

#: On a real broker, a video this long without any event is taken for stranded. It is
#: longer than the longest legitimate silence: a retry backoff (at most 15 minutes).
DEFAULT_STALE_AFTER_S = 3600
MISSING_ORIGINAL = "the original upload is missing from storage; upload the video again"


def _stranded(session: Session, *, cutoff_epoch_s: float) -> list[tuple[str, str, int]]:
    """Unfinished videos whose last event (or, with none yet, upload) predates the cutoff,
    with the run their pipeline restarts as."""
    cutoff = dt.datetime.fromtimestamp(cutoff_epoch_s, dt.timezone.utc)
    query = select(Video.id, Video.source_key, Video.status_order).where(
        Video.status.in_((VideoStatus.PENDING, VideoStatus.PROCESSING)),
        or_(Video.status_at < cutoff_epoch_s,
            and_(Video.status_at.is_(None), Video.created_at < cutoff)),
    ).order_by(Video.seq)
    return [(row.id, row.source_key, 0 if row.status_order is None else run_of(row.status_order) + 1)
            for row in session.execute(query)]


def _mark_lost(session: Session, *, video_id: str) -> None:
    session.execute(update(Video).where(Video.id == video_id, Video.status != VideoStatus.PROCESSED)
                    .values(status=VideoStatus.FAILED, error_step="upload", error_message=MISSING_ORIGINAL))


def reconcile(pipeline: MediaPipeline, *, stale_after_s: float | None,
              database: Database | None = None) -> int:
    """Re-enqueue stranded videos; returns how many were re-enqueued."""
    database = database or Database(make_engine(database_url_from_env()))
    cutoff = time.time() - (DEFAULT_STALE_AFTER_S if stale_after_s is None else stale_after_s)
    # The query runs and its connection goes back before any storage or queue call.
    stranded = database.call(_stranded, cutoff_epoch_s=cutoff)
    requeued = 0
    for video_id, source_key, run in stranded:
        if not pipeline.storage.exists(source_key):
            database.call(_mark_lost, video_id=video_id)
            logger.error("Video %s cannot be reprocessed: %s", video_id, MISSING_ORIGINAL,
                         extra={"video_id": video_id})
            continue
        # A new run: its events order after whatever the stranded one left behind.
        pipeline.enqueue(video_id=video_id, source_key=source_key, run=run)
        requeued += 1
    return requeued


def run_reconcile(args: argparse.Namespace) -> int:
    pipeline = MediaPipeline(Settings.from_env())
    try:
        count = reconcile(pipeline, stale_after_s=args.stale_after_s)
    except BrokerUnavailable as exc:
        print(f"anb: error: {exc}; nothing was re-enqueued past that point")
        return 1
    print(f"re-enqueued {count} stranded video(s)")
    return 0
