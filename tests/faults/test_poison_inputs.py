"""Inputs that pass the upload probe but are hostile to processing.

Each runs through the real default pipeline (stub broker, in-process worker) and must end
processed with every output invariant, or dead-lettered with a clear error; none may hang.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import av
import pytest

from anb_pipeline import AnbError, MediaPipeline, Settings
from anb_pipeline.media import ffmpeg_exe, probe
from anb_pipeline.media.invariants import clip_problems
from helpers import (
    EventLog,
    assert_poster_shows_content,
    build_pipeline,
    quick_settings,
    run_until_final,
    start_video,
)

pytestmark = pytest.mark.media

TESTSRC = "testsrc2=s=320x180:r=30:d=2"

#: name -> (input options, output options); every file is made by the bundled ffmpeg.
CASES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "one-frame (near-zero duration)": (("-f", "lavfi", "-i", "testsrc2=s=320x180:r=30"),
                                       ("-frames:v", "1", "-pix_fmt", "yuv420p")),
    "1x1 pixels": (("-f", "lavfi", "-i", "color=c=red:s=2x2:r=30:d=1"),
                   ("-vf", "scale=1:1", "-pix_fmt", "yuv444p")),
    "odd size 321x181": (("-f", "lavfi", "-i", TESTSRC), ("-vf", "scale=321:181", "-pix_fmt", "yuv444p")),
    "8192x8192": (("-f", "lavfi", "-i", "color=c=blue:s=8192x8192:r=1:d=1"), ("-pix_fmt", "yuv420p")),
    "variable frame rate": (("-f", "lavfi", "-i", TESTSRC),
                            ("-vf", "setpts='if(lt(N,30),N/30,1+(N-30)/5)/TB'", "-fps_mode", "vfr")),
    "0.25 fps": (("-f", "lavfi", "-i", "testsrc2=s=320x180:r=1/4:d=8"), ("-pix_fmt", "yuv420p")),
    "240 fps": (("-f", "lavfi", "-i", "testsrc2=s=320x180:r=240:d=1"), ("-pix_fmt", "yuv420p")),
    "SAR 1000:1": (("-f", "lavfi", "-i", TESTSRC), ("-vf", "setsar=1000", "-pix_fmt", "yuv420p")),
}


def make_input(path: Path, input_args: tuple[str, ...], output_args: tuple[str, ...]) -> Path:
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", *input_args, "-c:v", "libx264",
                    "-preset", "ultrafast", *output_args, "-movflags", "+faststart", str(path)],
                   check=True)
    return path


def display_rotated(tmp_path: Path) -> Path:
    """A phone portrait: stored landscape, turned upright by a display matrix. Only
    -display_rotation on a stream copy writes one; ``-metadata rotate=90`` no longer does."""
    stored = make_input(tmp_path / "stored.mp4",
                        ("-f", "lavfi", "-i", "testsrc2=s=180x320:r=30:d=2,transpose=clock"),
                        ("-pix_fmt", "yuv420p"))
    phone = tmp_path / "phone.mov"
    subprocess.run([ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-display_rotation", "90",
                    "-i", str(stored), "-c", "copy", str(phone)], check=True)
    assert probe(phone).rotation in (90, -90, 270)
    return phone


def truncated(source: Path, path: Path) -> Path:
    """The first third of a faststart MP4: the index promises frames the file lacks."""
    data = source.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    return path


def decodable_s(path: Path) -> float:
    """How much video actually decodes; a truncated file declares more than it holds."""
    times: list[float] = []
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = float(stream.average_rate or 30)
        try:
            for frame in container.decode(stream):
                if frame.time is not None:
                    times.append(frame.time)
        except av.FFmpegError:
            pass  # truncated: keep what decoded before the cut
    return max(times) - min(times) + 1 / rate if times else 0.0


def poster_problems(pipeline: MediaPipeline, video_id: str, clip: Path,
                    tmp_path: Path) -> list[str]:
    poster = tmp_path / f"{video_id}.jpg"
    try:
        pipeline.storage.get_file(f"processed/{video_id}.jpg", poster)
        assert_poster_shows_content(poster, clip, bumper_s=pipeline.settings.bumper_s)
    except (AssertionError, AnbError) as exc:
        return [f"poster: {exc!r}"]
    return []


def settings_for(tmp_path: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "broker_url": "stub://", "storage_url": f"file://{tmp_path / 'storage'}",
        "work_dir": tmp_path / "work", "ffmpeg_timeout_s": 30, "bumper_s": 0.5,
        "video_preset": "ultrafast", "max_attempts": 2,
    }
    return quick_settings(**{**values, **overrides})


@pytest.mark.slow
def test_hostile_inputs_end_processed_with_every_invariant(tmp_path: Path) -> None:
    inputs = {name: make_input(tmp_path / f"in{n}.mp4", *args)
              for n, (name, args) in enumerate(CASES.items())}
    whole = make_input(tmp_path / "whole.mp4", ("-f", "lavfi", "-i", TESTSRC), ("-pix_fmt", "yuv420p"))
    inputs["truncated MP4"] = truncated(whole, tmp_path / "cut.mp4")
    inputs["rotated portrait"] = display_rotated(tmp_path)
    settings = settings_for(tmp_path)
    log = EventLog()
    pipeline = build_pipeline(settings, log)
    ids = {name: f"p{index}" for index, name in enumerate(inputs)}
    for name, path in inputs.items():
        probe(path)  # each passes the upload check
        start_video(pipeline, path, ids[name])

    finals = run_until_final(pipeline, log, list(ids.values()), timeout_s=180, threads=2)

    outcomes: dict[str, list[str]] = {}
    for name, video_id in ids.items():
        final = finals[video_id]
        if final.kind != "pipeline_done":
            outcomes[name] = [f"dead-lettered at {final.step}: {final.error}"]
            continue
        clip = tmp_path / f"{video_id}-out.mp4"
        pipeline.storage.get_file(f"processed/{video_id}.mp4", clip)
        source_s = min(probe(inputs[name]).duration_s, decodable_s(inputs[name]))
        outcomes[name] = clip_problems(clip, settings=settings, source_duration_s=source_s)
        outcomes[name] += poster_problems(pipeline, video_id, clip, tmp_path)
    failures = {name: problems for name, problems in outcomes.items() if problems}
    print(f"\npoison inputs: {len(inputs)} tried, {len(inputs) - len(failures)} processed with "
          f"every invariant, {len(failures)} not: {failures}")
    assert failures == {}
    assert pipeline.storage.list("work/") == []


def test_a_hung_ffmpeg_is_stopped_and_dead_lettered_with_the_reason(tmp_path: Path) -> None:
    # A watermark that is a FIFO nobody writes: ffmpeg blocks opening it, forever.
    fifo = tmp_path / "watermark.png"
    os.mkfifo(fifo)
    settings = settings_for(tmp_path, ffmpeg_timeout_s=2, watermark_path=fifo)
    log = EventLog()
    pipeline = build_pipeline(settings, log)
    source = make_input(tmp_path / "in.mp4", ("-f", "lavfi", "-i", TESTSRC), ("-pix_fmt", "yuv420p"))
    start_video(pipeline, source, "hang")

    final = run_until_final(pipeline, log, ["hang"], timeout_s=60)["hang"]

    print(f"\nhung ffmpeg: {final.attempt} attempts, outcome {final.kind}: {final.error}")
    assert final.kind == "pipeline_dead_lettered"
    assert final.attempt == settings.max_attempts
    assert final.error == "MediaTimeout: ffmpeg ran longer than 2 s and was stopped"
