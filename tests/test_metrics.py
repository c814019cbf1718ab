"""The sprites realism metrics: sprite-FID, per-factor Wasserstein-1, clean-object rate."""

from __future__ import annotations

import pytest
import torch

from latentwidgets.evaluate import metrics
from latentwidgets.zoo import available, sprites
from latentwidgets.zoo.train_features import damage

needs_features = pytest.mark.skipif("sprites-features" not in available(),
                                    reason="sprites-features weights not shipped")


@pytest.fixture(scope="module")
def real():
    a, _ = sprites.sample(300, seed=11)
    b, _ = sprites.sample(300, seed=12)
    return a, b


# ---------------------------------------------------------------------------- Frechet distance

def test_frechet_distance_matches_closed_form_for_diagonal_gaussians():
    mu_a, mu_b = torch.tensor([0.0, 1.0, -2.0]), torch.tensor([1.0, 1.0, 0.0])
    var_a, var_b = torch.tensor([1.0, 4.0, 0.25]), torch.tensor([4.0, 1.0, 0.0])
    expected = float((mu_a - mu_b).pow(2).sum() + (var_a.sqrt() - var_b.sqrt()).pow(2).sum())
    got = metrics.frechet_distance((mu_a, torch.diag(var_a)), (mu_b, torch.diag(var_b)))
    assert got == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_is_rotation_invariant_for_full_covariances():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(400, 6, generator=g, dtype=torch.float64) @ torch.randn(6, 6, generator=g, dtype=torch.float64)
    b = torch.randn(400, 6, generator=g, dtype=torch.float64) * 2 + 1
    q, _ = torch.linalg.qr(torch.randn(6, 6, generator=g, dtype=torch.float64))
    d = metrics.frechet_distance(metrics.feature_stats(a), metrics.feature_stats(b))
    d_rot = metrics.frechet_distance(metrics.feature_stats(a @ q), metrics.feature_stats(b @ q))
    assert d > 1.0
    assert d_rot == pytest.approx(d, rel=1e-8)


@needs_features
def test_sprite_fid_is_zero_for_a_set_against_itself_and_grows_with_damage(real):
    a, b = real
    g = torch.Generator().manual_seed(0)
    fid_self = metrics.sprite_fid(a, a)
    fid_real = metrics.sprite_fid(a, b)
    blur = torch.full((len(b),), 1)  # CORRUPTIONS[1] == "blur"
    mild = metrics.sprite_fid(a, damage(b, blur, torch.full((len(b),), 0.5), g))
    strong = metrics.sprite_fid(a, damage(b, blur, torch.full((len(b),), 1.0), g))
    noise = metrics.sprite_fid(a, torch.rand(b.shape, generator=g))
    assert fid_self < 1e-6 * fid_real
    assert fid_real < mild < strong < noise


@needs_features
def test_sprite_features_shape_and_batch_independence(real):
    a, _ = real
    f = metrics.sprite_features(a[:20])
    assert f.shape == (20, 128) and f.dtype == torch.float64
    assert torch.allclose(metrics.sprite_features(a[5:7]), f[5:7], atol=1e-5)


def test_sprite_fid_rejects_bad_input(real):
    with pytest.raises(ValueError, match=r"\[N, 3, 64, 64\]"):
        metrics.sprite_fid(real[0][:, 0], real[1])
    with pytest.raises(ValueError, match="at least 2"):
        metrics.sprite_fid(real[0][:1], real[1])


# ---------------------------------------------------------------------------- Wasserstein-1

def test_wasserstein1_zero_for_identical_and_shift_on_the_line():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(500, generator=g, dtype=torch.float64)
    assert metrics.wasserstein1(x, x.flip(0)) == 0.0
    assert metrics.wasserstein1(x, x + 0.3) == pytest.approx(0.3, abs=1e-6)
    y = torch.rand(500, generator=g, dtype=torch.float64) ** 2
    sorted_gap = float((x.sort().values - y.sort().values).abs().mean())
    assert metrics.wasserstein1(x, y) == pytest.approx(sorted_gap, rel=1e-9)


def test_wasserstein1_circular_wraps_around():
    assert metrics.wasserstein1(torch.tensor([0.99]), torch.tensor([0.01]), circular=True) == pytest.approx(0.02)
    assert metrics.wasserstein1(torch.tensor([0.99]), torch.tensor([0.01])) == pytest.approx(0.98)
    # a concentrated hue set rotated by 0.1 turns moves by 0.1, whichever side of 0 it sits
    g = torch.Generator().manual_seed(2)
    x = 0.95 + 0.04 * torch.rand(300, generator=g)
    assert metrics.wasserstein1(x, torch.remainder(x + 0.1, 1.0), circular=True) == pytest.approx(0.1, abs=1e-6)
    # equal-size sets: the best cyclic matching (brute force) gives the same value
    a, b = torch.rand(60, generator=g), torch.remainder(torch.rand(60, generator=g) ** 3 + 0.4, 1.0)
    sa, sb = a.double().sort().values, b.double().sort().values
    brute = min(float(torch.minimum((sa - sb.roll(k)).abs(), 1 - (sa - sb.roll(k)).abs()).mean()) for k in range(60))
    assert metrics.wasserstein1(a, b, circular=True) == pytest.approx(brute, abs=1e-9)


def test_factor_w1_zero_for_identical_and_sees_a_shift(real):
    a, _ = real
    same = metrics.factor_w1(a, a.clone())
    assert set(same) == set(metrics.W1_FACTORS)
    assert all(v == 0.0 for v in same.values())
    shifted = metrics.factor_w1(torch.roll(a, shifts=4, dims=3), a)   # 4 px to the right
    assert shifted["x"] == pytest.approx(4 / 64, abs=0.2 / 64)
    assert shifted["y"] < 0.2 / 64 and shifted["scale"] < 0.002


# ---------------------------------------------------------------------------- clean-object rate

def test_clean_object_rate_one_on_real_scenes_low_on_noise(real):
    a, _ = real
    g = torch.Generator().manual_seed(3)
    assert metrics.clean_object_rate(a) == 1.0
    assert metrics.clean_object_rate(torch.rand(100, 3, 64, 64, generator=g)) <= 0.05
    blobs = damage(a[:100], torch.full((100,), 4), torch.ones(100), g)   # CORRUPTIONS[4] == "blobs"
    assert metrics.clean_object_rate(blobs) < 0.5


def test_clean_object_rate_rejects_bad_input():
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        metrics.clean_object_rate(torch.zeros(3, 64, 64))
