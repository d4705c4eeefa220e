"""The database sink: idempotent, order-tolerant, and never un-publishes a video."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from anb_pipeline import NOTHING_STARTED, MediaPipeline, PipelineEvent, VideoState
from anb_pipeline.events import attempt_started, event_order, run_of, superseded
from anb_pipeline.settings import DEFAULT_STEPS
from anb_web.sink import DatabaseSink, make_sink

from .conftest import bearer, publish, signup, upload


def event(kind: str, video_id: str, step: str, at: float, **fields: object) -> PipelineEvent:
    """An event as a worker sends it: ``at`` from its clock, ``order`` from the message."""
    attempt, run = int(fields.pop("attempt", 1)), int(fields.pop("run", 0))
    position = DEFAULT_STEPS.index(step) if step in DEFAULT_STEPS else len(DEFAULT_STEPS)
    order = event_order(run=run, position=position, attempt=attempt, kind=kind)  # type: ignore[arg-type]
    return PipelineEvent(kind=kind, video_id=video_id, step=step,  # type: ignore[arg-type]
                         attempt=attempt, message_id="m", at=at, order=order,
                         **fields)  # type: ignore[arg-type]


def a_full_run(video_id: str) -> list[PipelineEvent]:
    events: list[PipelineEvent] = []
    clock = 1000.0
    for step in ("trim", "resize", "watermark", "bumpers", "upload"):
        events.append(event("step_started", video_id, step, clock))
        events.append(event("step_finished", video_id, step, clock + 1, seconds=1.0))
        clock += 2
    events.append(event("pipeline_done", video_id, "upload", clock, output={
        "output_key": f"processed/{video_id}.mp4", "poster_key": f"processed/{video_id}.jpg"}))
    return events


@pytest.fixture
def owner_and_video(client: TestClient, small_video: Path) -> tuple[str, str]:
    token = signup(client, "sinkowner")
    return token, str(upload(client, token, small_video).json()["id"])


def detail(client: TestClient, token: str, video_id: str) -> dict[str, object]:
    return client.get(f"/api/videos/{video_id}", headers=bearer(token)).json()  # type: ignore


def without_signatures(video: dict[str, object]) -> dict[str, object]:
    """The video minus its signed URLs' query: expiry moves with the clock's window."""
    return {name: value.split("?")[0] if name.endswith("_url") and isinstance(value, str)
            else value for name, value in video.items()}


def test_shuffled_and_duplicated_events_end_in_the_same_state(
    client: TestClient, sink: DatabaseSink, owner_and_video: tuple[str, str]
) -> None:
    token, video_id = owner_and_video
    events = a_full_run(video_id)
    for event_ in events:
        sink.emit(event_)
    in_order = detail(client, token, video_id)
    shuffled = events * 2
    random.Random(7).shuffle(shuffled)
    for event_ in shuffled:
        sink.emit(event_)
    assert without_signatures(detail(client, token, video_id)) == without_signatures(in_order)
    assert in_order["processing_status"] == "processed"
    assert {step["status"] for step in in_order["steps"]} == {"succeeded"}  # type: ignore


def test_a_processed_video_never_moves_back(
    client: TestClient, sink: DatabaseSink, owner_and_video: tuple[str, str]
) -> None:
    token, video_id = owner_and_video
    sink.emit(event("pipeline_done", video_id, "upload", 50.0))
    sink.emit(event("step_started", video_id, "trim", 99.0))
    sink.emit(event("pipeline_dead_lettered", video_id, "trim", 100.0, error="late"))
    state = detail(client, token, video_id)
    assert state["processing_status"] == "processed"
    assert state["steps"][0]["status"] == "succeeded"  # type: ignore[index]


def test_a_lost_step_finished_leaves_no_step_running_once_the_video_is_done(
    client: TestClient, sink: DatabaseSink, owner_and_video: tuple[str, str]
) -> None:
    token, video_id = owner_and_video
    for event_ in a_full_run(video_id):
        if (event_.kind, event_.step) != ("step_finished", "resize"):  # the sink was down
            sink.emit(event_)
    sink.emit(event("step_failed", video_id, "watermark", 2000.0, error="a late retry"))
    sink.emit(event("step_started", video_id, "trim", 1500.0, attempt=2))  # a late redelivery
    steps = {step["name"]: step for step in detail(client, token, video_id)["steps"]}  # type: ignore
    assert {name: step["status"] for name, step in steps.items()} == dict.fromkeys(
        ("trim", "resize", "watermark", "bumpers", "upload"), "succeeded")
    assert steps["resize"]["seconds"] is None  # unknown until a late step_finished comes
    sink.emit(event("step_finished", video_id, "resize", 1003.0, seconds=1.0))
    assert detail(client, token, video_id)["steps"][1]["seconds"] == 1.0  # type: ignore


def test_a_late_start_does_not_revive_a_failure_but_a_redrive_does(
    client: TestClient, sink: DatabaseSink, owner_and_video: tuple[str, str]
) -> None:
    token, video_id = owner_and_video
    sink.emit(event("step_started", video_id, "trim", 10.0, attempt=3))
    sink.emit(event("pipeline_dead_lettered", video_id, "trim", 12.0, attempt=3,
                    error="RuntimeError: boom"))
    sink.emit(event("step_started", video_id, "trim", 10.0, attempt=3))  # a duplicate
    assert detail(client, token, video_id)["processing_status"] == "failed"
    sink.emit(event("step_started", video_id, "trim", 500.0, attempt=1, run=1))  # redriven
    state = detail(client, token, video_id)
    assert state["processing_status"] == "processing"
    assert "error" not in state
    assert state["steps"][0]["attempts"] == 3  # type: ignore[index]


def test_events_are_ordered_by_their_place_in_the_pipeline_not_by_worker_clocks(
    client: TestClient, sink: DatabaseSink, owner_and_video: tuple[str, str]
) -> None:
    token, video_id = owner_and_video
    # The first attempt ran on a worker whose clock is 300 s ahead; the rest on true time.
    sink.emit(event("step_started", video_id, "trim", 1300.0, attempt=1))
    sink.emit(event("step_failed", video_id, "trim", 1301.0, attempt=1, error="E: 1"))
    sink.emit(event("step_started", video_id, "trim", 1016.0, attempt=2))
    sink.emit(event("step_failed", video_id, "trim", 1017.0, attempt=2, error="E: 2"))
    sink.emit(event("step_started", video_id, "trim", 1047.0, attempt=3))
    sink.emit(event("pipeline_dead_lettered", video_id, "trim", 1048.0, attempt=3,
                    error="E: 3"))
    state = detail(client, token, video_id)
    assert state["processing_status"] == "failed"
    assert state["steps"][0]["status"] == "failed"  # type: ignore[index]
    sink.emit(event("step_started", video_id, "trim", 1100.0, attempt=1, run=1))  # redriven
    sink.emit(event("step_finished", video_id, "trim", 1101.0, attempt=1, run=1, seconds=1.0))
    assert detail(client, token, video_id)["processing_status"] == "processing"
    assert detail(client, token, video_id)["steps"][0]["status"] == "succeeded"  # type: ignore


def test_a_restarted_pipeline_is_a_new_run_that_orders_after_the_stranded_one(
    client: TestClient, sink: DatabaseSink, owner_and_video: tuple[str, str]
) -> None:
    token, video_id = owner_and_video
    sink.emit(event("step_started", video_id, "trim", 10.0))
    sink.emit(event("step_finished", video_id, "trim", 11.0, seconds=1.0))
    stranded = event("step_started", video_id, "resize", 12.0, attempt=2)
    sink.emit(stranded)
    restart = run_of(stranded.order) + 1  # what reconcile and redrive enqueue with
    assert restart == 1
    sink.emit(event("step_started", video_id, "trim", 13.0, run=restart))
    steps = detail(client, token, video_id)["steps"]
    assert steps[0]["status"] == "running", "the new run's start is newer"  # type: ignore[index]


def test_the_sink_tells_a_videos_state(
    client: TestClient, sink: DatabaseSink, owner_and_video: tuple[str, str]
) -> None:
    token, video_id = owner_and_video
    assert sink.video_state(video_id) is VideoState.ACTIVE
    sink.emit(event("pipeline_done", video_id, "upload", 50.0))
    assert sink.video_state(video_id) is VideoState.DONE
    assert client.delete(f"/api/videos/{video_id}", headers=bearer(token)).status_code == 204
    assert sink.video_state(video_id) is VideoState.GONE


def test_the_sink_tells_how_far_a_video_got_so_older_deliveries_are_superseded(
    sink: DatabaseSink, owner_and_video: tuple[str, str]
) -> None:
    _token, video_id = owner_and_video
    assert sink.video_progress(video_id) == (VideoState.ACTIVE, NOTHING_STARTED), "nothing ran"
    trim, resize_at = DEFAULT_STEPS.index("trim"), DEFAULT_STEPS.index("resize")
    assert not attempt_started(NOTHING_STARTED, run=0, position=trim, attempt=1)
    assert not superseded(NOTHING_STARTED, run=0, position=trim, attempt=1)
    resize = event("step_started", video_id, "resize", 10.0, attempt=2)
    sink.emit(event("step_started", video_id, "trim", 9.0))
    sink.emit(resize)
    assert sink.video_progress(video_id) == (VideoState.ACTIVE, resize.order)
    assert superseded(resize.order, run=0, position=trim, attempt=1), "trim handed off"
    assert superseded(resize.order, run=0, position=resize_at, attempt=1), "a later attempt"
    assert not superseded(resize.order, run=0, position=resize_at, attempt=2), "its own"
    assert not superseded(resize.order, run=1, position=trim, attempt=1), "a restarted run"
    assert not superseded(None, run=0, position=trim, attempt=1), "the sink cannot tell"
    assert attempt_started(resize.order, run=0, position=resize_at, attempt=2), "its own start"
    assert not attempt_started(resize.order, run=0, position=resize_at, attempt=3)
    assert not attempt_started(resize.order, run=1, position=trim, attempt=1)
    assert attempt_started(None, run=0, position=trim, attempt=1), "the sink cannot tell"


def test_an_event_for_an_unknown_step_gets_its_own_record(
    client: TestClient, sink: DatabaseSink, owner_and_video: tuple[str, str]
) -> None:
    token, video_id = owner_and_video
    sink.emit(event("step_started", video_id, "denoise", 10.0))
    names = [step["name"] for step in detail(client, token, video_id)["steps"]]  # type: ignore
    assert names[-1] == "denoise"


def test_outputs_of_a_video_deleted_mid_processing_are_removed(
    client: TestClient, sink: DatabaseSink, pipeline: MediaPipeline,
    owner_and_video: tuple[str, str],
) -> None:
    token, video_id = owner_and_video
    assert client.delete(f"/api/videos/{video_id}", headers=bearer(token)).status_code == 204
    publish(sink, pipeline, video_id)  # the worker finishes after the owner deleted it
    assert pipeline.storage.list("") == []


def test_make_sink_reads_the_database_url_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, database_url: str, client: TestClient,
    pipeline: MediaPipeline, owner_and_video: tuple[str, str],
) -> None:
    token, video_id = owner_and_video
    monkeypatch.setenv("ANB_DATABASE_URL", database_url)
    monkeypatch.delenv("ANB_JWT_SECRET", raising=False)  # workers do not need it
    worker_sink = make_sink(pipeline.settings)
    worker_sink.emit(event("step_started", video_id, "trim", 10.0))
    worker_sink.database.dispose()
    assert detail(client, token, video_id)["processing_status"] == "processing"
