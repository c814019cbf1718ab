"""The README's tour runs as written: its first python code block is executed as is."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_tour_runs():
    blocks = _python_blocks()
    assert blocks, "README.md has no python code block"
    scope: dict = {}
    exec(compile(blocks[0], "README.md (tour)", "exec"), scope)
    assert scope["images"].shape == (8, 3, 64, 64)
    assert scope["steered"].shape == scope["images"].shape


def test_readme_shows_the_commands_that_exist():
    text = README.read_text(encoding="utf-8")
    root = README.parent
    for cmd in re.findall(r"^(scripts/\w+)", text, flags=re.M):
        path = root / cmd
        assert path.exists() and path.stat().st_mode & 0o111, f"README shows {cmd}, which is not an executable file"
    assert "scripts/test" in (root / ".ci" / "run").read_text(), ".ci/run must run the README's test command"
    assert (root / "docs" / "samples.png").exists()
