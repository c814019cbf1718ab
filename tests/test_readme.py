"""The README stays true: its python code blocks run as written, the commands it shows exist, and the
wheel it tells you to build installs a working package (widget JS/CSS and the embedded models inside)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import latentwidgets as lw

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


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
    for cmd in re.findall(r"^(scripts/\w+)", text, flags=re.M):
        path = ROOT / cmd
        assert path.exists() and path.stat().st_mode & 0o111, f"README shows {cmd}, which is not an executable file"
    for script in set(re.findall(r"\bscripts/[\w.]+\.(?:py|sh)\b", text)):
        assert (ROOT / script).is_file(), f"README names {script}, which does not exist"
    assert "scripts/test" in (ROOT / ".ci" / "run").read_text(), ".ci/run must run the README's test command"
    assert (ROOT / "docs" / "samples.png").exists()


def test_extras_are_version_ranges():
    # the table read by hand, as scripts/setup does (tomllib is Python >= 3.11)
    block = (ROOT / "pyproject.toml").read_text(encoding="utf-8").split("[project.optional-dependencies]")[1]
    block = block.split("\n[", 1)[0]
    extras = re.findall(r"^([A-Za-z0-9_.-]+)\s*=", block, flags=re.M)
    assert {"notebook", "docs", "test", "models"} <= set(extras)
    requirements = re.findall(r'"([^"#]+)"', block)
    assert any(r.startswith("jupyterlab") for r in requirements)
    pinned = [r for r in requirements if "==" in r]
    assert not pinned, f"extras must give ranges, not one version: {pinned}"
    text = README.read_text(encoding="utf-8")
    assert all(f"`{name}`" in text for name in extras), "the README's install section names every extra"


def test_readme_install_commands_name_this_version():
    text = README.read_text(encoding="utf-8")
    wheels = re.findall(r"latentwidgets-([\w.]+)-py3-none-any\.whl", text)
    assert wheels and set(wheels) == {lw.__version__}, f"README's wheel file names {set(wheels)}, not {lw.__version__}"
    assert re.search(r'pip install "latentwidgets\[notebook\] @ git\+', text), "README lost the git URL install"


@pytest.mark.slow
def test_the_readme_wheel_installs_a_working_package(tmp_path):
    """Build the wheel as the README does (offline: the backend comes from the test extra), install it
    alone into a folder and use it from outside the repository: models load, widgets get their JS."""
    dist = tmp_path / "dist"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    res = subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(dist), str(ROOT)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    wheel = dist / f"latentwidgets-{lw.__version__}-py3-none-any.whl"
    names = set(zipfile.ZipFile(wheel).namelist())
    static = sorted(p.name for p in (ROOT / "latentwidgets" / "widgets" / "static").iterdir())
    weights = sorted(p.name for p in (ROOT / "latentwidgets" / "zoo" / "weights").glob("*.safetensors"))
    assert any(n.endswith(".js") for n in static) and any(n.endswith(".css") for n in static) and weights
    wanted = [f"latentwidgets/widgets/static/{n}" for n in static] + [f"latentwidgets/zoo/weights/{n}" for n in weights]
    missing = [n for n in wanted if n not in names]
    assert not missing, f"the wheel lacks {missing}"
    assert "latentwidgets_server/__init__.py" in names
    assert any(n.endswith("etc/jupyter/jupyter_server_config.d/latentwidgets.json") for n in names)

    site = tmp_path / "site"
    res = subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", str(site), str(wheel)],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    outside = tmp_path / "outside"
    outside.mkdir()
    code = ("import latentwidgets as lw; import sys\n"
            "assert lw.__file__.startswith(sys.argv[1]), lw.__file__\n"
            "model = lw.load('sprites-style')\n"
            "images = model.generate(model.sample_z(2, seed=0))\n"
            "d = lw.find_directions(model, 'closed_form', n_components=2)\n"
            "ex = lw.DirectionExplorer(model, d, n=1)\n"
            "print(tuple(images.shape), len(ex._esm), len(ex._css))\n")
    env = {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-c", code, str(site)], cwd=outside, env=env, capture_output=True,
                         text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    shape, esm, css = res.stdout.strip().rsplit(" ", 2)
    assert shape == "(2, 3, 64, 64)" and int(esm) > 10_000 and int(css) > 1_000, res.stdout
