"""The ``anb`` command parses its arguments without loading the heavy libraries."""

from __future__ import annotations

import json
import os
import subprocess
import sys

HEAVY = ("dramatiq", "boto3", "av", "sqlalchemy", "moto")


def test_building_the_parser_imports_none_of_the_heavy_libraries() -> None:
    # A fresh interpreter: this test process has long imported all of them.
    probe = ("import json, sys\n"
             "from anb_pipeline.cli import build_parser\n"
             "build_parser()\n"
             f"print(json.dumps([name for name in {HEAVY!r} if name in sys.modules]))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True, timeout=60)
    assert json.loads(done.stdout) == []


def test_every_command_still_answers_help() -> None:
    for command in ("worker", "process", "dlq", "bench", "web", "db", "up", "status",
                    "reconcile", "demo"):
        done = subprocess.run([sys.executable, "-m", "anb_pipeline.cli", command, "--help"],
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0 and done.stdout.startswith("usage: anb "), done.stderr


def test_up_runs_one_web_process_per_core_unless_told() -> None:
    from anb_pipeline.cli import build_parser

    assert build_parser().parse_args(["up"]).web_workers == os.cpu_count()
    assert build_parser().parse_args(["up", "--web-workers", "3"]).web_workers == 3


def test_a_stack_file_left_by_a_stopped_anb_up_is_named_not_used(tmp_path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    (tmp_path / "stack.json").write_text(json.dumps({
        "pid": int(gone.stdout), "web_url": "http://127.0.0.1:1",
        "env": {"ANB_BROKER_URL": "sqs://", "ANB_AWS_ENDPOINT_URL": "http://127.0.0.1:1"}}))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANB_", "AWS_"))}
    done = subprocess.run([sys.executable, "-m", "anb_pipeline.cli", "dlq", "list",
                           "--data-dir", str(tmp_path)], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr == (f"anb: error: {tmp_path / 'stack.json'} is left from an `anb up` that "
                           f"is no longer running; start it again with `anb up --data-dir "
                           f"{tmp_path}`, or export ANB_BROKER_URL and friends\n")
