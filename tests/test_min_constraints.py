"""constraints/min.txt (tox -e min) is the set of floors pyproject.toml declares, kept in sync."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "min_constraints.py"
CONSTRAINTS = ROOT / "constraints" / "min.txt"


def _check(*, pyproject: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TOOL), "--check", "--pyproject", str(pyproject), "--out", str(CONSTRAINTS)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_constraints_match_the_declared_floors() -> None:
    result = _check(pyproject=ROOT / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_raised_floor_makes_the_check_fail_with_a_diff(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    text = (ROOT / "pyproject.toml").read_text()
    assert '"starlette>=1.7"' in text
    pyproject.write_text(text.replace('"starlette>=1.7"', '"starlette>=1.9"'))
    result = _check(pyproject=pyproject)
    assert result.returncode == 1
    assert "-starlette==1.7\n+starlette==1.9\n" in result.stdout
    assert "run python tools/min_constraints.py" in result.stderr


def test_a_dependency_without_a_floor_is_refused(tmp_path: Path) -> None:
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text((ROOT / "pyproject.toml").read_text().replace('"jinja2>=3.1"', '"jinja2"'))
    result = _check(pyproject=pyproject)
    assert result.returncode != 0
    assert "jinja2 declares no floor" in result.stderr
