"""The sprites world: rendering is deterministic and ``measure`` reads the factors back.

``measure`` is the ground truth of every fidelity figure in the project, so its tolerances are
stated here and checked on rendered scenes of every shape, scale, rotation and colour:

- position (x, y): within 1 px, i.e. 1/64 of the image width;
- scale (sqrt(area) / width): within 0.005 (2-4 % of the real-scene range 0.14-0.30);
- object hue: within 0.01 on the hue circle; background hue within 0.01, brightness within 0.01.
"""

from __future__ import annotations

import math

import pytest
import torch

from latentwidgets.zoo import sprites

POS_TOL = 1.0 / 64
SCALE_TOL = 0.005
HUE_TOL = 0.01
BG_VALUE_TOL = 0.01


N_SCENES = 400


@pytest.fixture(scope="module")
def scenes():
    return sprites.sample(N_SCENES, seed=11)


@pytest.fixture(scope="module")
def measured(scenes):
    return sprites.measure(scenes[0])


def _scene(**over) -> dict:
    f = {"shape": [0], "scale": [0.22], "rotation": [0.3], "x": [0.5], "y": [0.5], "hue": [0.1],
         "bg_hue": [0.6], "bg_value": [0.3]}
    f.update({k: [v] for k, v in over.items()})
    return {k: torch.tensor(v) for k, v in f.items()}


def _cat(*factor_sets: dict) -> dict:
    return {k: torch.cat([f[k] for f in factor_sets]) for k in sprites.FACTORS}


# ------------------------------------------------------------------------------------ rendering

def test_render_is_deterministic(scenes):
    _, factors = scenes
    a = sprites.render(factors)
    b = sprites.render({k: v.clone() for k, v in factors.items()})
    assert torch.equal(a, b)


def test_render_output_format(scenes):
    images, factors = scenes
    assert images.shape == (N_SCENES, 3, 64, 64) and images.dtype == torch.float32
    assert float(images.min()) >= 0.0 and float(images.max()) <= 1.0
    assert set(factors) == set(sprites.FACTORS)
    assert all(v.shape == (N_SCENES,) for v in factors.values())


def test_render_does_not_depend_on_batch(scenes):
    images, factors = scenes
    one = sprites.render({k: v[7:8] for k, v in factors.items()})
    assert torch.equal(one[0], images[7])


def test_sample_is_reproducible_and_seeded():
    a_img, a_f = sprites.sample(32, seed=4)
    b_img, b_f = sprites.sample(32, seed=4)
    c_img, _ = sprites.sample(32, seed=5)
    assert torch.equal(a_img, b_img)
    assert all(torch.equal(a_f[k], b_f[k]) for k in sprites.FACTORS)
    assert not torch.equal(a_img, c_img)


def test_sampled_factors_cover_their_ranges():
    f = sprites.sample_factors(3000, seed=0)
    assert set(f["shape"].tolist()) == {0, 1, 2}
    for k, (lo, hi) in sprites.RANGES.items():
        assert float(f[k].min()) >= lo and float(f[k].max()) <= hi, k
        assert float(f[k].max() - f[k].min()) > 0.9 * (hi - lo), k  # spread over the range


def test_each_factor_changes_the_image():
    base = _scene()
    img = sprites.render(base)
    changes = {"shape": 2, "scale": 0.28, "rotation": 1.0, "x": 0.55, "y": 0.45, "hue": 0.5,
               "bg_hue": 0.1, "bg_value": 0.4}
    for k, v in changes.items():
        other = sprites.render(_scene(**{k: v}))
        assert float((other - img).abs().max()) > 0.05, f"changing {k} did not change the image"


def test_shapes_differ_at_equal_area():
    imgs = sprites.render(_cat(_scene(shape=0), _scene(shape=1), _scene(shape=2)))
    m = sprites.measure(imgs)
    assert float((m["scale"] - 0.22).abs().max()) < SCALE_TOL  # same area for every shape
    for i in range(3):
        for j in range(i + 1, 3):
            assert float((imgs[i] - imgs[j]).abs().amax(0).gt(0.3).float().sum()) > 20


def test_rotation_turns_counter_clockwise():
    # a heart's tip points down at rotation 0; after a quarter turn counter-clockwise (y down on
    # screen) it points right, so the object's mass shifts left of its centroid's bounding box
    imgs = sprites.render(_cat(_scene(shape=2, rotation=0.0), _scene(shape=2, rotation=math.pi / 2)))
    a = (imgs - imgs[:, :, :1, :1]).abs().sum(1) > 0.3  # object mask
    rows = a[0].any(1).nonzero().flatten()
    cols = a[1].any(0).nonzero().flatten()
    # tip down: the lowest row of the mask is narrow; tip right: the rightmost column is narrow
    assert int(a[0][rows.max()].sum()) <= 4
    assert int(a[1][:, cols.max()].sum()) <= 4


def test_shape_weights_blend_between_shapes():
    f = _cat(_scene(shape=0), _scene(shape=0), _scene(shape=0))
    w = torch.tensor([[1.0, 0, 0], [0.5, 0.5, 0], [0, 1.0, 0]])
    imgs = sprites.render(f, shape_weights=w)
    ends = sprites.render(_cat(_scene(shape=0), _scene(shape=1)))
    assert torch.allclose(imgs[0], ends[0]) and torch.allclose(imgs[2], ends[1])
    mid = imgs[1]
    assert float((mid - ends[0]).abs().max()) > 0.1 and float((mid - ends[1]).abs().max()) > 0.1


# ------------------------------------------------------------------------------------ measuring

def test_measure_reads_position_within_one_pixel(scenes, measured):
    f, m = scenes[1], measured
    assert float((m["x"] - f["x"]).abs().max()) < POS_TOL
    assert float((m["y"] - f["y"]).abs().max()) < POS_TOL


def test_measure_reads_scale(scenes, measured):
    f, m = scenes[1], measured
    assert float((m["scale"] - f["scale"]).abs().max()) < SCALE_TOL


def test_measure_reads_object_hue(scenes, measured):
    f, m = scenes[1], measured
    assert float(sprites.hue_distance(m["hue"], f["hue"]).max()) < HUE_TOL


def test_measure_reads_background(scenes, measured):
    f, m = scenes[1], measured
    assert float(sprites.hue_distance(m["bg_hue"], f["bg_hue"]).max()) < HUE_TOL
    assert float((m["bg_value"] - f["bg_value"]).abs().max()) < BG_VALUE_TOL


def test_measure_tracks_moves_beyond_the_real_range():
    # measure must read any image, including edits that push the object off the real-scene range
    xs = [0.2, 0.3, 0.5, 0.7, 0.8]
    imgs = sprites.render(_cat(*[_scene(x=x, y=1 - x, scale=0.15) for x in xs]))
    m = sprites.measure(imgs)
    assert torch.allclose(m["x"], torch.tensor(xs), atol=POS_TOL)
    assert torch.allclose(m["y"], 1 - torch.tensor(xs), atol=POS_TOL)


def test_hue_distance_is_circular():
    d = sprites.hue_distance(torch.tensor([0.98, 0.1, 0.0]), torch.tensor([0.02, 0.3, 0.5]))
    assert torch.allclose(d, torch.tensor([0.04, 0.2, 0.5]), atol=1e-6)


def test_clean_is_one_on_real_scenes(measured):
    assert float(measured["clean"].min()) == 1.0


def _two_object_scenes(same_hue: bool) -> torch.Tensor:
    n = 8
    base = sprites.sample_factors(n, seed=5)
    left = {k: v.clone() for k, v in base.items()}
    right = {k: v.clone() for k, v in base.items()}
    left["x"][:], right["x"][:] = 0.33, 0.67
    left["scale"][:], right["scale"][:] = 0.14, 0.14
    if not same_hue:
        right["hue"] = torch.remainder(left["hue"] + 0.5, 1.0)
    empty = {k: v.clone() for k, v in left.items()}
    empty["scale"][:] = 1e-4  # the background alone
    return (sprites.render(left) + sprites.render(right) - sprites.render(empty)).clamp(0, 1)


@pytest.mark.parametrize("same_hue", [True, False], ids=["same-colour", "two-colours"])
def test_clean_is_zero_with_two_objects(same_hue):
    assert float(sprites.measure(_two_object_scenes(same_hue))["clean"].max()) == 0.0


def test_clean_is_zero_on_noise(scenes):
    images, _ = scenes
    g = torch.Generator().manual_seed(0)
    noisy = (images[:16] + 0.1 * torch.randn(images[:16].shape, generator=g)).clamp(0, 1)
    assert float(sprites.measure(noisy)["clean"].max()) == 0.0
    assert float(sprites.measure(torch.rand(8, 3, 64, 64, generator=g))["clean"].max()) == 0.0


def test_edge_width_reads_blur(scenes):
    images, _ = scenes
    blurred = torch.nn.functional.avg_pool2d(images[:64], 5, 1, 2, count_include_pad=False)
    sharp_width, blurred_width = sprites.edge_width(images[:64]), sprites.edge_width(blurred)
    assert float(sharp_width.max()) < 1.5  # the clean test's bound holds on every real scene
    assert float(blurred_width.median()) > 1.5 * float(sharp_width.median())
    assert float(sprites.measure(blurred)["clean"].mean()) < 0.5


def test_clean_is_zero_without_an_object(scenes):
    images, _ = scenes
    blank = images[:8, :, :1, :1].expand(-1, -1, 64, 64).contiguous()
    assert float(sprites.measure(blank)["clean"].max()) == 0.0


def test_measure_of_an_empty_batch():
    m = sprites.measure(torch.zeros(0, 3, 64, 64))
    assert all(v.shape == (0,) for v in m.values())


# ------------------------------------------------------------------------------------ bad input

def test_render_names_missing_factors():
    f = _scene()
    del f["hue"]
    with pytest.raises(ValueError, match="hue"):
        sprites.render(f)


def test_render_rejects_unknown_shape():
    with pytest.raises(ValueError, match="square, ellipse, heart"):
        sprites.render(_scene(shape=3))


def test_render_rejects_factors_of_different_lengths():
    f = _scene()
    f["x"] = torch.tensor([0.4, 0.5])
    with pytest.raises(ValueError, match="same length"):
        sprites.render(f)


def test_measure_rejects_wrong_image_shape():
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        sprites.measure(torch.rand(3, 64, 64))
    with pytest.raises(ValueError, match=r"\[N, 3, H, W\]"):
        sprites.measure(torch.rand(2, 1, 64, 64))


def test_sample_rejects_negative_n():
    with pytest.raises(ValueError):
        sprites.sample(-1)
