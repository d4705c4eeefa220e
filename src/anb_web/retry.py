"""Try again: ``POST /api/videos/{video_id}/retry`` resumes a failed video's pipeline.

Like ``anb dlq redrive`` for one video: the pipeline runs again from the step that failed,
with that step's job and fresh attempts (``MediaPipeline.resume``). Only the owner may,
only a failed video whose failure a retry can help (``failures.explain``), and at most
``ANB_MAX_RETRIES_PER_VIDEO`` times per video.
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from anb_pipeline import Job, event_order, run_of

from .answers import respond
from .auth import authenticate
from .errors import ApiError
from .failures import explain
from .models import Video, VideoStep
from .schemas import RetryResult
from .state import services
from .statuses import StepStatus, VideoStatus
from .validation import video_id


@dataclasses.dataclass(frozen=True)
class Claim:
    """A failed video moved to ``processing`` for a retry, and what to restore if the
    queue refuses it."""

    video_id: str
    source_key: str
    step: str
    message: str | None
    job: dict[str, Any] | None
    failed_order: int | None
    #: The new run: one more than the failed run's, so its events order after the old ones.
    run: int
    retries: int


def _claim(session: Session, *, video_id: str, user_id: str, limit: int) -> Claim:
    video = session.scalar(select(Video).where(Video.id == video_id))
    if video is None:
        raise ApiError(404, "No such video")
    if video.user_id != user_id:
        raise ApiError(403, "This video belongs to another user")
    if video.status != VideoStatus.FAILED:
        raise ApiError(409, "Only a video whose processing failed can be tried again")
    explanation = explain(step=video.error_step, message=video.error_message)
    if not explanation.retryable:
        raise ApiError(409, explanation.reason)
    if video.retries >= limit:
        raise ApiError(409, f"This video was already tried again {limit} times. "
                            "Please upload the file again, or another file.")
    # Read before the UPDATE, which synchronizes the loaded object.
    failed = Claim(video_id=video_id, source_key=video.source_key, step=video.error_step or "",
                   message=video.error_message,
                   job=json.loads(video.error_job) if video.error_job else None,
                   failed_order=video.status_order, run=run_of(video.status_order) + 1,
                   retries=video.retries + 1)
    # Guarded on the failure we read: a second click, or a new event, changes nothing.
    same_failure = (Video.status_order.is_(None) if video.status_order is None
                    else Video.status_order == video.status_order)
    claimed = session.execute(
        update(Video).where(Video.id == video_id, Video.status == VideoStatus.FAILED, same_failure,
                            Video.retries < limit)
        # Below every event of the new run and above every event of the failed one: a late
        # copy of the old dead letter cannot mark the video failed again.
        .values(status=VideoStatus.PROCESSING, status_at=time.time(), retries=Video.retries + 1,
                status_order=_run_start(failed.run),
                error_step=None, error_message=None, error_job=None)
    )
    if getattr(claimed, "rowcount", 0) != 1:
        raise ApiError(409, "This video is already being processed again")
    session.execute(update(VideoStep).where(VideoStep.video_id == video_id,
                                            VideoStep.status == StepStatus.FAILED)
                    .values(status=StepStatus.PENDING, error=None))
    return failed


def _run_start(run: int) -> int:
    return event_order(run=run, position=0, attempt=0, kind="step_started")


def _release(session: Session, *, claim: Claim) -> None:
    """The queue refused the retry: the video is failed again, and the try not counted."""
    session.execute(
        update(Video).where(Video.id == claim.video_id, Video.status == VideoStatus.PROCESSING,
                            Video.status_order == _run_start(claim.run))
        .values(status=VideoStatus.FAILED, status_order=claim.failed_order, retries=claim.retries - 1,
                error_step=claim.step, error_message=claim.message,
                error_job=json.dumps(claim.job) if claim.job else None)
    )


async def retry_video(request: Request) -> JSONResponse:
    app = services(request)
    user_id = await authenticate(request)
    target = video_id(request.path_params["video_id"])
    if target is None:
        raise ApiError(404, "No such video")
    limit = app.settings.max_retries_per_video
    claim = await app.database.run(_claim, video_id=target, user_id=user_id, limit=limit)
    if claim.job:
        job, step = Job.from_message(claim.job), claim.step
    else:  # failed before failures kept their job: start over
        job, step = Job.start(video_id=claim.video_id, source_key=claim.source_key), None
    try:
        await run_in_threadpool(app.pipeline.resume, job, step=step, run=claim.run)
    except BaseException:
        await app.database.run(_release, claim=claim)
        raise
    return respond(RetryResult(id=claim.video_id, processing_status=VideoStatus.PROCESSING,
                               retries_left=max(0, limit - claim.retries)), status_code=202)


routes = [Route("/api/videos/{video_id}/retry", retry_video, methods=["POST"])]
