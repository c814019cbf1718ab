"""The one edit path: ``edit.edits_for`` turns a slider value into edits for every kind of direction
(linear, calibrated factor, TCA with its activation part, attribute controller), ``edit.value_range``
says what the slider shows, and DirectionExplorer shows whatever kind it is given through them."""

from __future__ import annotations

import pytest
import torch

from latentwidgets.directions import attribute as att
from latentwidgets.directions.controllers import attribute_range, set_attribute
from latentwidgets.directions.edits import Edit
from latentwidgets.directions.record import Directions
from latentwidgets.directions.tensor import tca_edits, tensor_directions
from latentwidgets.edit import direction_kind, edits_for, factor_edit, render_edits, value_range
from latentwidgets.models.decoder import DecoderModel
from latentwidgets.testing.sprite_decoder import LinearSprites
from latentwidgets.widgets import DirectionExplorer
from latentwidgets.zoo import sprites

CAL = {"unit": "x shift, px", "alpha": [-5.0, 0.0, 5.0], "t": [-20.0, 0.0, 20.0]}


@pytest.fixture(scope="module")
def style(untrained_style_model):
    return untrained_style_model


@pytest.fixture(scope="module")
def linear(style):
    g = torch.Generator().manual_seed(1)
    return Directions(torch.randn(3, style.w_dim, generator=g), "w", sigma=torch.tensor([1.0, 2.0, 0.5]),
                      names=["a", "b", "c"], layers=[None, (0, 4), (4, 10)], method="test", model_id=style.name)


@pytest.fixture(scope="module")
def calibrated(style):
    g = torch.Generator().manual_seed(2)
    return Directions(torch.randn(2, style.w_dim, generator=g), "w", names=["x", "pca"], calibration=[CAL, None],
                      method="factors", model_id=style.name)


@pytest.fixture(scope="module")
def tca(style):
    return tensor_directions(style, layer="b8", n_samples=200, steps=10, batch_size=16, eval_samples=0,
                             modes={"channel": 2, "width": 1}, multilinear=((0, 1, 0),), progress=False)


@pytest.fixture(scope="module")
def sprites_decoder():
    return DecoderModel(LinearSprites(z_dim=8, seed=2), z_dim=8, name="linear-sprites", output_range=(0, 1))


@pytest.fixture(scope="module")
def controllers(sprites_decoder):
    return att.attribute_directions(sprites_decoder, ["x", "y", "scale", "hue"], kind="controller", n_samples=600,
                                    hidden=48, pred_iters=300, ctrl_iters=150, progress=False)


def _same(a, b):
    return torch.equal(a, b)


def test_linear_is_the_sigma_edit(style, linear):
    z = style.sample_z(3, seed=4)
    (e,) = edits_for(style, linear, "b", 1.5, z, layers=(0, 4))
    old = Edit(linear, "b", 1.5, layers=(0, 4))
    assert (e.direction, e.strength, e.layers, e.mode) == (old.direction, old.strength, old.layers, old.mode)
    assert _same(render_edits(style, z, [e])[1], render_edits(style, z, [old])[1])
    assert edits_for(style, linear, "b", 0.0, z) == [] and edits_for(style, linear, "b", None, z) == []
    assert direction_kind(linear, 0) == "linear"


def test_calibrated_is_factor_edit(style, calibrated):
    z = style.sample_z(3, seed=5)
    (e,) = edits_for(style, calibrated, "x", 8.0, z, layers=(0, 4))
    old = factor_edit(style, z, calibrated, "x", 8.0, layers=(0, 4))
    assert e.mode == old.mode == "set" and e.layers == old.layers and _same(e.strength, old.strength)
    assert direction_kind(calibrated, "x") == "factor" and direction_kind(calibrated, "pca") == "linear"


@pytest.mark.parametrize("direct", [False, True, "multilinear"])
def test_tca_is_tca_edits(style, tca, direct):
    z = style.sample_z(2, seed=6)
    for k in range(len(tca)):
        new, old = edits_for(style, tca, k, 2.0, z, direct=direct), tca_edits(tca, k, 2.0, direct=direct)
        assert [(e.space, e.direction, e.strength) for e in new] == [(e.space, e.direction, e.strength) for e in old]
        assert _same(render_edits(style, z, new)[1], render_edits(style, z, old)[1])
    kinds = [e["kind"] for e in tca.info["edits"]]
    assert len(edits_for(style, tca, kinds.index("multi"), 2.0, z, direct="multilinear")) == 2
    assert len(edits_for(style, tca, kinds.index("channel"), 2.0, z, direct="multilinear")) == 1
    assert direction_kind(tca, 0) == "tca"


def test_direct_needs_a_tca_record(style, linear):
    with pytest.raises(ValueError, match="direct= adds a TCA record's activation edit"):
        edits_for(style, linear, 0, 1.0, style.sample_z(1, seed=0), direct=True)


def test_controller_gives_set_attributes_latents(sprites_decoder, controllers):
    model, d = sprites_decoder, controllers
    z = model.sample_z(6, seed=7)
    want = torch.linspace(0.42, 0.55, 6)
    (e,) = edits_for(model, d, "x", want, z)
    assert e.mode == "offset" and e.strength.shape == (6, d.dim) and direction_kind(d, "x") == "controller"
    ws, img = render_edits(model, z, [e])
    assert _same(ws.reshape(6, -1), set_attribute(model, d, z, "x", want))
    assert _same(img, model.generate(set_attribute(model, d, z, "x", want)))
    # the offset edit's record round trips (per-sample offsets as nested lists)
    back = Edit.from_record(e.to_record(), d)
    assert back.mode == "offset" and torch.allclose(back.strength, e.strength)
    with pytest.raises(ValueError, match="per-sample offsets"):
        Edit(d, "x", torch.zeros(6), mode="offset")
    assert edits_for(model, d, "x", None, z) == []


def test_value_ranges(style, linear, calibrated, tca, controllers):
    r = value_range(linear, "a", sigma_range=2.5)
    assert (r["kind"], r["unit"], r["min"], r["max"], r["default"], r["absolute"]) == ("linear", "\u03c3", -2.5, 2.5,
                                                                                        0.0, False)
    r = value_range(calibrated, "x")
    assert (r["kind"], r["unit"], r["min"], r["max"], r["step"]) == ("factor", "x shift, px", -20.0, 20.0, 0.1)
    assert value_range(tca, 0)["kind"] == "tca" and value_range(tca, 0)["max"] == 3.0
    r = value_range(controllers, "x")
    lo, hi = controllers.info["controllers"]["ranges"]["x"]
    assert (r["kind"], r["min"], r["max"], r["absolute"]) == ("controller", lo, hi, True)
    assert 0.2 < lo < r["default"] < hi < 0.8
    hue = value_range(controllers, "hue")
    assert (hue["min"], hue["max"], hue["step"]) == (0.0, 1.0, 0.001)
    assert hue["default"] not in [round(i * hue["step"], 3) for i in range(1001)]  # no slider position is "off"
    # records fitted before the ranges were stored: mean +- 2 std of the training values
    old = controllers[:]
    old.info = {**controllers.info, "controllers": {k: v for k, v in controllers.info["controllers"].items()
                                                    if k != "ranges"}}
    olo, ohi = attribute_range(old, "x")
    assert olo < r["default"] < ohi and 0.5 < (ohi - olo) / (hi - lo) < 2


@pytest.mark.parametrize("kind", ["linear", "calibrated", "tca", "controller"])
def test_explorer_edits_reproduce_its_image(kind, style, linear, calibrated, tca, sprites_decoder, controllers):
    model, d, values = {
        "linear": (style, linear, [0.0, 2.0, -1.0]),
        "calibrated": (style, calibrated, [8.0, 1.0]),
        "tca": (style, tca, [0.0] * (len(tca) - 1) + [2.0]),
        "controller": (sprites_decoder, controllers, None),
    }[kind]
    ex = DirectionExplorer(model, d, seed=3, n=2)
    try:
        if values is None:
            values = [c["default"] for c in ex.controls]
            values[d.index("x")] = 0.45
        ex.strengths = values
        assert ex.edits
        assert _same(ex.image, render_edits(model, ex.z, ex.edits)[1])
    finally:
        ex.close()


def test_controller_slider_sets_the_attribute(sprites_decoder, controllers):
    model, d = sprites_decoder, controllers
    ex = DirectionExplorer(model, d, seed=11, n=8)
    try:
        spec = ex.controls[d.index("x")]
        assert spec["min"] < 0.45 < spec["max"] and spec["calibrated"]  # the attribute's own units, not sigma
        assert ex.edits == []                                            # every slider at its default: no request
        before = sprites.measure(ex.image)["x"]
        values = list(ex.strengths)
        values[d.index("x")] = 0.45
        ex.strengths = values
        after = sprites.measure(ex.image)["x"]
        # the controller's measured error on these settings is about 0.01 image widths (test_directions_attribute)
        assert float((after - 0.45).abs().mean()) < 0.02
        assert float((before - 0.45).abs().mean()) > 0.03
        ex.reset()
        assert ex.edits == [] and torch.equal(sprites.measure(ex.image)["x"], before)
    finally:
        ex.close()
