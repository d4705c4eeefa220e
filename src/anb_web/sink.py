"""Applies pipeline lifecycle events to the database (workers load it by ANB_EVENT_SINK).

Events arrive at least once and possibly out of order. Every change is one guarded UPDATE
whose WHERE clause holds the rule, so applying an event twice, or late, changes nothing:

- a ``processed`` video never moves back;
- events are ordered by ``event.order`` (run, step position, attempt, phase), which the
  worker computes from the message: never by comparing the clocks of different workers;
- a step record only takes an event newer than the last one it applied;
- ``failed`` moves back to ``processing`` only for a start newer than the failure (a
  redriven message), never for a late duplicate of an older start;
- ``pipeline_done`` marks every step of the video succeeded, and its steps never move back
  to running or failed, so a lost ``step_finished`` leaves nothing looking stuck.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Callable

from sqlalchemy import and_, case, delete, exists, func, insert, literal, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from anb_pipeline import (
    NOTHING_STARTED,
    PipelineEvent,
    Settings,
    Storage,
    VideoState,
    WorkerBeat,
    layout,
    open_storage,
)

from .db import Database, make_engine
from .models import Video, VideoStep, WorkerRecord
from .settings import database_url_from_env
from .statuses import StepStatus, VideoStatus

logger = logging.getLogger(__name__)

#: Beats older than this are swept (a worker that is gone for a day is forgotten), seconds.
WORKER_RECORD_TTL_S = 86400
#: A worker applies one event at a time per thread: a small pool is plenty.
SINK_POOL_SIZE = 2


def _when(event: PipelineEvent) -> dt.datetime:
    return dt.datetime.fromtimestamp(event.at, tz=dt.timezone.utc)


def _max_attempts(attempt: int) -> object:
    return case((VideoStep.attempts > attempt, VideoStep.attempts), else_=attempt)


class DatabaseSink:
    def __init__(
        self, database: Database, *, storage: Storage | None = None, steps: tuple[str, ...] = ()
    ) -> None:
        self.database = database
        #: Used to remove what a worker wrote for a video deleted while it was processing.
        self.storage = storage
        self.steps = steps

    def emit(self, event: PipelineEvent) -> None:
        if not event.video_id:
            return
        apply = self._handlers()[event.kind]
        try:
            found = self.database.call(apply, event=event)
        except IntegrityError:
            # Two deliveries inserted the same step record at once; the rerun finds it.
            found = self.database.call(apply, event=event)
        if not found:
            self._forget_deleted_video(event.video_id)

    def video_state(self, video_id: str) -> VideoState:
        """GONE when no row has this id, DONE when it is processed, else ACTIVE (one PK read)."""
        return self.video_progress(video_id)[0]

    def video_progress(self, video_id: str) -> tuple[VideoState, int | None]:
        """The state as :meth:`video_state` tells it and the video's ``status_order`` (the
        event order of its latest status change; ``NOTHING_STARTED`` for a pending video
        that never started), in one PK read."""
        row = self.database.call(lambda session: session.execute(
            select(Video.status, Video.status_order).where(Video.id == video_id)).first())
        if row is None:
            return VideoState.GONE, None
        state = VideoState.DONE if row.status == VideoStatus.PROCESSED else VideoState.ACTIVE
        if row.status_order is None and row.status == VideoStatus.PENDING:
            return state, NOTHING_STARTED
        return state, row.status_order

    def record_worker(self, beat: WorkerBeat) -> None:
        """Keep the worker's last beat (one row per ``host:pid``); sweep day-old rows."""
        values = {"queue": beat.queue, "last_receive_at": beat.last_receive_at,
                  "last_beat_at": beat.at, "free_slots": beat.free_slots, "slots": beat.slots}

        def record(session: Session) -> None:
            updated = session.execute(update(WorkerRecord)
                                      .where(WorkerRecord.worker_id == beat.worker_id)
                                      .values(**values))
            if not updated.rowcount:  # type: ignore[attr-defined]
                session.execute(insert(WorkerRecord).values(worker_id=beat.worker_id, **values))
            session.execute(delete(WorkerRecord).where(
                WorkerRecord.last_beat_at < beat.at - WORKER_RECORD_TTL_S))

        self.database.call(record)

    def _handlers(self) -> dict[str, Callable[..., bool]]:
        return {
            "step_started": self._step_started, "step_finished": self._step_finished,
            "step_failed": self._step_failed, "pipeline_done": self._pipeline_done,
            "pipeline_dead_lettered": self._dead_lettered,
        }

    def _ensure_step(self, session: Session, event: PipelineEvent) -> bool:
        """Create the step record if missing; False when the video itself is gone."""
        position = self.steps.index(event.step) if event.step in self.steps else len(self.steps)
        video_exists = exists().where(Video.id == event.video_id)
        step_exists = exists().where(VideoStep.video_id == event.video_id,
                                     VideoStep.name == event.step)
        source = select(literal(event.video_id), literal(event.step), literal(position),
                        literal(StepStatus.PENDING.value), literal(0)).where(video_exists, ~step_exists)
        session.execute(insert(VideoStep).from_select(
            ["video_id", "name", "position", "status", "attempts"], source))
        return bool(session.scalar(select(video_exists)))

    def _update_step(self, session: Session, event: PipelineEvent, *, newer_only: bool,
                     **values: object) -> None:
        last = VideoStep.last_event_order
        fresh = last < event.order if newer_only else last <= event.order
        conditions = [VideoStep.video_id == event.video_id, VideoStep.name == event.step,
                      or_(last.is_(None), fresh)]
        if values.get("status") != StepStatus.SUCCEEDED:
            # Every step of a published video succeeded: a late start or failure of an
            # earlier attempt must not make one look running or failed again.
            conditions.append(~exists().where(Video.id == event.video_id,
                                              Video.status == VideoStatus.PROCESSED))
        session.execute(
            update(VideoStep).where(*conditions)
            .values(attempts=_max_attempts(event.attempt), last_event_at=event.at,
                    last_event_order=event.order, **values)
        )

    def _step_started(self, session: Session, *, event: PipelineEvent) -> bool:
        if not self._ensure_step(session, event):
            return False
        self._update_step(session, event, newer_only=True, status=StepStatus.RUNNING,
                          started_at=_when(event), finished_at=None, seconds=None, error=None)
        session.execute(
            update(Video).where(
                Video.id == event.video_id,
                or_(Video.status == VideoStatus.PENDING,
                    and_(Video.status.in_((VideoStatus.PROCESSING, VideoStatus.FAILED)),
                         or_(Video.status_order.is_(None), Video.status_order < event.order))))
            .values(status=VideoStatus.PROCESSING, status_at=event.at, status_order=event.order,
                    error_step=None, error_message=None, error_job=None)
        )
        return True

    def _step_ended(self, session: Session, event: PipelineEvent, *, status: str) -> bool:
        if not self._ensure_step(session, event):
            return False
        started = event.at - (event.seconds or 0.0)
        self._update_step(
            session, event, newer_only=False, status=status, finished_at=_when(event),
            seconds=event.seconds, error=event.error,
            started_at=func.coalesce(VideoStep.started_at,
                                     dt.datetime.fromtimestamp(started, tz=dt.timezone.utc)),
        )
        return True

    def _step_finished(self, session: Session, *, event: PipelineEvent) -> bool:
        return self._step_ended(session, event, status=StepStatus.SUCCEEDED)

    def _step_failed(self, session: Session, *, event: PipelineEvent) -> bool:
        return self._step_ended(session, event, status=StepStatus.FAILED)

    def _pipeline_done(self, session: Session, *, event: PipelineEvent) -> bool:
        output = event.output or {}
        session.execute(
            update(Video).where(Video.id == event.video_id, Video.status != VideoStatus.PROCESSED)
            .values(status=VideoStatus.PROCESSED, processed_at=_when(event), status_at=event.at,
                    status_order=event.order,
                    output_key=output.get("output_key") or layout.clip_key(event.video_id),
                    poster_key=output.get("poster_key") or layout.poster_key(event.video_id),
                    error_step=None, error_message=None, error_job=None)
        )
        # The pipeline ran every step: a step whose step_finished was lost (the sink was
        # down between two steps) must not stay "running". Times stay unknown until a late
        # step_finished fills them in.
        session.execute(
            update(VideoStep).where(VideoStep.video_id == event.video_id,
                                    VideoStep.status != StepStatus.SUCCEEDED)
            .values(status=StepStatus.SUCCEEDED, error=None)
        )
        return bool(session.scalar(select(exists().where(Video.id == event.video_id))))

    def _dead_lettered(self, session: Session, *, event: PipelineEvent) -> bool:
        if not self._ensure_step(session, event):
            return False
        self._update_step(session, event, newer_only=False, status=StepStatus.FAILED, error=event.error)
        session.execute(
            update(Video).where(
                Video.id == event.video_id,
                or_(Video.status == VideoStatus.PENDING,
                    and_(Video.status.in_((VideoStatus.PROCESSING, VideoStatus.FAILED)),
                         or_(Video.status_order.is_(None), Video.status_order <= event.order))))
            .values(status=VideoStatus.FAILED, status_at=event.at, status_order=event.order,
                    error_step=event.step, error_message=event.error or "failed",
                    error_job=json.dumps(event.job) if event.job else None)
        )
        return True

    def _forget_deleted_video(self, video_id: str) -> None:
        """The owner deleted the video mid-processing: remove what the worker wrote since."""
        if self.storage is None:
            return
        for key in (layout.clip_key(video_id), layout.poster_key(video_id)):
            self.storage.delete(key)
        self.storage.delete_prefix(layout.work_prefix(video_id))
        self.storage.delete_prefix(layout.originals_prefix(video_id))
        logger.info("Video %s was deleted during processing; removed its objects.", video_id)


def make_sink(settings: Settings) -> DatabaseSink:
    """The ``ANB_EVENT_SINK=anb_web.sink:make_sink`` factory; needs only ANB_DATABASE_URL."""
    engine = make_engine(database_url_from_env(), pool_size=SINK_POOL_SIZE)
    return DatabaseSink(Database(engine), storage=open_storage(settings), steps=settings.steps)
