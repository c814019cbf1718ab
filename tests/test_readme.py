"""The README stays true: its python code blocks run as written, and the commands it shows exist."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_readme_tour_runs(tmp_path, monkeypatch):
    blocks = _python_blocks()
    assert len(blocks) >= 2, "README.md lost its tour (two python code blocks)"
    monkeypatch.chdir(tmp_path)  # the tour saves a file
    scope: dict = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"README.md (python block {i + 1})", "exec"), scope)
    assert scope["images"].shape == (8, 3, 64, 64)
    assert scope["steered"].shape == scope["images"].shape
    assert (tmp_path / "pca-directions.json").exists()
    assert scope["ex"].image.shape[1:] == (3, 64, 64)


def test_readme_shows_the_commands_that_exist():
    text = README.read_text(encoding="utf-8")
    root = README.parent
    for cmd in re.findall(r"^(scripts/\w+)", text, flags=re.M):
        path = root / cmd
        assert path.exists() and path.stat().st_mode & 0o111, f"README shows {cmd}, which is not an executable file"
    assert "scripts/test" in (root / ".ci" / "run").read_text(), ".ci/run must run the README's test command"
    assert (root / "docs" / "samples.png").exists()
