"""Tensor component analysis: multilinear PCA bases, Tucker regression, mode-wise/multilinear edits."""

from __future__ import annotations

import pytest
import torch

from latentwidgets.directions import Directions, find_directions
from latentwidgets.directions.sampling import sample_latents
from latentwidgets.directions.tensor import (
    multilinear_pca,
    predict_latent,
    tca_activation_directions,
    tca_edits,
    tensor_directions,
)
from latentwidgets.edit import render_edits
from latentwidgets.testing.direction_models import one_thread, orthogonal, tiny_style

SMALL = dict(layer="b8", n_samples=300, steps=40, batch_size=32, eval_samples=200, progress=False,
             modes={"channel": 3, "height": 2, "width": 2}, multilinear=((0, 1, 0),))

_single_thread = pytest.fixture(scope="module", autouse=True)(one_thread)


def test_multilinear_pca_recovers_planted_mode_vectors():
    g = torch.Generator().manual_seed(0)
    uc, uh, uw = orthogonal(6, 1), orthogonal(5, 2), orthogonal(4, 3)
    # samples = a * (uc0 x uh1 x uw2) (strong) + small noise
    a = torch.randn(2000, generator=g) * 3
    x = a.view(-1, 1, 1, 1) * torch.einsum("c,h,w->chw", uc[:, 0], uh[:, 1], uw[:, 2])
    x = x + 0.05 * torch.randn(2000, 6, 5, 4, generator=g)
    x = x - x.mean(0)
    for ranks in ((6, 5, 4), (2, 2, 2)):   # one-shot and alternating sweeps
        bases, evals = multilinear_pca(x, ranks)
        assert [b.shape for b in bases] == [(6, ranks[0]), (5, ranks[1]), (4, ranks[2])]
        for b in bases:
            assert torch.allclose(b.t() @ b, torch.eye(b.shape[1]), atol=1e-5)
        assert abs(float(bases[0][:, 0] @ uc[:, 0])) > 0.999
        assert abs(float(bases[1][:, 0] @ uh[:, 1])) > 0.999
        assert abs(float(bases[2][:, 0] @ uw[:, 2])) > 0.999
        assert all((e[:-1] >= e[1:]).all() for e in evals)


def test_tensor_directions_record():
    model = tiny_style()
    d = find_directions(model, "tensor", **{**SMALL, "steps": 10})
    assert d.names == ["tca channel 0", "tca channel 1", "tca channel 2", "tca height 0", "tca height 1",
                       "tca width 0", "tca width 1", "tca multi (0,1,0)"]
    assert d.space == "w" and d.vectors.shape == (8, model.w_dim)
    assert torch.allclose(d.vectors.norm(dim=1), torch.ones(8), atol=1e-5)
    assert (d.sigma > 0).all()
    c, h, w = d.info["act_shape"]
    for key, n in (("basis_channel", c), ("basis_height", h), ("basis_width", w)):
        b = d.state[key]
        assert b.shape == (n, n) and torch.allclose(b.t() @ b, torch.eye(n), atol=1e-4)
    # the edit patterns are the bases: channel edit k is basis_channel[:, k] spread over space
    pat = d.state["act_patterns"].view(8, c, h, w)
    assert torch.allclose(pat[0, :, 2, 3] / pat[0, :, 2, 3].norm(), d.state["basis_channel"][:, 0], atol=1e-5)
    assert torch.allclose(pat[3, 1, :, 0] / pat[3, 1, :, 0].norm(), d.state["basis_height"][:, 0], atol=1e-5)
    assert torch.allclose(pat.flatten(1).norm(dim=1), torch.ones(8), atol=1e-5)


def test_tensor_regression_learns_and_is_seeded():
    model = tiny_style()
    short = tensor_directions(model, **{**SMALL, "steps": 5})
    d = tensor_directions(model, **{**SMALL, "steps": 120})
    again = tensor_directions(model, **{**SMALL, "steps": 5})
    assert d.info["regression_r2"] > short.info["regression_r2"]
    assert d.info["regression_r2"] > 0.5
    assert torch.equal(short.vectors, again.vectors)
    assert torch.equal(short.state["basis_channel"], d.state["basis_channel"])
    lat = model.to_synthesis(model.sample_z(64, seed=9))
    pred = predict_latent(d, model.activations(lat, "b8"))
    assert pred.shape == lat.shape
    assert float((pred - lat).pow(2).mean()) < float((lat - lat.mean(0)).pow(2).mean())


def test_tensor_direct_activation_edits_and_round_trip(tmp_path):
    model = tiny_style()
    d = tensor_directions(model, **SMALL)
    act = tca_activation_directions(d)
    assert act.space == "act:b8" and act.dim == d.state["act_patterns"].shape[1]
    z = model.sample_z(3, seed=1)
    _, img_lat = render_edits(model, z, tca_edits(d, "tca width 0", 2.0))
    _, img_both = render_edits(model, z, tca_edits(d, "tca width 0", 2.0, direct=True))
    _, img0 = render_edits(model, z, [])
    assert not torch.allclose(img_lat, img0) and not torch.allclose(img_both, img_lat)
    d.save(tmp_path / "tca")
    e = Directions.load(tmp_path / "tca", model)
    assert torch.equal(e.vectors, d.vectors) and e.names == d.names
    for k in d.state:
        assert torch.equal(e.state[k], d.state[k])


@pytest.mark.parametrize("ranks", [None, (4, 3, 3)])   # one-shot, and sweeps (a pass per mode each)
def test_streamed_statistics_equal_the_in_memory_computation(ranks):
    # the record's statistics come from batches regenerated from seeds; here all samples are held at once
    model = tiny_style()
    d = tensor_directions(model, **{**SMALL, "steps": 3, "ranks": ranks, "sweeps": 3})
    _, lat = sample_latents(model, SMALL["n_samples"], seed=0)
    x = model.activations(lat, "b8").float()
    xc = x - x.mean(0)
    bases, evals = multilinear_pca(xc, d.info["ranks"], sweeps=3)
    for i, m in enumerate(("channel", "height", "width")):
        assert torch.allclose(d.state[f"basis_{m}"], bases[i], atol=1e-5)
        assert torch.allclose(d.state[f"eigenvalues_{m}"], evals[i], rtol=1e-5, atol=1e-7)
    assert torch.allclose(d.state["act_mean"], x.mean(0), atol=1e-5)
    assert torch.allclose(d.state["latent_mean"], lat.mean(0), atol=1e-6)
    scales = torch.tensor([float(xc.std()), float((lat - lat.mean(0)).std())])
    assert torch.allclose(d.state["scales"], scales, rtol=1e-5)
    sigma = (xc.flatten(1) @ d.state["act_patterns"].t()).std(0)
    assert torch.allclose(d.state["act_sigma"], sigma, rtol=1e-4)


def test_tensor_bad_input():
    model = tiny_style()
    with pytest.raises(KeyError, match="hookable layers"):
        tensor_directions(model, **{**SMALL, "layer": "b1024"})
    with pytest.raises(ValueError, match="n_samples"):
        tensor_directions(model, **{**SMALL, "n_samples": 0})
    with pytest.raises(ValueError, match="rank"):
        tensor_directions(model, **{**SMALL, "ranks": (99, 8, 8)})
    with pytest.raises(ValueError, match="multilinear index"):
        tensor_directions(model, **{**SMALL, "multilinear": ((0, 0, 50),)})


def test_tca_edits_direct_multilinear_edits_the_activation_for_multilinear_edits_only():
    # the authors' code edits a style-based generator this way: mode-wise edits through the latent
    # alone, multilinear edits through the latent plus the same edit added at the layer
    model = tiny_style()
    d = tensor_directions(model, **{**SMALL, "steps": 5})
    assert len(tca_edits(d, "tca channel 0", 1.0, direct="multilinear")) == 1
    both = tca_edits(d, "tca multi (0,1,0)", 1.0, direct="multilinear")
    assert len(both) == 2 and both[1].space == "act:b8"
    assert len(tca_edits(d, "tca channel 0", 1.0, direct=True)) == 2
    assert len(tca_edits(d, "tca multi (0,1,0)", 1.0, direct=False)) == 1
    z = model.sample_z(3, seed=2)
    _, multi_auto = render_edits(model, z, tca_edits(d, "tca multi (0,1,0)", 2.0, direct="multilinear"))
    _, multi_both = render_edits(model, z, tca_edits(d, "tca multi (0,1,0)", 2.0, direct=True))
    _, chan_auto = render_edits(model, z, tca_edits(d, "tca channel 1", 2.0, direct="multilinear"))
    _, chan_lat = render_edits(model, z, tca_edits(d, "tca channel 1", 2.0))
    assert torch.equal(multi_auto, multi_both) and torch.equal(chan_auto, chan_lat)
    with pytest.raises(ValueError, match="direct"):
        tca_edits(d, 0, 1.0, direct="yes")


def test_a_slice_of_a_tca_record_edits_as_the_whole_record_does():
    # a slice takes its directions' edit kinds and activation patterns: d[2:] direction 0 is d's direction 2
    model = tiny_style()
    d = tensor_directions(model, **{**SMALL, "steps": 5})
    multi = d.index("tca multi (0,1,0)")
    part = d[[multi, 0]]
    assert part.names == [d.names[multi], d.names[0]]
    assert [e["kind"] for e in part.info["edits"]] == ["multi", d.info["edits"][0]["kind"]]
    assert torch.equal(part.state["act_patterns"], d.state["act_patterns"][[multi, 0]])
    assert torch.equal(part.state["tucker_core"], d.state["tucker_core"])  # the regression stays whole
    z = model.sample_z(3, seed=2)
    for direct in (True, "multilinear"):
        _, whole = render_edits(model, z, tca_edits(d, multi, 2.0, direct=direct))
        _, sliced = render_edits(model, z, tca_edits(part, 0, 2.0, direct=direct))
        assert torch.equal(whole, sliced)
    _, whole = render_edits(model, z, tca_edits(d, 0, 2.0, direct=True))
    _, sliced = render_edits(model, z, tca_edits(part, 1, 2.0, direct=True))
    assert torch.equal(whole, sliced)
