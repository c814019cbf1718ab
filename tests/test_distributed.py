"""Discovery under torchrun: 2 CPU processes (gloo) give the record a single process gives on the same seeds."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from latentwidgets.directions import Directions, find_directions
from latentwidgets.models import load

HERE = Path(__file__).resolve().parent
TORCHRUN = Path(sys.executable).with_name("torchrun")


def tiny_conv_generator() -> nn.Module:
    """Random-init DCGAN-style generator: z 8 -> 32x4x4 -> 16x8x8 (1,024 values at layer '2') -> 3x16x16."""
    torch.manual_seed(3)
    return nn.Sequential(
        nn.ConvTranspose2d(8, 32, 4), nn.ReLU(),
        nn.ConvTranspose2d(32, 16, 4, 2, 1), nn.ReLU(),
        nn.ConvTranspose2d(16, 3, 4, 2, 1), nn.Tanh(),
    )


def largest_angle_deg(a: torch.Tensor, b: torch.Tensor) -> float:
    qa, qb = torch.linalg.qr(a.double().t())[0], torch.linalg.qr(b.double().t())[0]
    s = torch.linalg.svdvals(qa.t() @ qb).clamp(max=1.0)
    return math.degrees(math.acos(float(s.min())))


def _torchrun(tmp_path: Path, out: str, options: list, method: str = "pca") -> dict:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1")
    cmd = [str(TORCHRUN), "--standalone", "--nproc_per_node=2", "-m", "latentwidgets.directions.run",
           "--model", "test_distributed:tiny_conv_generator", "--method", method, "--out", str(tmp_path / out)]
    for opt in options:
        cmd += ["--option", opt]
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("{")]
    assert len(lines) == 1, res.stdout          # one rank writes
    return json.loads(lines[0])


@pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun is not installed beside this python")
@pytest.mark.parametrize("options", [
    ["space='act'", "layer='2'", "estimator='sketch'", "sketch_size=64"],   # sketch + regression back to z
    ["space='z'"],                                                            # exact covariance
])
def test_two_processes_give_the_single_process_record(tmp_path, options):
    common = ["n_components=5", "n_samples=20000", "regression_samples=9000", "seed=4", "progress=False"]
    report = _torchrun(tmp_path, "rec", common + options)
    assert report["world_size"] == 2 and report["samples"] == 20000
    model = load(tiny_conv_generator())
    dist_rec = Directions.load(tmp_path / "rec", model)
    single = find_directions(model, "pca", **_options(common + options))
    assert dist_rec.samples == single.samples == 20000
    assert dist_rec.info["world_size"] == 2
    assert largest_angle_deg(dist_rec.vectors, single.vectors) < 0.05
    assert torch.allclose(dist_rec.sigma, single.sigma, rtol=1e-4)
    for i in range(5):
        assert abs(float(dist_rec.vectors[i] @ single.vectors[i])) > 0.9999
    if "act_components" in single.state:
        assert largest_angle_deg(dist_rec.state["act_components"], single.state["act_components"]) < 0.05
        assert dist_rec.info["regression_r2"] == pytest.approx(single.info["regression_r2"], rel=1e-6)


def _options(pairs: list) -> dict:
    kwargs = {}
    for opt in pairs:
        key, _, value = opt.partition("=")
        kwargs[key] = eval(value)  # the literals written in the tests
    return kwargs


@pytest.mark.skipif(not TORCHRUN.exists(), reason="torchrun is not installed beside this python")
def test_two_processes_give_the_single_process_tca_record(tmp_path):
    # statistics (mode scatters, scales, sigmas, held-out R^2) summed over ranks; the regression data-parallel
    options = ["layer='2'", "n_samples=9000", "steps=15", "batch_size=32", "eval_samples=300", "seed=1",
               "modes={'channel': 2, 'height': 1, 'width': 1}", "multilinear=((0, 1, 0),)", "progress=False"]
    report = _torchrun(tmp_path, "tca", options, method="tensor")
    assert report["world_size"] == 2 and report["samples"] == 9000
    model = load(tiny_conv_generator())
    dist_rec = Directions.load(tmp_path / "tca", model)
    single = find_directions(model, "tensor", **_options(options))
    for key in ("basis_channel", "basis_height", "basis_width", "act_mean", "latent_mean", "act_patterns"):
        assert torch.allclose(dist_rec.state[key], single.state[key], atol=1e-5), key
    assert torch.allclose(dist_rec.state["scales"], single.state["scales"], rtol=1e-5)
    assert torch.allclose(dist_rec.state["act_sigma"], single.state["act_sigma"], rtol=1e-4)
    assert torch.allclose(dist_rec.state["tucker_core"], single.state["tucker_core"], atol=1e-4)
    assert (dist_rec.vectors * single.vectors).sum(1).min() > 0.9999
    assert torch.allclose(dist_rec.sigma, single.sigma, rtol=1e-3)
    assert dist_rec.info["regression_r2"] == pytest.approx(single.info["regression_r2"], abs=1e-4)


def test_methods_without_merged_statistics_refuse_several_processes(tmp_path):
    env = dict(os.environ, WORLD_SIZE="2")
    res = subprocess.run([sys.executable, "-m", "latentwidgets.directions.run", "--model", "sprites-style",
                          "--method", "attribute", "--out", str(tmp_path / "x")], env=env, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode != 0 and "does not reduce its statistics" in res.stderr
