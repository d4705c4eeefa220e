"""``anb bench pipeline``: the pipeline against one hand-written ffmpeg pass, in one run.

Runs, one after another on the same generated input:

- reference: one hand-written ffmpeg command doing the whole job in one pass;
- stepwise: the pipeline through SQS and S3 (local emulator), one actor per step;
- fused: the same, with the filter steps fused into one actor;
- process: ``anb process`` on the file, the whole command timed from outside (start-up,
  the fused pipeline on the stub broker, copying the output, exit);
- moviepy (when MoviePy is installed): the job the way the original system did it.

The report adds a row for the overhead of ``anb process`` over the fused run: the median
of each round's difference in wall seconds.

Each run is a child process. Its wall and CPU seconds cover the job itself (for the
pipeline: from enqueue to ``pipeline_done``), ffmpeg children included; peak RSS is the
highest summed RSS of the child and its descendants, sampled. The emulator runs in this
parent process, so its CPU and memory are not charged to the runs (on AWS, SQS and S3 are
not on the worker either).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from . import layout
from .emulator import EMULATOR_CREDENTIALS, start_emulator
from .events import CallbackSink, PipelineEvent
from .media import ffmpeg_exe, run_ffmpeg
from .media.invariants import clip_problems
from .procs import TreeRssPeak, cpu_model
from .settings import Settings

VARIANTS = ("reference", "stepwise", "fused", "process", "moviepy")
RUN_TIMEOUT_S = 1800
#: The id of the one video a pipeline run processes.
BENCH_VIDEO_ID = "bench"


@dataclasses.dataclass(frozen=True)
class RunResult:
    """One measured run of one variant: wall and CPU seconds (ffmpeg children included),
    the peak resident memory of its process tree in MiB, and the output invariants it broke
    (``clip_problems``; empty when the clip is right)."""

    variant: str
    wall_s: float
    cpu_s: float
    peak_rss_mib: float
    problems: list[str]


@dataclasses.dataclass(frozen=True)
class VariantSummary:
    """One variant over every round: medians, the worst RSS, each round's ratios."""

    variant: str
    wall_s: float
    cpu_s: float
    peak_rss_mib: float
    problems: list[str]
    wall_ratios: list[float]
    cpu_ratios: list[float]

    @classmethod
    def of(cls, runs: list[RunResult], references: list[RunResult]) -> VariantSummary:
        """The summary of one variant's ``runs`` (one per round, in round order), its
        ratios taken to the ``references`` of the same rounds (or to the first reference
        when the counts differ: MoviePy runs once)."""
        # Ratios pair each run with the reference of its own round, so a slow phase of a
        # shared machine weighs on both sides of the same ratio.
        own_reference = references if len(references) == len(runs) else references[:1] * len(runs)
        pairs = list(zip(runs, own_reference, strict=True))
        return cls(variant=runs[0].variant,
                   wall_s=statistics.median(run.wall_s for run in runs),
                   cpu_s=statistics.median(run.cpu_s for run in runs),
                   peak_rss_mib=max(run.peak_rss_mib for run in runs),
                   problems=sorted({p for run in runs for p in run.problems}),
                   wall_ratios=[run.wall_s / ref.wall_s for run, ref in pairs],
                   cpu_ratios=[run.cpu_s / ref.cpu_s for run, ref in pairs])


#: An HDR10 phone clip: HEVC Main10, BT.2020 primaries and matrix, PQ transfer, tagged in
#: the bitstream and the container.
HDR_ENCODE = ("-vf", "format=gbrp,zscale=tin=709:pin=709:rin=full:t=smpte2084:p=bt2020"
              ":m=bt2020nc:r=limited:npl=100,format=yuv420p10le",
              "-c:v", "libx265", "-preset", "ultrafast", "-x265-params",
              "log-level=error:colorprim=bt2020:transfer=smpte2084:colormatrix=bt2020nc",
              "-color_primaries", "bt2020", "-color_trc", "smpte2084", "-colorspace", "bt2020nc",
              "-color_range", "tv")
#: The HDR to SDR conversion written by hand (what the pipeline's colour path does for PQ):
#: linearize at 100 nits, BT.2020 to BT.709 primaries, mobius roll-off, BT.709 out.
HDR_REFERENCE_FILTERS = ("zscale=t=linear:npl=100,format=gbrpf32le,zscale=p=709,"
                         "tonemap=mobius:param=0.9:desat=0,zscale=t=709:m=709:r=limited,"
                         "format=yuv420p,")


def generate_input(path: Path, *, seconds: float, width: int, height: int, fps: int,
                   hdr: bool = False) -> Path:
    """Write a test-pattern clip with a sine tone to ``path`` (``seconds`` long, ``width`` x
    ``height`` pixels at ``fps`` frames per second; H.264, or HDR10 HEVC Main10 with
    ``hdr``) and return ``path``.

    Raises: ``MediaError`` when ffmpeg fails (``run_ffmpeg``).
    """
    video = HDR_ENCODE if hdr else ("-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p")
    run_ffmpeg(["-f", "lavfi", "-i", f"testsrc2=s={width}x{height}:r={fps}:d={seconds:g}",
                "-f", "lavfi", "-i", f"sine=frequency=440:duration={seconds:g}",
                *video, "-c:a", "aac", "-shortest", str(path)], timeout_s=RUN_TIMEOUT_S)
    return path


def reference_command(settings: Settings, *, source: Path, output: Path, fps: int,
                      hdr: bool = False) -> list[str]:
    """The whole job written by hand as one ffmpeg pass, with the pipeline's encoder settings
    and BT.709 tags; with ``hdr``, the PQ to SDR conversion first."""
    card = f"color=c=black:s=1280x720:r={fps}:d={settings.bumper_s:g},setsar=1"
    tags = "setparams=range=tv:colorspace=bt709:color_primaries=bt709:color_trc=bt709"
    graph = (
        f"[0:v]{HDR_REFERENCE_FILTERS if hdr else ''}"
        "scale=1280:720:force_original_aspect_ratio=decrease,setsar=1,"
        f"pad=1280:720:(ow-iw)/2:(oh-ih)/2:black,fps={fps}[content];"
        "[1:v]scale=204:-1[mark];[content][mark]overlay=x=W-w-21:y=H-h-21[marked];"
        "[2:v]scale=480:-1,split[logo1][logo2];"
        f"{card}[bg1];{card}[bg2];"
        "[bg1][logo1]overlay=(W-w)/2:(H-h)/2:shortest=1[intro];"
        "[bg2][logo2]overlay=(W-w)/2:(H-h)/2:shortest=1[outro];"
        f"[intro][marked][outro]concat=n=3:v=1:a=0,format=yuv420p,{tags}[v]"
    )
    return [ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y",
            "-t", f"{settings.max_content_s:g}", "-i", str(source),
            "-i", str(settings.watermark_path), "-loop", "1", "-i", str(settings.logo_path),
            "-filter_complex", graph, "-map", "[v]", "-an", "-c:v", "libx264",
            "-preset", settings.video_preset, "-crf", str(settings.video_crf),
            "-pix_fmt", "yuv420p", "-color_range", "tv", "-colorspace", "bt709",
            "-color_primaries", "bt709", "-color_trc", "bt709", "-movflags", "+faststart",
            str(output)]


class Window:
    """Wall and CPU seconds of the measured part of a run, ffmpeg children included."""

    def __enter__(self) -> Window:
        self.started_s = time.monotonic()
        self.cpu_started_s = _cpu_s()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall_s = time.monotonic() - self.started_s
        self.cpu_s = _cpu_s() - self.cpu_started_s


def _cpu_s() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_reference(settings: Settings, source: Path, output: Path, fps: int,
                  hdr: bool = False) -> Window:
    """The hand-written single ffmpeg command (``reference_command``) on ``source``, timed.

    Raises: ``subprocess.CalledProcessError`` when ffmpeg fails.
    """
    with Window() as window:
        subprocess.run(reference_command(settings, source=source, output=output, fps=fps,
                                         hdr=hdr), check=True)
    return window


def run_pipeline(settings: Settings, source: Path, output: Path) -> Window:
    """The pipeline on ``source`` with one in-process worker thread, timed from enqueue to
    ``pipeline_done``; the clip is then fetched to ``output``. The upload of the source to S3
    happens before, as it does in production (the web tier stores it), and is not measured.
    ``settings`` must name an SQS broker and S3 storage (the emulator).

    Raises: ``RuntimeError`` when the video is dead-lettered or not done within
    ``RUN_TIMEOUT_S``.
    """
    import dramatiq

    from .pipeline import MediaPipeline
    from .storage import S3Storage

    done = threading.Event()
    outcome: list[PipelineEvent] = []

    def on_event(event: PipelineEvent) -> None:
        if event.kind in ("pipeline_done", "pipeline_dead_lettered"):
            outcome.append(event)
            done.set()

    pipeline = MediaPipeline(settings, sink=CallbackSink(on_event))
    assert isinstance(pipeline.storage, S3Storage)
    pipeline.storage.ensure_bucket()
    pipeline.broker.ensure_queues()  # type: ignore[attr-defined]
    source_key = layout.original_key(video_id=BENCH_VIDEO_ID, extension="mp4")
    pipeline.storage.put_file(source_key, source)
    worker = dramatiq.Worker(pipeline.broker, worker_threads=1, worker_timeout=100)
    worker.start()
    try:
        with Window() as window:
            pipeline.enqueue(video_id=BENCH_VIDEO_ID, source_key=source_key)
            if not done.wait(RUN_TIMEOUT_S) or outcome[0].kind != "pipeline_done":
                raise RuntimeError(f"the pipeline did not finish: {outcome}")
        pipeline.storage.get_file(layout.clip_key(BENCH_VIDEO_ID), output)
    finally:
        worker.stop()
    return window


def run_moviepy(settings: Settings, source: Path, output: Path, fps: int) -> Window:
    """Per-frame Python compositing, as the original system did; never used for real work."""
    with Window() as window:
        _moviepy_job(settings, source, output, fps, (1280, 720))
    return window


def _moviepy_job(settings: Settings, source: Path, output: Path, fps: int,
                 size: tuple[int, int]) -> None:
    from moviepy import (
        ColorClip,
        CompositeVideoClip,
        ImageClip,
        VideoFileClip,
        concatenate_videoclips,
    )

    clip = VideoFileClip(str(source), audio=False)
    clip = clip.subclipped(0, min(clip.duration, settings.max_content_s))
    clip = clip.resized(height=720) if clip.w / clip.h <= 16 / 9 else clip.resized(width=1280)
    mark = ImageClip(str(settings.watermark_path)).resized(width=204).with_duration(clip.duration)
    content = CompositeVideoClip([
        ColorClip(size, color=(0, 0, 0), duration=clip.duration), clip.with_position("center"),
        mark.with_position((size[0] - mark.w - 21, size[1] - mark.h - 21)),
    ], size=size)
    logo = ImageClip(str(settings.logo_path)).resized(width=480).with_duration(settings.bumper_s)
    card = CompositeVideoClip([ColorClip(size, color=(0, 0, 0), duration=settings.bumper_s),
                               logo.with_position("center")], size=size)
    concatenate_videoclips([card, content, card]).write_videofile(
        str(output), fps=fps, codec="libx264", preset=settings.video_preset, audio=False,
        ffmpeg_params=["-crf", str(settings.video_crf), "-pix_fmt", "yuv420p",
                       "-movflags", "+faststart"], logger=None,
    )


def child_main(args: argparse.Namespace) -> None:
    """One run, in its own process; prints its measured window as JSON."""
    settings = Settings.from_env()
    if args.variant == "reference":
        window = run_reference(settings, args.input, args.output, args.fps, args.hdr)
    elif args.variant == "moviepy":
        window = run_moviepy(settings, args.input, args.output, args.fps)
    else:
        window = run_pipeline(settings.replace(fuse_steps=args.variant == "fused"),
                              args.input, args.output)
    print(json.dumps({"wall_s": window.wall_s, "cpu_s": window.cpu_s}))


def measure_process(*, source: Path, output: Path, env: dict[str, str]) -> tuple[float, float, int]:
    """``anb process`` as a user runs it, in ``env``: (wall s, CPU s, peak RSS KiB) of the
    whole command, ffmpeg children included.

    Raises: ``RuntimeError`` when the command fails.
    """
    started_s = time.monotonic()
    child = subprocess.Popen([sys.executable, "-m", "anb_pipeline.cli", "process", str(source),
                              "-o", str(output)], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    with TreeRssPeak(child.pid) as memory:
        # wait4, not wait: its resource usage covers the command and the children it reaped.
        _, status, usage = os.wait4(child.pid, 0)
    wall_s = time.monotonic() - started_s
    child.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    if child.returncode != 0:
        raise RuntimeError(f"anb process failed (exit {child.returncode})")
    return wall_s, usage.ru_utime + usage.ru_stime, memory.peak_kib


def measure(variant: str, *, source: Path, workdir: Path, env: dict[str, str], fps: int,
            source_s: float, hdr: bool = False) -> RunResult:
    """One run of ``variant`` (``reference``, ``stepwise``, ``fused``, ``moviepy`` or
    ``process``) in its own process with ``env``, its output written under ``workdir`` and
    checked against the output invariants for a ``source_s``-second source.

    Raises: ``RuntimeError`` when the run fails.
    """
    output = workdir / f"{variant}.mp4"
    if variant == "process":
        wall_s, cpu_s, peak_kib = measure_process(source=source, output=output, env=env)
        problems = clip_problems(output, settings=Settings.from_env(env),
                                 source_duration_s=source_s)
        return RunResult(variant=variant, wall_s=wall_s, cpu_s=cpu_s,
                         peak_rss_mib=peak_kib / 1024, problems=problems)
    stdout = workdir / f"{variant}.json"
    with open(stdout, "w") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "anb_pipeline.bench", "--child", variant, "--input",
             str(source), "--output", str(output), "--fps", str(fps),
             *(["--hdr"] if hdr else [])],
            env=env, stdout=out,
        )
        with TreeRssPeak(child.pid) as memory:
            child.wait()
    if child.returncode != 0:
        raise RuntimeError(f"the {variant} run failed (exit {child.returncode})")
    window = json.loads(stdout.read_text().splitlines()[-1])
    problems = clip_problems(output, settings=Settings.from_env(env), source_duration_s=source_s)
    return RunResult(variant=variant, wall_s=window["wall_s"], cpu_s=window["cpu_s"],
                     peak_rss_mib=memory.peak_kib / 1024, problems=problems)


def machine_description() -> str:
    """One line for the report: cores, CPU model, memory (GiB), Python and ffmpeg versions."""
    memory_gib = psutil.virtual_memory().total / 1024**3
    ffmpeg = subprocess.run([ffmpeg_exe(), "-version"], capture_output=True, text=True)
    return (f"{os.cpu_count()} cores ({cpu_model()}), {memory_gib:.0f} GiB, "
            f"Python {platform.python_version()}, {ffmpeg.stdout.splitlines()[0]}")


def table(summaries: list[VariantSummary]) -> str:
    """The report's markdown table, one row per variant: median seconds, peak RSS (MiB),
    ratios to the reference (medians of the per-round ratios, not ratios of medians) and
    the invariants each clip broke."""
    rows = ["| run | wall s | CPU s | peak RSS MiB | wall ÷ reference | CPU ÷ reference "
            "| wall ÷ reference, each round | invariants |",
            "| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |"]
    for summary in summaries:
        rounds = " / ".join(f"{ratio:.2f}x" for ratio in summary.wall_ratios)
        rows.append(
            f"| {summary.variant} | {summary.wall_s:.2f} | {summary.cpu_s:.2f} | "
            f"{summary.peak_rss_mib:.0f} | {statistics.median(summary.wall_ratios):.2f}x | "
            f"{statistics.median(summary.cpu_ratios):.2f}x | {rounds} | "
            f"{'pass' if not summary.problems else '; '.join(summary.problems)} |")
    return "\n".join(rows)


def overhead_row(process: list[RunResult], fused: list[RunResult]) -> str:
    """The table row of ``anb process`` over the fused run: median of each round's wall
    difference, and each round's."""
    differences = [p.wall_s - f.wall_s for p, f in zip(process, fused, strict=True)]
    rounds = " / ".join(f"{difference:+.2f} s" for difference in differences)
    return (f"| anb process − fused (start-up, shut-down) | {statistics.median(differences):+.2f} "
            f"| | | | | {rounds} | |")


def bench_pipeline(args: argparse.Namespace) -> int:
    """``anb bench pipeline``: every variant for ``args.rounds`` rounds on one generated
    input, against an in-process emulator; prints the report (and writes it into
    ``args.write_doc``). Returns 0, or 1 when a variant's clip broke an output invariant.

    Raises: ``SystemExit`` when ``--rounds`` is below 1.
    """
    if args.rounds < 1:
        raise SystemExit("anb bench pipeline: --rounds must be 1 or more")
    variants = [v for v in VARIANTS if v != "moviepy" or (
        args.moviepy and not args.hdr and importlib.util.find_spec("moviepy") is not None)]
    server, endpoint = start_emulator()
    env = {**os.environ, **EMULATOR_CREDENTIALS, "ANB_BROKER_URL": "sqs://",
           "ANB_AWS_ENDPOINT_URL": endpoint, "ANB_STORAGE_URL": "s3://anb-bench/media",
           "ANB_QUEUE_NAMESPACE": "bench"}
    try:
        with tempfile.TemporaryDirectory(prefix="anb-bench-") as tmp:
            workdir = Path(tmp)
            source = generate_input(workdir / "input.mp4", seconds=args.seconds,
                                    width=args.width, height=args.height, fps=args.fps,
                                    hdr=args.hdr)
            fps = min(args.fps, Settings.from_env(env).max_fps)
            runs: dict[str, list[RunResult]] = {variant: [] for variant in variants}
            # Rounds interleave the variants, so drift in the machine's speed hits them all.
            for round_ in range(1, args.rounds + 1):
                for variant in variants:
                    if variant == "moviepy" and round_ > 1:
                        continue  # over ten times slower: one run says enough
                    print(f"round {round_}: running {variant}...", file=sys.stderr, flush=True)
                    runs[variant].append(measure(variant, source=source, workdir=workdir,
                                                 env=env, fps=fps, source_s=args.seconds,
                                                 hdr=args.hdr))
    finally:
        server.stop()
    summaries = [VariantSummary.of(runs[variant], runs["reference"]) for variant in variants]
    kind = "HDR10 (PQ, BT.2020) HEVC Main10" if args.hdr else "H.264"
    report = (f"Input: {args.seconds:g} s {args.width}x{args.height} {args.fps} fps {kind} "
              f"with audio. Rounds: {args.rounds} (seconds are medians, ratios are medians of "
              f"each round's ratio to that round's reference; MoviePy runs once, in the first "
              f"round).\nMachine: {machine_description()}\n\n"
              f"{table(summaries)}\n{overhead_row(runs['process'], runs['fused'])}\n")
    print(report)
    if args.write_doc:
        write_doc(args.write_doc, report, section="pipeline-bench-hdr" if args.hdr
                  else "pipeline-bench")
    return 0 if all(not summary.problems for summary in summaries) else 1


def write_doc(path: Path, report: str, *, section: str = "pipeline-bench") -> None:
    """Replace a generated section of the benchmarks document, keep the prose around it."""
    start, end = f"<!-- {section}:start -->", f"<!-- {section}:end -->"
    text = path.read_text() if path.exists() else f"{start}\n{end}\n"
    before, _, rest = text.partition(start)
    _, _, after = rest.partition(end)
    path.write_text(f"{before}{start}\n{report}{end}{after}")


def main() -> None:
    """``python -m anb_pipeline.bench --child VARIANT ...``: the child process of one run."""
    parser = argparse.ArgumentParser(description="one benchmark run (internal)")
    parser.add_argument("--child", dest="variant", choices=VARIANTS, required=True)
    parser.add_argument("--input", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--fps", type=int, required=True)
    parser.add_argument("--hdr", action="store_true")
    child_main(parser.parse_args())


if __name__ == "__main__":
    main()
