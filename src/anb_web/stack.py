"""``anb up``: the whole product on one machine, in the foreground.

It runs an in-process AWS emulator (moto) for SQS and S3 unless real URLs are configured,
then the web app (one process per core by default) and N workers as child processes. The
emulated bucket holds ``originals/``, ``processed/`` and ``work/`` at the top level, as the
deployment's does. Once up, it writes ``<data-dir>/stack.json`` for the operator commands
(:mod:`anb_pipeline.local_stack`). Ctrl-C or SIGTERM stops every child: SIGTERM first
(workers finish or give back their step), SIGKILL after a grace period. Each child also
gets SIGTERM from the kernel if this process dies (:mod:`anb_pipeline.lifeline`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from anb_pipeline import ConfigurationError, MediaPipeline, S3Storage, Settings
from anb_pipeline.ops import (
    EMULATOR_CREDENTIALS,
    PARENT_PID_ENV,
    stack_file,
    start_emulator,
    write_local_stack,
)

from .snapshot import restore_bucket, snapshot_bucket

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer

#: The whole stop, children included, must fit in 30 s; this leaves room for the snapshot.
CHILD_STOP_GRACE_S = 20
LOCAL_BUCKET = "anb-local"
#: Long polls end this often on one machine (SQS allows 20 s), so a stopping worker
#: notices within seconds; the emulator serves the extra empty receives at no cost.
LOCAL_SQS_WAIT_S = 5
WORKER_RESTART_DELAY_S = 2


def local_secret(data_dir: Path) -> str:
    """The JWT key of this data directory: made once, kept, so restarts keep sessions."""
    path = data_dir / "secrets.json"
    if path.exists():
        return str(json.loads(path.read_text())["jwt_secret"])
    secret = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(json.dumps({"jwt_secret": secret}))
    return secret


class Stack:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.data_dir: Path = args.data_dir.resolve()
        self.env = dict(os.environ)
        self.emulator: ThreadedMotoServer | None = None
        #: True when this run's queue is the emulator's, new and empty: every unfinished
        #: video is then stranded.
        self.emulated_queue = False
        #: True when storage is the emulator's in-memory bucket, kept in the data dir.
        self.emulated_storage = False
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.stopping = threading.Event()

    def configure(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = self.env
        env.setdefault("ANB_DATABASE_URL", f"sqlite:///{self.data_dir / 'anb.db'}")
        env.setdefault("ANB_JWT_SECRET", local_secret(self.data_dir))
        env.setdefault("ANB_EVENT_SINK", "anb_web.sink:make_sink")
        env.setdefault("ANB_WORK_DIR", str(self.data_dir / "work"))
        (self.data_dir / "work").mkdir(exist_ok=True)
        if "ANB_BROKER_URL" not in env or "ANB_STORAGE_URL" not in env:
            # The emulator stands in only for what was not configured.
            self.emulator, endpoint = start_emulator(self.args.host)
            self.emulated_queue = "ANB_BROKER_URL" not in env
            self.emulated_storage = "ANB_STORAGE_URL" not in env
            env.update(EMULATOR_CREDENTIALS, ANB_AWS_ENDPOINT_URL=endpoint)
            env.setdefault("ANB_BROKER_URL", "sqs://")
            env.setdefault("ANB_STORAGE_URL", f"s3://{LOCAL_BUCKET}")
            env.setdefault("ANB_SQS_WAIT_TIME_S", str(LOCAL_SQS_WAIT_S))
        os.environ.update(env)

    def provision(self) -> MediaPipeline:
        subprocess.run([sys.executable, "-m", "anb_pipeline.cli", "db", "upgrade"],
                       env=self.env, check=True)
        pipeline = MediaPipeline(Settings.from_env(self.env))
        if isinstance(pipeline.storage, S3Storage):
            pipeline.storage.ensure_bucket()
        ensure = getattr(pipeline.broker, "ensure_queues", None)
        if ensure is not None:
            ensure()
        if self.emulated_storage:
            restored = restore_bucket(pipeline.storage, self.data_dir / "s3")
            print(f"restored {restored} stored object(s) into the emulator", flush=True)
        return pipeline

    def spawn(self, name: str, command: list[str]) -> None:
        self.children[name] = subprocess.Popen(
            [sys.executable, "-m", "anb_pipeline.cli", *command],
            env={**self.env, PARENT_PID_ENV: str(os.getpid())}, start_new_session=True,
        )

    def start_children(self) -> None:
        self.spawn("web", ["web", "--host", self.args.host, "--port", str(self.args.port),
                           "--workers", str(self.args.web_workers)])
        for index in range(self.args.workers):
            self.spawn(f"worker-{index}", ["worker", "--processes", "1", "--threads", "1"])

    def supervise(self) -> int:
        while not self.stopping.wait(0.5):
            for name, child in list(self.children.items()):
                code = child.poll()
                if code is None:
                    continue
                if name == "web":
                    print(f"anb: the web app exited with code {code}; stopping", file=sys.stderr)
                    return 1
                print(f"anb: {name} exited with code {code}; restarting", file=sys.stderr)
                time.sleep(WORKER_RESTART_DELAY_S)
                self.spawn(name, ["worker", "--processes", "1", "--threads", "1"])
        return 0

    def banner(self, pipeline: MediaPipeline) -> str:
        """Where everything is: web URL, emulator endpoint, bucket, queues, data."""
        settings = pipeline.settings
        base = self.web_url
        lines = [f"ANB is up: {base}  (API {base}/api, OpenAPI {base}/openapi.json, "
                 f"health {base}/health)",
                 f"web processes: {self.args.web_workers}  workers: {self.args.workers}  "
                 f"data: {self.data_dir}"]
        if self.emulator is not None:
            lines.append(f"AWS emulator (SQS, S3): {self.env['ANB_AWS_ENDPOINT_URL']}  "
                         f"region {settings.aws_region}  credentials {_credentials_hint()}")
        lines.append(f"broker: {settings.broker_url}  queues: {settings.queue_name}, "
                     f"{settings.dlq_name} (dead letters)")
        bucket = getattr(pipeline.storage, "bucket", None)
        lines.append(f"storage: {settings.storage_url}" + (
            f"  bucket: {bucket} (originals/, processed/, work/)" if bucket else ""))
        lines.append(f"operator commands (anb status, anb dlq list, anb reconcile) read "
                     f"{stack_file(self.data_dir)}")
        return "\n".join(lines)

    @property
    def web_url(self) -> str:
        return f"http://{self.args.host}:{self.args.port}"

    def stop(self, pipeline: MediaPipeline | None) -> None:
        with contextlib.suppress(FileNotFoundError):
            stack_file(self.data_dir).unlink()
        for child in self.children.values():
            _signal_group(child, signal.SIGTERM)
        deadline = time.monotonic() + CHILD_STOP_GRACE_S
        for child in self.children.values():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(child, signal.SIGKILL)
                child.wait()
        if self.emulator is not None:
            if pipeline is not None and self.emulated_storage:
                saved = snapshot_bucket(pipeline.storage, self.data_dir / "s3")
                print(f"saved {saved} stored object(s) to {self.data_dir / 's3'}", flush=True)
            self.emulator.stop()


def _credentials_hint() -> str:
    """The emulator's credentials as the AWS CLI takes them."""
    return " ".join(f"{name}={value}" for name, value in EMULATOR_CREDENTIALS.items())


def _signal_group(child: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signum)


def run_up(args: argparse.Namespace) -> int:
    from .reconcile import reconcile

    if args.web_workers < 1:
        raise ConfigurationError("--web-workers must be 1 or more")
    stack = Stack(args)
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stack.stopping.set())
    pipeline = None
    try:
        stack.configure()
        pipeline = stack.provision()
        requeued = reconcile(pipeline, stale_after_s=0 if stack.emulated_queue else None)
        print(f"re-enqueued {requeued} stranded video(s)", flush=True)
        stack.start_children()
        write_local_stack(stack.data_dir, env=stack.env, web_url=stack.web_url)
        print(stack.banner(pipeline), flush=True)
        return stack.supervise()
    finally:
        stack.stop(pipeline)
        print("ANB stopped", flush=True)
