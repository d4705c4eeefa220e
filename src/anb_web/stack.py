"""``anb up``: the whole product on one machine, in the foreground.

It runs an in-process AWS emulator (moto) for SQS and S3 unless real URLs are configured,
then the web app and N workers as child processes. Ctrl-C or SIGTERM stops every child:
SIGTERM first (workers finish or give back their step), SIGKILL after a grace period.
Each child also gets SIGTERM from the kernel if this process dies (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from moto.server import ThreadedMotoServer

from anb_pipeline import MediaPipeline, S3Storage, Settings
from anb_pipeline.ops import EMULATOR_CREDENTIALS, start_emulator

from .snapshot import restore_bucket, snapshot_bucket

#: The whole stop, children included, must fit in 30 s; this leaves room for the snapshot.
CHILD_STOP_GRACE_S = 20
LOCAL_BUCKET = "anb-local"
#: Long polls end this often on one machine, so a stopping worker notices within seconds.
LOCAL_SQS_WAIT_S = 5
WORKER_RESTART_DELAY_S = 2
PR_SET_PDEATHSIG = 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    up = subparsers.add_parser("up", help="run the whole product on this machine")
    up.add_argument("--host", default="127.0.0.1")
    up.add_argument("--port", type=int, default=8000)
    up.add_argument("--workers", type=int, default=1, help="worker processes (0: none)")
    up.add_argument("--data-dir", type=Path, default=Path(".anb"))
    up.set_defaults(handler=run_up)


def local_secret(data_dir: Path) -> str:
    """The JWT key of this data directory: made once, kept, so restarts keep sessions."""
    path = data_dir / "secrets.json"
    if path.exists():
        return str(json.loads(path.read_text())["jwt_secret"])
    secret = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(json.dumps({"jwt_secret": secret}))
    return secret


def _die_with_parent() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


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
            env.setdefault("ANB_STORAGE_URL", f"s3://{LOCAL_BUCKET}/media")
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
            [sys.executable, "-m", "anb_pipeline.cli", *command], env=self.env,
            start_new_session=True, preexec_fn=_die_with_parent,
        )

    def start_children(self) -> None:
        self.spawn("web", ["web", "--host", self.args.host, "--port", str(self.args.port)])
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

    def stop(self, pipeline: MediaPipeline | None) -> None:
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


def _signal_group(child: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(child.pid, signum)


def run_up(args: argparse.Namespace) -> int:
    from .reconcile import reconcile

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
        base = f"http://{args.host}:{args.port}"
        print(f"ANB is up: {base}  (API {base}/api, OpenAPI {base}/openapi.json, "
              f"health {base}/health)", flush=True)
        print(f"data: {stack.data_dir}  workers: {args.workers}  broker: "
              f"{stack.env['ANB_BROKER_URL']}  storage: {stack.env['ANB_STORAGE_URL']}", flush=True)
        return stack.supervise()
    finally:
        stack.stop(pipeline)
        print("ANB stopped", flush=True)
