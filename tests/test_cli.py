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
