"""Scores of directions against measured factors: correlations (circular for hues) and MOD."""

from __future__ import annotations

import math

import pytest
import torch

from latentwidgets.directions import Directions
from latentwidgets.evaluate.correlation import (
    best_abs_corr,
    circular_linear_corr,
    factor_corr,
    measure_samples,
    random_directions,
)
from latentwidgets.evaluate.mod import edit_effects, mod_from_matrix, mod_matrix, mod_score, select_edit
from latentwidgets.testing.direction_models import one_thread, tiny_style

_single_thread = pytest.fixture(scope="module", autouse=True)(one_thread)


def test_circular_correlation_sees_a_hue_that_linear_correlation_misses():
    g = torch.Generator().manual_seed(0)
    hue = torch.rand(4000, generator=g)
    coord = torch.sin(2 * math.pi * (hue - 0.1))[:, None]      # a slider that moves the hue around the wheel
    noise = torch.randn(4000, 1, generator=g)
    assert float(circular_linear_corr(coord, hue)) > 0.999
    assert float(factor_corr(coord, hue, "x")) < 0.9           # linear corr with the raw hue is weaker
    assert float(circular_linear_corr(noise, hue)) < 0.06
    assert float(factor_corr(coord, 0.3 + 0.1 * coord[:, 0], "x")) == pytest.approx(1.0, abs=1e-9)


def test_best_abs_corr_finds_the_direction_that_carries_a_factor():
    model = tiny_style()
    z = model.sample_z(500, seed=0)
    lat = model.to_synthesis(z)
    v = torch.zeros(model.w_dim)
    v[3] = 1.0
    d = Directions(vectors=torch.cat([torch.eye(model.w_dim)[:3], v[None]]), space="w")
    samples = {"z": z, "lat": lat, "clean": torch.ones(500, dtype=torch.bool),
               "factors": {"x": 0.5 + 0.01 * lat[:, 3], "hue": torch.remainder(lat[:, 0], 1.0)}}
    best = best_abs_corr(model, d, samples=samples, factors=("x",))
    assert best["x"] == pytest.approx(1.0, abs=1e-6)
    rnd = random_directions(model, 4, seed=1)
    assert best_abs_corr(model, rnd, samples=samples, factors=("x",))["x"] < 0.999
    # unclean samples are left out when enough are clean
    samples["clean"][:250] = False
    samples["factors"]["x"][:250] = 123.0
    assert best_abs_corr(model, d, samples=samples, factors=("x",))["x"] == pytest.approx(1.0, abs=1e-6)


def test_mod_of_a_matrix():
    assert mod_from_matrix(torch.diag(torch.tensor([0.3, 2.0]))) == 0.0
    assert mod_from_matrix(torch.ones(3, 3)) == pytest.approx(1.0)
    # columns are normalised by their max: off-diagonals 0.05/0.1 and 1/4
    assert mod_from_matrix(torch.tensor([[0.1, 1.0], [0.05, 4.0]])) == pytest.approx((0.5 + 0.25) / 2)
    with pytest.raises(ValueError, match="square"):
        mod_from_matrix(torch.ones(2, 3))
    with pytest.raises(ValueError, match="NaN"):
        mod_from_matrix(torch.tensor([[1.0, float("nan")], [0.0, 1.0]]))


def _fake_measure(images):
    """Factors read straight from pixel statistics (a stand-in for sprites.measure)."""
    return {"x": images[:, 0].mean((1, 2)), "hue": images[:, 1].mean((1, 2)) % 1.0,
            "clean": torch.ones(images.shape[0])}


def test_edit_effects_and_mod_score_on_a_model():
    model = tiny_style()
    eye = Directions(vectors=torch.eye(model.w_dim)[:2], space="w")
    samples = measure_samples(model, 16, seed=0, measure=_fake_measure)
    zero = edit_effects(model, eye, 0, 0.0, samples=samples, factors=("x", "hue"), measure=_fake_measure)
    assert zero == {"x": 0.0, "hue": 0.0}
    eff = edit_effects(model, eye, 0, 3.0, samples=samples, factors=("x", "hue"), measure=_fake_measure)
    assert eff["x"] > 0
    res = mod_score(model, {"x": (eye, 0), "hue": (eye, 1)}, strength=3.0, samples=samples, measure=_fake_measure)
    assert res["factors"] == ["x", "hue"] and res["edits"] == {"x": "manual 0", "hue": "manual 1"}
    assert -1e-9 <= res["score"] <= 1.0 + 1e-9 and len(res["matrix"]) == 2
    with pytest.raises(ValueError, match="n must be at least"):
        measure_samples(model, 0, measure=_fake_measure)


def test_matched_strength_moves_its_factor_by_the_target_where_linear_scaling_misses():
    # the tiny model's x responds superlinearly to direction 0: scaling the 2-sigma effect linearly
    # overshoots the target; the search must land on it, measured as mod_matrix measures it
    from latentwidgets.evaluate.mod import match_strength, matched_strengths
    model = tiny_style()
    eye = Directions(vectors=torch.eye(model.w_dim)[:2], space="w")
    kw = dict(samples=measure_samples(model, 16, seed=0, measure=_fake_measure), measure=_fake_measure)
    probe = edit_effects(model, eye, 0, 2.0, factors=("x",), **kw)["x"]
    target = 2 * probe
    linear = edit_effects(model, eye, 0, 4.0, factors=("x",), **kw)["x"]
    assert abs(linear - target) > 0.1 * target                      # the linear guess is off
    m = match_strength(model, eye, 0, "x", target, guess=(2.0, probe), **kw)
    assert m["effect"] == pytest.approx(target, rel=0.03)
    assert edit_effects(model, eye, 0, m["strength"], factors=("x",), **kw)["x"] == pytest.approx(m["effect"])
    # out of reach within [low, high]: the strongest allowed edit, reported with what it reached
    far = match_strength(model, eye, 0, "x", 100 * probe, high=3.0, **kw)
    assert far["strength"] == 3.0 and far["effect"] < 100 * probe
    both = matched_strengths(model, {"x": (eye, 0), "hue": (eye, 1)}, {"x": target, "hue": 0.01}, **kw)
    assert set(both) == {"x", "hue"} and both["x"]["strength"] == pytest.approx(m["strength"], rel=0.1)
    zero = Directions(vectors=torch.eye(model.w_dim)[:1], space="w", sigma=torch.zeros(1))
    with pytest.raises(ValueError, match="does not move"):
        match_strength(model, zero, 0, "x", target, **kw)
    with pytest.raises(ValueError, match="positive"):
        match_strength(model, eye, 0, "x", 0.0, **kw)


def test_selection_and_mod_apply_the_direct_activation_edit_as_asked():
    # selection, strength matching and scoring must all see the edit that is scored: a TCA edit
    # with its activation edit added differs from the latent edit alone
    from latentwidgets.directions.tensor import tensor_directions
    model = tiny_style()
    d = tensor_directions(model, layer="b8", n_samples=200, steps=5, batch_size=16, eval_samples=0,
                          progress=False, modes={"channel": 2}, multilinear=((0, 1, 0),))
    samples = measure_samples(model, 16, seed=0, measure=_fake_measure)
    kw = dict(samples=samples, measure=_fake_measure)
    _, eff = select_edit(model, d, "x", [0, 1, 2], 2.0, direct=True, **kw)
    for j in (0, 1, 2):
        want = edit_effects(model, d, j, 2.0, factors=("x",), both_signs=False, direct=True, **kw)["x"]
        assert eff[j] == pytest.approx(want)
    _, eff_lat = select_edit(model, d, "x", [0, 1, 2], 2.0, **kw)
    assert any(abs(eff[j] - eff_lat[j]) > 1e-6 for j in (0, 1, 2))
    edits = {"hue": (d, 0), "x": (d, 2)}
    m_none = mod_matrix(model, edits, 2.0, direct=False, **kw)
    m_all = mod_matrix(model, edits, 2.0, direct=True, **kw)
    m_x = mod_matrix(model, edits, 2.0, direct={"x": True}, **kw)
    m_auto = mod_matrix(model, edits, 2.0, direct="multilinear", **kw)
    assert not torch.allclose(m_none, m_all)
    assert torch.allclose(m_x[0], m_none[0]) and torch.allclose(m_x[1], m_all[1])
    assert torch.allclose(m_auto, m_x)      # only "tca multi (0,1,0)" is multilinear
