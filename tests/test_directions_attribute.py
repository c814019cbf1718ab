"""Attribute directions: InterFaceGAN boundaries (planted directions recovered, conditioning, calibration)
and GAN-Control-style controllers (set_attribute hits requested values, keeps the others), round trips,
clear errors."""

from __future__ import annotations

import pytest
import torch

from latentwidgets.directions import Directions, find_directions
from latentwidgets.directions import attribute as att
from latentwidgets.directions.controllers import predict_attributes, set_attribute
from latentwidgets.edit import Edit, render_edits
from latentwidgets.models.decoder import DecoderModel
from latentwidgets.testing.sprite_decoder import LinearSprites
from latentwidgets.zoo import sprites


@pytest.fixture(scope="module")
def synth():
    net = LinearSprites(z_dim=8, seed=2)
    return net, DecoderModel(net, z_dim=8, name="linear-sprites", output_range=(0, 1))


@pytest.fixture(scope="module")
def boundaries(synth):
    _, model = synth
    return att.attribute_directions(model, ["x", "y", "scale", "hue"], kind="boundary", n_samples=800, percent=5,
                                    progress=False)


@pytest.fixture(scope="module")
def controllers(synth):
    _, model = synth
    return att.attribute_directions(model, ["x", "y", "scale", "hue"], kind="controller", n_samples=600, hidden=48,
                                    pred_iters=300, ctrl_iters=150, progress=False)


def test_boundaries_recover_planted_directions(synth, boundaries):
    net, _ = synth
    assert boundaries.names == ["x", "y", "scale", "hue_cos", "hue_sin"]
    for name in ("x", "y", "scale"):
        assert float(boundaries.vectors[boundaries.index(name)] @ net.truth[name]) > 0.95
    assert boundaries.state["intercepts"].shape == (5,)


def test_conditioning_makes_a_boundary_orthogonal_to_the_condition(synth):
    _, model = synth
    d = att.attribute_directions(model, ["x", "y"], kind="boundary", n_samples=400, percent=10, condition_on=["y"],
                                 progress=False)
    assert abs(float(d.vectors[0] @ d.vectors[1])) < 1e-5


def test_boundary_calibration_sets_an_absolute_value(synth, boundaries):
    _, model = synth
    k = boundaries.index("x")
    alpha = float(boundaries.to_strength(k, torch.tensor(0.56)))
    _, img = render_edits(model, model.sample_z(16, seed=9), [Edit(boundaries, k, alpha, mode="set")])
    x = sprites.measure(img)["x"]
    assert float(x.median()) == pytest.approx(0.56, abs=0.02)
    # the boundary alone, sliced out by name, keeps its own intercept and calibration
    alone = boundaries["x"]
    assert float(alone.state["intercepts"][0]) == float(boundaries.state["intercepts"][k])
    assert alone.info["intercepts"] == [boundaries.info["intercepts"][k]]
    assert float(alone.to_strength(0, torch.tensor(0.56))) == alpha


def test_controllers_set_the_requested_value_and_keep_the_others(synth, controllers):
    _, model = synth
    z = model.sample_z(32, seed=11)
    before = sprites.measure(model.generate(z))
    z2 = set_attribute(model, controllers, z, "x", 0.42)
    after = sprites.measure(model.generate(z2))
    assert float((after["x"] - 0.42).abs().mean()) < 0.02
    assert float((before["x"] - 0.42).abs().mean()) > 0.03  # the request was not already met
    assert float((after["y"] - before["y"]).abs().mean()) < 0.02
    assert float((after["scale"] / before["scale"] - 1).abs().mean()) < 0.05


def test_hue_control_is_circular(synth, controllers):
    _, model = synth
    z = model.sample_z(16, seed=12)
    want = torch.full((16,), 0.97)  # near the wrap-around
    z2 = set_attribute(model, controllers, z, "hue", want)
    got = sprites.measure(model.generate(z2))["hue"]
    assert float(sprites.hue_distance(got, want).mean()) < 0.05


def test_controller_record_round_trips(tmp_path, synth, controllers):
    _, model = synth
    controllers.save(tmp_path / "c")
    back = Directions.load(tmp_path / "c", model)
    z = model.sample_z(4, seed=3)
    a = set_attribute(model, controllers, z, "y", 0.5, refine=0)
    b = set_attribute(model, back, z, "y", 0.5, refine=0)
    assert torch.equal(a, b)
    pred = predict_attributes(back, z)
    assert set(pred) == {"x", "y", "scale", "hue"}


def test_custom_attribute_function_through_dispatch(synth):
    _, model = synth
    d = find_directions(model, "attribute", attributes={"red": lambda im: im[:, 0].mean((1, 2))}, n_samples=200,
                        percent=10, progress=False)
    assert d.names == ["red"] and d.method == "attribute" and d.calibration[0]["unit"] == "red"


@pytest.mark.parametrize("kwargs, match", [
    (dict(attributes=["size"]), "unknown sprites attributes"),
    (dict(attributes="faces"), "attributes must be"),
    (dict(kind="svm"), "kind"),
    (dict(n_samples=0), "n_samples"),
    (dict(percent=0), "percent"),
    (dict(condition_on=["nope"]), "condition_on"),
    (dict(attributes={"bad": lambda im: torch.full((im.shape[0],), float("nan"))}), "NaN"),
])
def test_bad_input_raises_clear_errors(synth, kwargs, match):
    _, model = synth
    opts = dict(attributes=["x"], n_samples=40, percent=10, progress=False)
    opts.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        att.attribute_directions(model, **opts)


def test_set_attribute_rejects_bad_requests(synth, controllers, boundaries):
    _, model = synth
    z = model.sample_z(2, seed=0)
    with pytest.raises(ValueError, match="finite"):
        set_attribute(model, controllers, z, "x", float("nan"))
    with pytest.raises(KeyError, match="no controller"):
        set_attribute(model, controllers, z, "rotation", 0.1)
    with pytest.raises(ValueError, match="latents must be"):
        set_attribute(model, controllers, z[:, :3], "x", 0.5)
    with pytest.raises(ValueError, match="holds no controllers"):
        set_attribute(model, boundaries, z, "x", 0.5)


def test_streamed_extremes_equal_a_full_sort():
    from latentwidgets.directions.streaming import Extremes

    g = torch.Generator().manual_seed(0)
    scores = torch.randn(5000, generator=g)
    ex = Extremes(k=120)
    for i in range(0, 5000, 333):     # batches of any size
        ex.update(scores[i:i + 333], torch.arange(i, min(i + 333, 5000)))
    low, high = ex.indices(100)
    order = scores.argsort()
    assert torch.equal(low, order[:100]) and torch.equal(high, order[-100:])


def test_boundaries_hold_a_bounded_buffer_and_the_exact_extremes(synth):
    # buffer=100 keeps 100 of the 800 samples whole; the SVMs still see the exact top/bottom 5% of all 800
    # (latents beyond the buffer regenerated from their seeds), so the normals are those of the full run
    _, model = synth
    kw = dict(attributes=["x", "hue"], kind="boundary", n_samples=800, percent=5, progress=False)
    full = att.attribute_directions(model, **kw)
    small = att.attribute_directions(model, **kw, buffer=100)
    assert torch.equal(full.vectors, small.vectors) and full.info["intercepts"] == small.info["intercepts"]
    assert small.info["used_samples"] == 800 and small.options["buffer"] == 100
    with pytest.warns(UserWarning, match="buffer=100"):
        att.attribute_directions(model, ["x"], kind="controller", n_samples=200, buffer=100, hidden=8, pred_iters=2,
                                 ctrl_iters=2, progress=False)
