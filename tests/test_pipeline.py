"""End-to-end pipeline runs on the stub broker: real ffmpeg, real files, every invariant."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from anb_pipeline import Job, MediaPipeline, Settings, StepNotFound, StepRegistry
from anb_pipeline.bench import reference_command
from anb_pipeline.media.invariants import clip_problems
from anb_pipeline.steps.base import StepContext
from anb_pipeline.steps.upload import UploadStep
from anb_pipeline.storage import open_storage
from conftest import make_video
from helpers import (
    EventLog,
    assert_clip_ok,
    assert_poster_shows_content,
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
    # The poster came out of the final render's own pass; upload decoded nothing.
    final_actor = "trim+resize+watermark+bumpers" if fuse else "bumpers"
    assert (final.output or {}).get("poster_artifact") == f"work/v/{final_actor}.jpg"


@pytest.mark.media
@pytest.mark.slow
@pytest.mark.parametrize(("content_s", "poster_artifact"),
                         [(0.04, None), (3.0, "work/v/gone.jpg")],
                         ids=["one-frame-no-poster", "three-seconds-poster-gone"])
def test_upload_takes_the_poster_from_the_clip_when_no_render_wrote_one(
    tmp_path: Path, content_s: float, poster_artifact: str | None
) -> None:
    """A third-party final step may not write a poster: upload extracts one itself."""
    settings = quick_settings(storage_url=f"file://{tmp_path / 'store'}")
    storage = open_storage(settings)
    source = make_video(tmp_path / "in.mp4", seconds=content_s, audio=False)
    clip = tmp_path / "final.mp4"
    subprocess.run(reference_command(settings, source=source, output=clip, fps=30), check=True)
    job = Job.start(video_id="v", source_key="originals/v.mp4")
    storage.put_file(job.artifact_key("third-party", "mp4"), clip)
    job = job.advance(input_key=job.artifact_key("third-party", "mp4"),
                      poster_artifact=poster_artifact)
    (tmp_path / "work").mkdir()
    context = StepContext(step="upload", job=job, storage=storage, settings=settings,
                          workdir=tmp_path / "work")

    published = UploadStep().run(context)

    assert published.meta["poster_key"] == "processed/v.jpg"
    storage.get_file("processed/v.jpg", tmp_path / "poster.jpg")
    assert_poster_shows_content(tmp_path / "poster.jpg", clip, bumper_s=settings.bumper_s)
    assert storage.list("work/") == []


def test_a_standalone_step_breaks_the_fusion(tmp_path: Path) -> None:
    settings = quick_settings(broker_url="stub://", standalone_steps=("watermark",))
    assert sorted(MediaPipeline(settings).actors) == [
        "bumpers", "trim+resize", "upload", "watermark"]


def anb_process(source: Path, output: Path, *options: str,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "anb_pipeline.cli", *options, "process",
                           str(source), "-o", str(output)], capture_output=True, text=True,
                          timeout=300, env=env)


@pytest.mark.media
@pytest.mark.slow
def test_anb_process_prints_one_line_per_step_off_a_terminal_and_no_logs(tmp_path: Path) -> None:
    source = make_video(tmp_path / "in.mp4", width=640, height=480)
    output = tmp_path / "out" / "clip.mp4"
    done = anb_process(source, output)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"wrote {output}\n"
    assert done.stderr.splitlines() == [
        *(f"[{n}/5] {step}: done in {seconds} s" for n, step, seconds in zip(
            range(1, 6), ("trim", "resize", "watermark", "bumpers", "upload"),
            re.findall(r"done in (\d+\.\d) s", done.stderr), strict=True)),
        "[5/5] done"]
    assert clip_problems(output, settings=Settings(), source_duration_s=2) == []
    # -v brings the logs back, the workers' included.
    verbose = anb_process(source, tmp_path / "verbose.mp4", "-v")
    assert verbose.returncode == 0 and " INFO anb_pipeline" in verbose.stderr, verbose.stderr


@pytest.mark.media
@pytest.mark.slow
def test_anb_process_on_a_terminal_draws_one_progress_display(tmp_path: Path) -> None:
    source = make_video(tmp_path / "in.mp4")
    controller, terminal = os.openpty()
    child = subprocess.Popen([sys.executable, "-m", "anb_pipeline.cli", "process", str(source),
                              "-o", str(tmp_path / "out.mp4")],
                             stdout=subprocess.PIPE, stderr=terminal, text=True)
    os.close(terminal)
    shown = b""
    with contextlib.suppress(OSError):  # EIO once the child has closed the terminal
        while chunk := os.read(controller, 65536):
            shown += chunk
    os.close(controller)
    assert child.wait(timeout=300) == 0
    screen = shown.decode()
    assert "100%" in screen and "done" in screen, screen
    assert "[5/5]" not in screen and " INFO " not in screen, screen


@pytest.mark.media
def test_anb_process_on_a_failing_input_exits_with_one_readable_error(tmp_path: Path) -> None:
    source = make_video(tmp_path / "in.mp4")
    # The watermark is not an image: the ffmpeg pass fails for good.
    broken = {**os.environ, "ANB_WATERMARK_PATH": str(source.with_name("mark.png")),
              "ANB_MAX_ATTEMPTS": "2"}
    source.with_name("mark.png").write_text("not a picture")
    done = anb_process(source, tmp_path / "out.mp4", env=broken)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and " ERROR " not in done.stderr, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert re.fullmatch(r"anb: error: step \w+ failed: MediaUndecodable: .+", last), last
    assert not (tmp_path / "out.mp4").exists()


def test_anb_process_explains_a_missing_input(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "anb_pipeline.cli", "process",
                           str(tmp_path / "nope.mp4"), "-o", str(tmp_path / "o.mp4")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "input file" in done.stderr and "does not exist" in done.stderr
