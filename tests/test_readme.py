"""The README's two commands, exactly as a newcomer runs them, in a fresh clone."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from anb_pipeline.emulator import free_port
from helpers import stack_healthy

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: A fresh virtual environment installs every dependency: a minute or two from pip's cache.
INSTALL_AND_START_TIMEOUT_S = 600


def readme_commands() -> list[str]:
    return [block.strip() for block in re.findall(r"```sh\n(.*?)```", README.read_text(), re.S)]


def test_ci_runs_exactly_the_readme_test_command() -> None:
    test_command = readme_commands()[1]
    assert "tox" in test_command
    assert test_command in (ROOT / ".ci" / "run").read_text()


def _running_from(clone: Path) -> list[int]:
    """Live processes started from the clone's virtual environment."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        command = " ".join(proc.info["cmdline"] or [])
        if str(clone) in command and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc.pid)
    return found


@pytest.mark.media
@pytest.mark.slow
def test_the_first_command_brings_the_stack_up_in_a_fresh_clone(tmp_path: Path) -> None:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: there is nothing to clone")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANB_", "AWS_", "VIRTUAL_ENV", "PYTHONPATH"))}
    command = f"{readme_commands()[0]} --port {port} --data-dir {tmp_path / 'data'}"
    with open(tmp_path / "up.log", "wb") as log:
        up = subprocess.Popen(["bash", "-c", command], cwd=clone, env=env, stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.monotonic() + INSTALL_AND_START_TIMEOUT_S
            while not stack_healthy(url):
                assert up.poll() is None, (tmp_path / "up.log").read_text()[-3000:]
                assert time.monotonic() < deadline, "the stack did not come up"
                time.sleep(1)
            demo = subprocess.run([str(clone / ".venv" / "bin" / "anb"), "demo", "--url", url],
                                  env=env, capture_output=True, text=True, timeout=300)
        finally:
            os.killpg(up.pid, signal.SIGTERM)
            up.wait(timeout=40)
            deadline = time.monotonic() + 40
            while _running_from(clone) and time.monotonic() < deadline:
                time.sleep(0.5)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "all output invariants hold" in demo.stdout
    assert _running_from(clone) == [], "a process of the stack outlived the stop"
