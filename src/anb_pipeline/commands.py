"""The framework's own subcommands: worker, process, queues, dlq, bench.

Registering imports nothing heavy (see :mod:`anb_pipeline.cli`): each handler imports what
it uses.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from .cli_support import add_stack_argument, lazy_handler
from .errors import ConfigurationError, NotAVideo
from .settings import Settings

if TYPE_CHECKING:
    from .pipeline import MediaPipeline


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``worker``, ``process``, ``queues``, ``dlq`` and ``bench`` to ``anb``'s
    subcommands, each with its handler as ``handler``; imports nothing heavy."""
    worker = subparsers.add_parser("worker", help="run the stock Dramatiq worker on the pipeline")
    worker.add_argument("--processes", "-p", type=int, default=1, help="worker processes")
    worker.add_argument("--threads", "-t", type=int, default=1, help="threads per process")
    worker.set_defaults(handler=run_worker)

    process = subparsers.add_parser(
        "process", help="run the pipeline on one local file",
        description="Run the pipeline on one local file, in this process. On a terminal it "
                    "shows a progress display, otherwise one line per step; logs only with -v.")
    process.add_argument("input", type=Path)
    process.add_argument("-o", "--output", type=Path, required=True)
    process.set_defaults(handler=run_process)

    queues = subparsers.add_parser("queues", help="manage the broker's queues")
    queues_sub = queues.add_subparsers(dest="queues_command", required=True)
    ensure = queues_sub.add_parser("ensure", help="create the queue and DLQ (idempotent)")
    add_stack_argument(ensure)
    ensure.set_defaults(handler=run_queues_ensure)

    dlq = subparsers.add_parser("dlq", help="inspect and replay dead letters (SQS)")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    listing = dlq_sub.add_parser("list", help="show dead letters: video, step, error")
    add_stack_argument(listing)
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler=run_dlq_list)
    redrive = dlq_sub.add_parser("redrive", help="resume dead letters at their step")
    add_stack_argument(redrive)
    redrive.add_argument("message_ids", nargs="*", help="only these messages (default: all)")
    redrive.set_defaults(handler=run_dlq_redrive)
    purge = dlq_sub.add_parser("purge", help="delete every dead letter")
    add_stack_argument(purge)
    purge.add_argument("--yes", action="store_true", help="confirm")
    purge.set_defaults(handler=run_dlq_purge)

    bench = subparsers.add_parser("bench", help="benchmarks")
    bench_sub = bench.add_subparsers(dest="bench_command", required=True)
    pipeline = bench_sub.add_parser("pipeline", help="pipeline vs one ffmpeg pass")
    pipeline.add_argument("--seconds", type=float, default=60)
    pipeline.add_argument("--width", type=int, default=1920)
    pipeline.add_argument("--height", type=int, default=1080)
    pipeline.add_argument("--fps", type=int, default=30)
    pipeline.add_argument("--rounds", type=int, default=3,
                          help="runs of each variant, interleaved; the table shows medians")
    pipeline.add_argument("--no-moviepy", dest="moviepy", action="store_false",
                          help="skip the MoviePy run (it is skipped anyway if not installed)")
    pipeline.add_argument("--hdr", action="store_true",
                          help="an HDR10 (PQ) input; the reference converts it to SDR by hand")
    pipeline.add_argument("--write-doc", type=Path, help="update this markdown file")
    pipeline.set_defaults(handler=lazy_handler("anb_pipeline.bench:bench_pipeline"))


def run_worker(args: argparse.Namespace) -> int:
    """``anb worker``: becomes (``execve``) the stock Dramatiq worker with ``args.processes``
    processes of ``args.threads`` threads, long-polling ``ANB_SQS_WAIT_TIME_S`` and
    prefetching one message per thread; never returns.

    Raises: ``ConfigurationError`` for a bad ``ANB_*`` value; ``OSError`` when the worker
    cannot be started.
    """
    settings = Settings.from_env()
    env = dict(os.environ)
    # Dramatiq long-polls for only 1 s by default; SQS allows 20. Prefetch one message per
    # thread: steps run for minutes, and a prefetched message waits in this process.
    env.setdefault("dramatiq_worker_timeout", str(settings.sqs_wait_time_s * 1000))
    env.setdefault("dramatiq_queue_prefetch", str(args.threads))
    if settings.metrics_port:
        # Dramatiq's exposition server reads these; a fresh directory per run keeps the
        # multiprocess metrics files of earlier runs out of the counts.
        env.update(dramatiq_prom_port=str(settings.metrics_port),
                   dramatiq_prom_host=settings.metrics_host,
                   dramatiq_prom_db=tempfile.mkdtemp(prefix="anb-metrics-"))
    command = worker_command(settings, processes=args.processes, threads=args.threads)
    # exec: the worker becomes this process, so SIGTERM reaches Dramatiq directly and it
    # finishes or gives back in-flight work.
    os.execve(sys.executable, command, env)


def worker_command(settings: Settings, *, processes: int, threads: int) -> list[str]:
    """The stock Dramatiq worker's command line for this pipeline.

    A stopping worker (SIGTERM) lets in-flight steps run for ``settings.worker_drain_s``
    seconds, then gives them back to the queue; Dramatiq's own default is 600 s.
    """
    return [sys.executable, "-m", "dramatiq", "anb_pipeline.worker:broker",
            "--processes", str(processes), "--threads", str(threads),
            "--worker-shutdown-timeout", str(settings.worker_drain_s * 1000)]


def run_process(args: argparse.Namespace) -> int:
    """``anb process INPUT -o OUTPUT``: the whole pipeline on one local file, in this
    process; returns 0 once the clip is written.

    Raises: ``ConfigurationError`` when the input file does not exist; ``NotAVideo`` at
    once, before any worker starts, when it is not a video; whatever the pipeline raises.
    """
    from .local_run import process_file
    from .media import probe

    if not args.input.is_file():
        raise ConfigurationError(f"input file {args.input} does not exist")
    try:
        probe(args.input)
    except NotAVideo as exc:
        # At once, before any worker starts: a file that is not a video never will be.
        raise NotAVideo(f"{args.input.name} is not a video: {exc}") from None
    process_file(Settings.from_env(), source=args.input, output=args.output,
                 verbose=args.verbose)
    print(f"wrote {args.output}")
    return 0


def _sqs_pipeline() -> MediaPipeline:
    from .pipeline import MediaPipeline

    return MediaPipeline(Settings.from_env())


def run_queues_ensure(args: argparse.Namespace) -> int:
    """``anb queues ensure``: create the SQS queue and its DLQ (idempotent) and print their
    URLs; other brokers declare their queues themselves. Returns 0."""
    broker = _sqs_pipeline().broker
    ensure = getattr(broker, "ensure_queues", None)
    if ensure is None:
        print("this broker declares its queues itself; nothing to do")
        return 0
    for role, url in ensure().items():
        print(f"{role}: {url}")
    return 0


def run_dlq_list(args: argparse.Namespace) -> int:
    """``anb dlq list [--json]``: one line per dead letter (video, step, attempts, error),
    or the letters as JSON (``dlq.to_json``). Returns 0.

    Raises: ``ConfigurationError`` for a broker other than SQS.
    """
    from .dlq import DeadLetterQueue, to_json

    letters = DeadLetterQueue(_sqs_pipeline().broker).letters()
    if args.json:
        print(to_json(letters))
        return 0
    if not letters:
        print("the dead-letter queue is empty")
    for letter in letters:
        if letter.foreign:
            print(f"{letter.message_id}  foreign message: {letter.size_bytes} bytes  "
                  f"receives={letter.receive_count}  starts={letter.preview!r}  "
                  f"error={letter.error}")
            continue
        print(f"{letter.message_id}  video={letter.video_id}  step={letter.step}  "
              f"attempts={letter.attempts}  error={letter.error}")
    return 0


def run_dlq_redrive(args: argparse.Namespace) -> int:
    """``anb dlq redrive [MESSAGE_ID...]``: resume the dead letters (all, or those named) at
    their step, and say which were skipped and why. Returns 0.

    Raises: ``ConfigurationError`` for a broker other than SQS.
    """
    from .dlq import DeadLetterQueue

    wanted = set(args.message_ids) or None
    result = DeadLetterQueue(_sqs_pipeline().broker).redrive(message_ids=wanted)
    for letter in result.moved:
        print(f"redriven {letter.message_id}  video={letter.video_id}  step={letter.step}")
    for letter, reason in result.skipped:
        print(f"skipped {letter.message_id}: {reason} (left in the DLQ; "
              "`anb dlq purge --yes` deletes it)")
    print(f"{len(result.moved)} message(s) redriven, {len(result.skipped)} skipped")
    return 0


def run_dlq_purge(args: argparse.Namespace) -> int:
    """``anb dlq purge --yes``: delete every dead letter and print how many. Returns 0.

    Raises: ``ConfigurationError`` without ``--yes``, or for a broker other than SQS.
    """
    from .dlq import DeadLetterQueue

    if not args.yes:
        raise ConfigurationError("purging deletes every dead letter; pass --yes to confirm")
    print(f"{DeadLetterQueue(_sqs_pipeline().broker).purge()} message(s) purged")
    return 0
