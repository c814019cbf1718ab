"""Each training recipe runs a few steps (``--smoke``) end to end: what CI runs of training.

Parametrised over the ``train_*.py`` modules present in ``latentwidgets/zoo`` and the regressor's
``latentwidgets.regress.recipe``, so a new zoo recipe is smoke-tested as soon as it lands. A smoke run writes into
a temporary folder, never over the shipped weights.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import latentwidgets.zoo as zoo
from latentwidgets._checkpoint import read_meta

SMOKE_MAX_STEPS = 50

RECIPES = sorted(f"latentwidgets.zoo.{p.stem}" for p in Path(zoo.__file__).parent.glob("train_*.py")) + [
    "latentwidgets.regress.recipe"]


def _digest(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.glob("*.safetensors"))}


def test_the_style_recipe_is_there():
    assert "latentwidgets.zoo.train_style" in RECIPES


def test_the_regressor_recipe_is_there():
    assert "-m latentwidgets.regress.recipe " in zoo.RECIPES["sprites-style-regressor"]


@pytest.mark.slow
@pytest.mark.parametrize("recipe", RECIPES)
def test_recipe_smoke(recipe: str, tmp_path: Path):
    shipped = _digest(zoo.WEIGHTS_DIR)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    proc = subprocess.run([sys.executable, "-m", recipe, "--smoke"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, f"{recipe} --smoke failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert "checkpoint at step" in proc.stdout, f"{recipe} --smoke never wrote its resume checkpoint"
    # the smoke run must leave the shipped weights alone and write nothing into the working folder
    # (a long training run in the background may refresh them meanwhile: those carry a real step count)
    for name, digest in _digest(zoo.WEIGHTS_DIR).items():
        if shipped.get(name) != digest:
            step = read_meta(zoo.WEIGHTS_DIR / name).get("step", 0)
            assert step > SMOKE_MAX_STEPS, f"{recipe} --smoke overwrote the shipped weights {name}"
    assert not any(tmp_path.iterdir()), f"{recipe} --smoke wrote {[p.name for p in tmp_path.iterdir()]}"
