"""The framework's own subcommands: worker, process, queues, dlq."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from . import bench
from .dlq import DeadLetterQueue, to_json
from .errors import ConfigurationError
from .local_run import process_file
from .pipeline import MediaPipeline
from .settings import Settings


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    worker = subparsers.add_parser("worker", help="run the stock Dramatiq worker on the pipeline")
    worker.add_argument("--processes", "-p", type=int, default=1, help="worker processes")
    worker.add_argument("--threads", "-t", type=int, default=1, help="threads per process")
    worker.set_defaults(handler=run_worker)

    process = subparsers.add_parser("process", help="run the pipeline on one local file")
    process.add_argument("input", type=Path)
    process.add_argument("-o", "--output", type=Path, required=True)
    process.set_defaults(handler=run_process)

    queues = subparsers.add_parser("queues", help="manage the broker's queues")
    queues_sub = queues.add_subparsers(dest="queues_command", required=True)
    queues_sub.add_parser("ensure", help="create the queue and DLQ (idempotent)").set_defaults(
        handler=run_queues_ensure)

    dlq = subparsers.add_parser("dlq", help="inspect and replay dead letters (SQS)")
    dlq_sub = dlq.add_subparsers(dest="dlq_command", required=True)
    listing = dlq_sub.add_parser("list", help="show dead letters: video, step, error")
    listing.add_argument("--json", action="store_true", help="machine-readable output")
    listing.set_defaults(handler=run_dlq_list)
    redrive = dlq_sub.add_parser("redrive", help="resume dead letters at their step")
    redrive.add_argument("message_ids", nargs="*", help="only these messages (default: all)")
    redrive.set_defaults(handler=run_dlq_redrive)
    purge = dlq_sub.add_parser("purge", help="delete every dead letter")
    purge.add_argument("--yes", action="store_true", help="confirm")
    purge.set_defaults(handler=run_dlq_purge)

    bench.register(subparsers)


def run_worker(args: argparse.Namespace) -> int:
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
    if not args.input.is_file():
        raise ConfigurationError(f"input file {args.input} does not exist")
    process_file(Settings.from_env(), source=args.input, output=args.output)
    print(f"wrote {args.output}")
    return 0


def _sqs_pipeline() -> MediaPipeline:
    return MediaPipeline(Settings.from_env())


def run_queues_ensure(args: argparse.Namespace) -> int:
    broker = _sqs_pipeline().broker
    ensure = getattr(broker, "ensure_queues", None)
    if ensure is None:
        print("this broker declares its queues itself; nothing to do")
        return 0
    for role, url in ensure().items():
        print(f"{role}: {url}")
    return 0


def run_dlq_list(args: argparse.Namespace) -> int:
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
    if not args.yes:
        raise ConfigurationError("purging deletes every dead letter; pass --yes to confirm")
    print(f"{DeadLetterQueue(_sqs_pipeline().broker).purge()} message(s) purged")
    return 0
