"""Memory of activation PCA, TCA and attribute sampling does not grow with the number of samples (fresh
subprocesses, peak RSS over the process's RSS after a warm-up run)."""

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
    status = lambda key: [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(key)][0] / 1024
    open("/proc/self/clear_refs", "w").write("5")   # the peak (VmHWM) restarts here: import-time peaks left out
    base = status("VmRSS:")
    find_directions(model, "pca", n_samples=int(sys.argv[1]), **kw)
    print(json.dumps(status("VmHWM:") - base))
""")


def _held_mb(n: int, width: int) -> float:
    """What holding ``n`` float32 rows of ``width`` values costs, in MB (as the children report: MiB)."""
    return n * width * 4 / 2**20


def _peak_increase_mb(n: int, estimator: str) -> float:
    res = subprocess.run([sys.executable, "-c", CHILD, str(n), estimator], capture_output=True, text=True,
                         timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert res.returncode == 0, res.stderr[-2000:]
    return float(json.loads(res.stdout.strip().splitlines()[-1]))


@pytest.mark.slow
def test_sketch_pca_memory_is_flat_in_the_number_of_samples():
    small, big = _peak_increase_mb(5_000, "sketch"), _peak_increase_mb(30_000, "sketch")
    # the measurement can see growth: collecting the samples (estimator='lowrank') adds about 1.6 GB at 30k
    collected = _peak_increase_mb(30_000, "lowrank")
    assert collected > big + 150, (big, collected)
    # six times the samples add less than a tenth of what collecting them costs (holding the 30k activations
    # once, 245 MB, would exceed it); the allocator's noise at this size is tens of MB (15-78 MB seen)
    assert big - small < 0.1 * collected, (small, big, collected)


TCA_CHILD = textwrap.dedent("""
    import json, resource, sys
    import torch, torch.nn as nn
    from latentwidgets.models import load
    from latentwidgets.directions import find_directions
    from latentwidgets.directions.sampling import latent_batches
    torch.manual_seed(0)
    net = nn.Sequential(nn.ConvTranspose2d(16, 32, 4), nn.ReLU(), nn.ConvTranspose2d(32, 32, 4, 2, 1), nn.ReLU(),
                        nn.ConvTranspose2d(32, 3, 4, 2, 1), nn.Tanh())
    model = load(net)                 # layer '2': 32 x 8 x 8 = 2048 values
    kw = dict(layer="2", steps=3, batch_size=16, eval_samples=100, progress=False, tucker_ranks=(4, 4, 4, 4))
    find_directions(model, "tensor", n_samples=1000, **kw)          # warm: every code path loaded once
    status = lambda key: [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(key)][0] / 1024
    open("/proc/self/clear_refs", "w").write("5")   # the peak (VmHWM) restarts here: import-time peaks left out
    base = status("VmRSS:")
    n = int(sys.argv[1])
    if sys.argv[2] == "collect":      # what holding the activations costs (the computation before streaming)
        x = torch.cat([model.activations(lat, "2") for _, lat in latent_batches(model, n, 0, 256)])
        x = x - x.mean(0)
    else:
        find_directions(model, "tensor", n_samples=n, **kw)
    print(json.dumps(status("VmHWM:") - base))
""")


def _peak_increase_tca_mb(n: int, mode: str) -> float:
    res = subprocess.run([sys.executable, "-c", TCA_CHILD, str(n), mode], capture_output=True, text=True,
                         timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert res.returncode == 0, res.stderr[-2000:]
    return float(json.loads(res.stdout.strip().splitlines()[-1]))


@pytest.mark.slow
def test_tca_memory_is_flat_in_the_number_of_samples():
    small, big = _peak_increase_tca_mb(2_000, "tca"), _peak_increase_tca_mb(16_000, "tca")
    # eight times the samples add less than half of what holding the extra 14,000 activations once would
    # (14,000 x 2,048 floats: 115 MB); the allocator's noise is 0-4 MB idle, 27.5 MB seen once under load
    assert big - small < 0.5 * _held_mb(16_000 - 2_000, 2_048), (small, big)
    collected = _peak_increase_tca_mb(16_000, "collect")   # 16,000 x 2,048 floats, twice: about 0.26 GB
    assert collected > big + 100, (big, collected)


ATTRIBUTE_CHILD = textwrap.dedent("""
    import json, resource, sys
    import torch, torch.nn as nn
    from latentwidgets.models import load
    from latentwidgets.directions import find_directions
    from latentwidgets.directions.sampling import sample_latents
    torch.manual_seed(0)
    net = nn.Sequential(nn.ConvTranspose2d(1024, 16, 4), nn.ReLU(), nn.ConvTranspose2d(16, 3, 4, 2, 1), nn.Tanh())
    model = load(net)                 # z: 1,024 values; 8 px images
    kw = dict(attributes={"brightness": lambda im: im.mean((1, 2, 3))}, kind="boundary", buffer=1000, progress=False)
    find_directions(model, "attribute", n_samples=2000, **kw)          # warm: every code path loaded once
    status = lambda key: [int(l.split()[1]) for l in open("/proc/self/status") if l.startswith(key)][0] / 1024
    open("/proc/self/clear_refs", "w").write("5")   # the peak (VmHWM) restarts here: import-time peaks left out
    base = status("VmRSS:")
    n = int(sys.argv[1])
    if sys.argv[2] == "collect":      # what holding the latents costs (the sampling before streaming)
        z, _ = sample_latents(model, n)
    else:
        find_directions(model, "attribute", n_samples=n, **kw)
    print(json.dumps(status("VmHWM:") - base))
""")


def _peak_increase_attribute_mb(n: int, mode: str) -> float:
    res = subprocess.run([sys.executable, "-c", ATTRIBUTE_CHILD, str(n), mode], capture_output=True, text=True,
                         timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert res.returncode == 0, res.stderr[-2000:]
    return float(json.loads(res.stdout.strip().splitlines()[-1]))


@pytest.mark.slow
def test_attribute_sampling_memory_is_flat_in_the_number_of_samples():
    # held: the first buffer=1000 samples and the top and bottom 2% (their latents): 2.5 MB more at 40,000
    small, big = _peak_increase_attribute_mb(10_000, "attr"), _peak_increase_attribute_mb(40_000, "attr")
    # four times the samples add less than half of what holding the extra 30,000 latents once would (123 MB);
    # measured idle: 47.9 -> 61.0 MB
    assert big - small < 0.5 * _held_mb(40_000 - 10_000, 1_024), (small, big)
    collected = _peak_increase_attribute_mb(40_000, "collect")   # 40,000 x 1,024 floats: about 0.16 GB (and a copy)
    assert collected > big + 100, (big, collected)


def test_regressor_training_draws_every_batch_from_its_seed_and_holds_none(monkeypatch):
    # regress/training.py already streams: step s renders its own batch from seed TRAIN_SEED_BASE * (seed + 1) + s
    # and drops it after the step, so memory is one batch whatever the number of steps (no data set is built)
    import gc
    import weakref

    import torch.nn as nn

    from latentwidgets.models.decoder import DecoderModel
    from latentwidgets.regress import training

    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = DecoderModel(nn.Sequential(nn.Linear(8, 3 * 16 * 16), nn.Unflatten(1, (3, 16, 16)), nn.Sigmoid()),
                         z_dim=8, name="tiny", output_range=(0.0, 1.0))
    seeds, alive = [], []
    real = training.training_batch

    def spy(model, batch, seed, **kw):
        gc.collect()
        alive.append(sum(r() is not None for r in refs))   # earlier steps' images still referenced
        seeds.append(seed)
        out = real(model, batch, seed, **kw)
        refs.append(weakref.ref(out[0]))
        return out

    refs: list = []
    monkeypatch.setattr(training, "training_batch", spy)
    training.train_regressor(model, 12, batch=4, seed=3, progress=False)
    assert seeds == [training.TRAIN_SEED_BASE * 4 + s for s in range(12)]
    assert max(alive) == 1    # only the previous step's batch (the loop's variables until this one replaces it)
