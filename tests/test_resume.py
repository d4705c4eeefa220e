"""MediaPipeline.resume on real dramatiq-sqs over the emulator: what "Try again" runs."""

from __future__ import annotations

import pytest

from anb_pipeline import Job
from conftest import make_video
from helpers import EventLog, build_pipeline, run_until_final, sqs_settings, start_video

pytestmark = pytest.mark.media


def test_a_dead_letter_event_carries_the_failed_steps_job_and_resume_runs_from_there(
    aws_endpoint, namespace, tmp_path, monkeypatch
) -> None:
    flag = tmp_path / "fail.flag"
    flag.touch()
    monkeypatch.setenv("ANB_TEST_FAIL_FLAG", str(flag))
    settings = sqs_settings(endpoint=aws_endpoint, namespace=namespace,
                            steps=("trim", "flaky", "checksum"))
    log = EventLog()
    pipeline = build_pipeline(settings, log)
    start_video(pipeline, make_video(tmp_path / "in.mp4"), "v1")

    failed = run_until_final(pipeline, log, ["v1"])["v1"]
    assert (failed.kind, failed.step) == ("pipeline_dead_lettered", "flaky")
    assert failed.job is not None
    job = Job.from_message(failed.job)
    # The job flaky was given: trim's artifact, not the original.
    assert job.input_key == "work/v1/trim.mkv" and job.source_key == "originals/v1.mp4"

    flag.unlink()  # the cause is fixed
    log.events.clear()
    pipeline.resume(job, step=failed.step, run=1)
    done = run_until_final(pipeline, log, ["v1"])["v1"]
    assert done.kind == "pipeline_done", done.error
    started = log.of("v1", "step_started")
    assert [(e.step, e.attempt) for e in started] == [("flaky", 1), ("checksum", 1)]


def test_resume_at_an_unknown_step_or_without_one_starts_over(
    aws_endpoint, namespace, tmp_path
) -> None:
    settings = sqs_settings(endpoint=aws_endpoint, namespace=namespace, steps=("trim", "checksum"))
    log = EventLog()
    pipeline = build_pipeline(settings, log)
    source = tmp_path / "in.mp4"
    pipeline.storage.put_file("originals/v2.mp4", make_video(source))
    stale = Job(video_id="v2", source_key="originals/v2.mp4", input_key="work/v2/gone.mkv")
    pipeline.resume(stale, step="a-step-removed-since", run=1)
    done = run_until_final(pipeline, log, ["v2"])["v2"]
    assert done.kind == "pipeline_done", done.error
    assert [e.step for e in log.of("v2", "step_started")] == ["trim", "checksum"]
