"""Memory of activation PCA does not grow with the number of samples (fresh subprocesses, peak RSS)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

CHILD = textwrap.dedent("""
    import json, resource, sys
    import torch, torch.nn as nn
    from latentwidgets.models import load
    from latentwidgets.directions import find_directions
    torch.manual_seed(0)
    net = nn.Sequential(nn.ConvTranspose2d(16, 32, 4), nn.ReLU(), nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(),
                        nn.ConvTranspose2d(32, 3, 4, 2, 1), nn.Tanh())
    model = load(net)                 # layer '2': 32 x 8 x 8 = 2048 values (the sketch, as for layers wider than 4096)
    kw = dict(layer="2", n_components=5, estimator=sys.argv[2], batch_size=1000, regression_samples=1000,
              sketch_size=64, progress=False)
    find_directions(model, "pca", n_samples=2000, **kw)          # warm: every code path loaded once
    with open("/proc/self/status") as f:
        base = [int(l.split()[1]) for l in f if l.startswith("VmRSS:")][0] / 1024
    find_directions(model, "pca", n_samples=int(sys.argv[1]), **kw)
    print(json.dumps(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base))
""")


def _peak_increase_mb(n: int, estimator: str) -> float:
    res = subprocess.run([sys.executable, "-c", CHILD, str(n), estimator], capture_output=True, text=True,
                         timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert res.returncode == 0, res.stderr[-2000:]
    return float(json.loads(res.stdout.strip().splitlines()[-1]))


@pytest.mark.slow
def test_sketch_pca_memory_is_flat_in_the_number_of_samples():
    small, big = _peak_increase_mb(5_000, "sketch"), _peak_increase_mb(30_000, "sketch")
    assert big <= 1.2 * small + 8, (small, big)
    # the measurement can see growth: collecting the samples (estimator='lowrank') adds about 0.5 GB at 30k
    collected = _peak_increase_mb(30_000, "lowrank")
    assert collected > big + 150, (big, collected)
