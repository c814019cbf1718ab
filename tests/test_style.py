"""The style checks of CONTRIBUTING.md: ruff on the whole repository and mypy on the public API.

Both run as subprocesses of the venv's own tools and fail with their output. ``MYPY_FILES`` are the
modules that define the names in ``latentwidgets.__all__`` and the public signatures around them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

MYPY_FILES = [
    "latentwidgets/__init__.py",
    "latentwidgets/models/__init__.py",
    "latentwidgets/models/base.py",
    "latentwidgets/directions/__init__.py",
    "latentwidgets/directions/record.py",
    "latentwidgets/directions/edits.py",
    "latentwidgets/directions/layers.py",
    "latentwidgets/directions/factors.py",
    "latentwidgets/edit.py",
    "latentwidgets/regress/__init__.py",
    "latentwidgets/regress/net.py",
    "latentwidgets/regress/shipped.py",
    "latentwidgets/evaluate/__init__.py",
    "latentwidgets/evaluate/controllers.py",
    "latentwidgets/evaluate/correlation.py",
    "latentwidgets/evaluate/factors.py",
    "latentwidgets/evaluate/metrics.py",
    "latentwidgets/evaluate/mod.py",
    "latentwidgets/evaluate/mod_protocol.py",
    "latentwidgets/evaluate/zoo_report.py",
    "latentwidgets/course/__init__.py",
    "latentwidgets/course/direction.py",
    "latentwidgets/course/goals.py",
]
#: the command CONTRIBUTING.md gives
MYPY = [str(BIN / "mypy"), *MYPY_FILES]


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_is_clean():
    res = _run([str(BIN / "ruff"), "check", "."])
    assert res.returncode == 0, f"ruff check . found problems:\n{res.stdout}{res.stderr}"


def test_mypy_is_clean_on_the_public_api():
    res = _run(MYPY)
    assert res.returncode == 0, f"{' '.join(['mypy', *MYPY_FILES])} found problems:\n{res.stdout}{res.stderr}"
