"""End-to-end pipeline runs on the stub broker: real ffmpeg, real files, every invariant."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from anb_pipeline import MediaPipeline, Settings, StepNotFound, StepRegistry
from anb_pipeline.media.invariants import clip_problems
from conftest import make_video
from helpers import (
    EventLog,
    assert_clip_ok,
    build_pipeline,
    quick_settings,
    run_until_final,
    start_video,
)

INPUTS = {
    "landscape-1080p": {"width": 1920, "height": 1080, "seconds": 2},
    "portrait": {"width": 720, "height": 1280, "seconds": 2},
    "four-by-three": {"width": 640, "height": 480, "seconds": 2, "fps": 60},
    "long": {"width": 160, "height": 90, "seconds": 32, "fps": 10},
}


@pytest.fixture
def stub_pipeline(tmp_path: Path) -> tuple[MediaPipeline, EventLog]:
    log = EventLog()
    settings = quick_settings(broker_url="stub://", storage_url=f"file://{tmp_path / 'store'}")
    return build_pipeline(settings, log), log


@pytest.mark.media
@pytest.mark.parametrize("shape", sorted(INPUTS))
def test_every_shape_meets_the_invariants(stub_pipeline, tmp_path: Path, shape: str) -> None:
    pipeline, log = stub_pipeline
    spec = INPUTS[shape]
    source = make_video(tmp_path / f"{shape}.mp4", **spec)
    start_video(pipeline, source, shape)

    final = run_until_final(pipeline, log, [shape])[shape]

    assert final.kind == "pipeline_done", final.error
    assert_clip_ok(pipeline, shape, tmp_path, source_duration_s=spec["seconds"])
    steps = [e.step for e in log.of(shape, "step_finished")]
    assert steps == ["trim", "resize", "watermark", "bumpers", "upload"]
    assert all(e.seconds is not None and e.seconds >= 0 for e in log.of(shape, "step_finished"))


@pytest.mark.media
def test_portrait_is_pillarboxed_not_stretched(stub_pipeline, tmp_path: Path) -> None:
    pipeline, log = stub_pipeline
    start_video(pipeline, make_video(tmp_path / "p.mp4", width=720, height=1280), "p")
    final = run_until_final(pipeline, log, ["p"])["p"]
    # 720x1280 fitted into 720 rows keeps 9:16: 405 columns, rounded to even, centred.
    assert final.output["content_box"] == [438, 0, 404, 720]


@pytest.mark.media
def test_a_step_from_a_third_party_entry_point_runs_inside_the_pipeline(
    tmp_path: Path,
) -> None:
    log = EventLog()
    settings = quick_settings(broker_url="stub://", storage_url=f"file://{tmp_path / 'store'}",
                              steps=("trim", "resize", "checksum", "watermark", "bumpers", "upload"))
    pipeline = build_pipeline(settings, log)
    assert "checksum" in StepRegistry().available()
    start_video(pipeline, make_video(tmp_path / "in.mp4"), "plug")

    final = run_until_final(pipeline, log, ["plug"])["plug"]

    assert final.kind == "pipeline_done", final.error
    assert len(final.output["checksum"]) == 64
    assert [e.step for e in log.of("plug", "step_finished")][2] == "checksum"
    assert_clip_ok(pipeline, "plug", tmp_path, source_duration_s=2)


def test_an_unknown_step_is_a_clear_configuration_error(tmp_path: Path) -> None:
    settings = quick_settings(broker_url="stub://", steps=("trim", "sparkle"))
    with pytest.raises(StepNotFound, match="no step named 'sparkle'; available: .*trim"):
        MediaPipeline(settings)


@pytest.mark.media
def test_a_non_video_dead_letters_at_the_first_step_without_retrying(stub_pipeline, tmp_path):
    pipeline, log = stub_pipeline
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    start_video(pipeline, junk, "junk")

    final = run_until_final(pipeline, log, ["junk"])["junk"]

    assert final.kind == "pipeline_dead_lettered"
    assert final.step.split("+")[0] == "trim"
    assert "NotAVideo" in final.error or "ffmpeg failed" in final.error
    assert final.attempt == 1, "an undecodable input is not retried"


@pytest.mark.media
@pytest.mark.parametrize("fuse", [True, False], ids=["fused", "stepwise"])
def test_fused_and_stepwise_runs_both_meet_the_invariants(tmp_path: Path, fuse: bool) -> None:
    log = EventLog()
    settings = quick_settings(broker_url="stub://", storage_url=f"file://{tmp_path / 'store'}",
                              fuse_steps=fuse)
    pipeline = build_pipeline(settings, log)
    actors = sorted(pipeline.actors)
    assert actors == (["trim+resize+watermark+bumpers", "upload"] if fuse else
                      ["bumpers", "resize", "trim", "upload", "watermark"])
    start_video(pipeline, make_video(tmp_path / "in.mp4", width=480, height=360), "v")

    final = run_until_final(pipeline, log, ["v"])["v"]

    assert final.kind == "pipeline_done", final.error
    assert_clip_ok(pipeline, "v", tmp_path, source_duration_s=2)
    # Either way, every configured step reports its own start and finish.
    assert [e.step for e in log.of("v", "step_finished")] == list(settings.steps)


def test_a_standalone_step_breaks_the_fusion(tmp_path: Path) -> None:
    settings = quick_settings(broker_url="stub://", standalone_steps=("watermark",))
    assert sorted(MediaPipeline(settings).actors) == [
        "bumpers", "trim+resize", "upload", "watermark"]


@pytest.mark.media
def test_anb_process_runs_the_pipeline_on_a_local_file_with_a_progress_bar(tmp_path: Path) -> None:
    source = make_video(tmp_path / "in.mp4", width=640, height=480)
    output = tmp_path / "out" / "clip.mp4"
    done = subprocess.run([sys.executable, "-m", "anb_pipeline.cli", "process", str(source),
                           "-o", str(output)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"wrote {output}" in done.stdout
    assert "5/5 upload" in done.stderr and "pipeline_done" in done.stderr
    assert clip_problems(output, settings=Settings(), source_duration_s=2) == []


def test_anb_process_explains_a_missing_input(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "anb_pipeline.cli", "process",
                           str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "o.mp4")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "input file" in done.stderr and "does not exist" in done.stderr
