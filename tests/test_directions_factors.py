"""Continuous-factor directions (Plumerault et al.): transforms, recovery of planted directions,
calibrated control through Edit(mode='set'), record round trips and clear errors."""

from __future__ import annotations

import pytest
import torch

from latentwidgets.directions import Directions, calibration, find_directions, transforms
from latentwidgets.directions import factors as fac
from latentwidgets.directions.inversion import InversionSpace
from latentwidgets.edit import Edit, render_edits
from latentwidgets.evaluate.factors import traversal_stats
from latentwidgets.models.decoder import DecoderModel
from latentwidgets.testing.sprite_decoder import LinearSprites
from latentwidgets.zoo import sprites

FIT = dict(n_samples=12, steps=(0.05, 0.1), adam_steps=25, lr=0.05, progress=False)


@pytest.fixture(scope="module")
def synth():
    net = LinearSprites(z_dim=8, seed=1)
    return net, DecoderModel(net, z_dim=8, name="linear-sprites", output_range=(0, 1))


@pytest.fixture(scope="module")
def shifts(synth):
    _, model = synth
    # no norm clipping: in 8 dimensions the paper's sqrt(d) ball itself bends the inversions
    return fac.factor_directions(model, ("shift_x", "shift_y"), clip=None, seed=0, **FIT)


def _one_sprite(x=0.5, y=0.5, scale=0.2):
    f = {"shape": [0], "scale": [scale], "rotation": [0.0], "x": [x], "y": [y], "hue": [0.0], "bg_hue": [0.6],
         "bg_value": [0.3]}
    return sprites.render(f)


def test_shift_transform_moves_content_by_t_widths_and_masks_the_new_strip():
    img = _one_sprite(0.45, 0.5)
    out, mask = transforms.shift_x(img, 0.1)
    m0, m1 = sprites.measure(img), sprites.measure(out)
    assert float(m1["x"] - m0["x"]) == pytest.approx(0.1, abs=0.01)
    assert float(m1["y"] - m0["y"]) == pytest.approx(0.0, abs=0.01)
    assert mask[0, 0, :, : int(0.1 * 64) - 1].max() == 0 and mask[0, 0, :, int(0.1 * 64) + 1:].min() == 1
    out, mask = transforms.shift_y(img, -0.1)
    assert float(sprites.measure(out)["y"] - m0["y"]) == pytest.approx(-0.1, abs=0.01)
    assert mask[0, 0, -3:].max() == 0


def test_zoom_transform_scales_by_one_over_one_plus_t():
    img = _one_sprite(0.5, 0.5, 0.2)
    out, mask = transforms.zoom(img, 0.25)
    assert mask[0, 0, 0, 0] == 0 and mask[0, 0, 32, 32] == 1  # the zoomed-out border is unknown
    out = out * mask + img[:, :, :1, :1] * (1 - mask)  # paint it with the background to measure
    assert float(sprites.measure(out)["scale"]) == pytest.approx(0.2 / 1.25, rel=0.05)
    out, mask = transforms.zoom(img, -0.2)
    assert float(sprites.measure(out)["scale"]) == pytest.approx(0.2 / 0.8, rel=0.05)
    assert mask.min() == 1


def test_monotone_curve_is_monotone_whatever_its_parameters():
    g = calibration.MonotoneCurve()
    with torch.no_grad():
        g.raw.normal_(0, 3)
    p = torch.linspace(-7, 7, 500)
    v = g(p)
    assert (v[1:] >= v[:-1] - 1e-6).all()


def test_planted_shift_directions_are_recovered(synth, shifts):
    net, _ = synth
    assert shifts.names == ["shift_x", "shift_y"] and shifts.space == "z" and shifts.method == "factors"
    assert abs(float(shifts.vectors[0] @ net.truth["x"])) > 0.9
    assert abs(float(shifts.vectors[1] @ net.truth["y"])) > 0.9


def test_calibration_is_monotone_in_pixels_and_inverts(shifts):
    k = shifts.index("shift_x")
    cal = shifts.calibration[k]
    assert cal["unit"] == "px" and len(cal["alpha"]) == calibration.N_KNOTS
    t = torch.tensor(cal["t"])
    assert (t[1:] > t[:-1]).all()
    for px in (-6.0, 0.0, 5.0):
        a = shifts.to_strength(k, torch.tensor(px))
        assert float(shifts.factor_of(k, a)) == pytest.approx(px, abs=1e-3)
    # the planted model moves x by 0.05 widths = 3.2 px per unit along its true axis
    per_unit = float(shifts.to_strength(k, torch.tensor(3.2)) - shifts.to_strength(k, torch.tensor(0.0)))
    assert per_unit == pytest.approx(1.0, rel=0.25)


def test_set_traversal_gives_the_requested_shift(synth, shifts):
    _, model = synth
    k = shifts.index("shift_x")
    z = model.sample_z(8, seed=5)
    xs = []
    for px in (-6.0, 6.0):
        alpha = float(shifts.to_strength(k, torch.tensor(px)))
        _, img = render_edits(model, z, [Edit(shifts, k, alpha, mode="set")])
        xs.append(sprites.measure(img)["x"])
    moved = (xs[1] - xs[0]) * 64
    assert float(moved.median()) == pytest.approx(12.0, rel=0.3)
    assert float(xs[1].std()) < 0.02  # set mode: every sample lands at about the same x


def test_record_round_trips_with_calibration(tmp_path, synth, shifts):
    _, model = synth
    shifts.save(tmp_path / "f")
    back = Directions.load(tmp_path / "f", model)
    assert torch.equal(back.vectors, shifts.vectors) and back.calibration == shifts.calibration
    assert back.options["loss"] == "blur" and back.info["per_direction"]["shift_x"]["kept"] > 0
    assert float(back.to_strength(0, torch.tensor(4.0))) == float(shifts.to_strength(0, torch.tensor(4.0)))
    last = shifts[-1]  # a slice keeps its own direction's fit report, found by name
    assert list(last.info["per_direction"]) == [shifts.names[-1]]
    assert last.calibration == [shifts.calibration[-1]]


def test_dispatch_mse_loss_and_a_user_transform(synth):
    _, model = synth

    def darken(images, t):
        return (images * (1 - t)).clamp(0, 1), None

    d = find_directions(model, "factors", transforms={"dark": darken, "zoom": "zoom"}, n_samples=4, steps=(0.05,),
                        adam_steps=3, loss="mse", progress=False)
    assert d.names == ["dark", "zoom"]
    assert d.calibration[0]["unit"] == "t" and d.calibration[1]["unit"] == "x zoom"
    assert d.options["loss"] == "mse"
    assert torch.allclose(d.vectors.norm(dim=1), torch.ones(2), atol=1e-5)


@pytest.mark.parametrize("kwargs, match", [
    (dict(transforms=("rotate",)), "unknown transform"),
    (dict(n_samples=0), "n_samples"),
    (dict(steps=(float("nan"),)), "steps"),
    (dict(steps=()), "steps"),
    (dict(loss="l1"), "loss"),
    (dict(space="act:b4"), "space"),
    (dict(clip=-1.0), "clip"),
])
def test_bad_input_raises_clear_errors(synth, kwargs, match):
    _, model = synth
    opts = dict(transforms=("shift_x",), n_samples=2, steps=(0.05,), adam_steps=1, progress=False)
    opts.update(kwargs)
    with pytest.raises((ValueError, TypeError), match=match):
        fac.factor_directions(model, **opts)


def test_a_transform_returning_the_wrong_shape_is_named(synth):
    _, model = synth
    with pytest.raises(ValueError, match="bad"):
        fac.factor_directions(model, {"bad": lambda im, t: (im[:, :, :10], None)}, n_samples=2, steps=(0.05,),
                              adam_steps=1, progress=False)


def test_fit_follows_the_mean_move_when_pairs_are_few_for_the_latent_size():
    """With fewer (sample, t) pairs than a few times the latent size, each inversion's own small
    corrections must not steer u: u follows the common move, and g's slope calibrates it."""
    g = torch.Generator().manual_seed(0)
    d, n = 32, 12
    v = torch.randn(d, generator=g)
    v = v / v.norm()
    lat0 = torch.randn(n, d, generator=g).repeat(4, 1)
    t = torch.tensor([0.05, 0.1, -0.05, -0.1]).repeat_interleave(n)
    lat = lat0 + (t / 0.1 * 2.0)[:, None] * v + 0.3 * torch.randn(4 * n, d, generator=g)
    u, curve, _ = calibration.fit_direction(lat, lat0, t, torch.zeros(d), 1.0)
    assert abs(float(u @ v)) > 0.95
    sign = float(torch.sign(u @ v))
    p = torch.tensor([0.0, 2.0 * sign])
    with torch.no_grad():
        moved = curve(p)[1] - curve(p)[0]
    assert float(moved) == pytest.approx(0.1, rel=0.2), "2 units along u should read as t = 0.1"


def test_line_search_along_the_true_axis_finds_the_planted_step(synth):
    """register_along moves along u alone: on the planted model, x moves 0.05 widths per unit along its
    true axis, so a shift of t widths needs t / 0.05 units, and the search must find that, both signs."""
    net, model = synth
    sp = InversionSpace(model, "z", 0, clip=None)
    lat0 = model.sample_z(6, seed=3)
    u = net.truth["x"] / net.truth["x"].norm()
    reg = calibration.register_along(sp, u, lat0, transforms.shift_x, "shift_x", (0.05, 0.1), reach=4.0, sigma=1.0)
    assert reg["t"].numel() == 4 * 6 and torch.isfinite(reg["err"]).all()
    want = reg["t"] / 0.05
    assert torch.allclose(reg["delta"], want, atol=0.25), (reg["delta"], want)
    # a range too short to hold the answer reports the pairs as failed instead of clamping them
    short = calibration.register_along(sp, u, lat0, transforms.shift_x, "shift_x", (0.1,), reach=0.5, sigma=1.0)
    assert torch.isinf(short["err"]).all()


def test_line_and_free_calibrations_both_read_the_planted_step(synth, shifts):
    """The default calibration is fitted along u alone; the paper's ('free') on the free inversions.
    On the planted (linear) model both must agree with the truth, 3.2 px per unit along the axis."""
    _, model = synth
    free = fac.factor_directions(model, ("shift_x",), clip=None, seed=0, calibrate="free", **FIT)
    assert shifts.options["calibrate"] == "line" and free.options["calibrate"] == "free"
    assert shifts.info["per_direction"]["shift_x"]["line_kept"] > 0
    for d in (shifts, free):
        k = d.index("shift_x")
        per_unit = float(d.to_strength(k, torch.tensor(3.2)) - d.to_strength(k, torch.tensor(0.0)))
        assert per_unit == pytest.approx(1.0, rel=0.2)
    with pytest.raises(ValueError, match="calibrate"):
        fac.factor_directions(model, ("shift_x",), n_samples=2, steps=(0.05,), adam_steps=1, calibrate="exact",
                              progress=False)


def test_inversion_leaves_the_users_model_trainable():
    """Inversions freeze the generator's weights while they run (no weight gradients: about twice as
    fast) and must hand the model back with its requires_grad flags as they were."""
    net = torch.nn.Sequential(torch.nn.Linear(8, 3 * 16 * 16), torch.nn.Sigmoid(), torch.nn.Unflatten(1, (3, 16, 16)))
    net[0].bias.requires_grad_(False)  # a user's own mix of frozen and trainable weights
    model = DecoderModel(net, z_dim=8, output_range=(0, 1))
    flags = [p.requires_grad for p in net.parameters()]
    fac.factor_directions(model, ("shift_x",), n_samples=2, steps=(0.05,), adam_steps=2, progress=False)
    assert [p.requires_grad for p in net.parameters()] == flags == [True, False]
    assert all(p.grad is None for p in net.parameters())


def test_traversal_stats_read_calibration_and_spread_against_the_truth(synth, shifts):
    """The fidelity benchmark's measurements: on the planted model a calibrated shift_x traversal is
    monotone, tight and on target; a record whose calibration promises twice the movement is caught
    by r2 (slope about 0.5) while its spread, which does not depend on g, stays the same."""
    _, model = synth
    good = traversal_stats(model, shifts[0:1], n_traversals=12)["x"]
    assert good["monotone"] and good["spread"] < 0.02
    assert good["r2"] > 0.9 and good["r2_medians"] > 0.95 and good["slope"] == pytest.approx(1.0, abs=0.2)
    bad_cal = [dict(c, t=[2 * v for v in c["t"]]) for c in shifts[0:1].calibration]
    bad = Directions(vectors=shifts.vectors[0:1], space=shifts.space, sigma=shifts.sigma[0:1], names=["shift_x"],
                     method="factors", calibration=bad_cal)
    worse = traversal_stats(model, bad, n_traversals=12)["x"]
    assert worse["slope"] == pytest.approx(0.5, abs=0.1)
    assert worse["r2_medians"] < 0.8 and worse["r2"] < good["r2"] - 0.1
    assert worse["spread"] == pytest.approx(good["spread"], rel=1e-4)
