"""CollageCanvas's Python side: strokes and rectangles become the collage and mask the regressor sees.

The front end is simulated by calling the widget's message handler with the protocol's requests and
recording what it sends back (the browser half is tested in js/ and tests/browser/). The regressor is
a small stand-in with ``LatentRegressor``'s ``project(images, mask)`` interface that records its inputs,
so the tests see exactly what the widget asks the regressor to project.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
import torch
import torch.nn.functional as F
import traitlets

import latentwidgets as lw
from latentwidgets.regress.collage import composite, rasterize
from latentwidgets.testing.direction_models import OwnTruncationDecoder, plain_decoder_net
from latentwidgets.widgets import CollageCanvas
from latentwidgets.widgets.esm import esm_source
from latentwidgets.widgets.transport import decode_frame


class StandInRegressor:
    """project(images, mask) -> [B, L, D]: a fixed random linear map of the pooled masked image."""

    def __init__(self, model, seed=0):
        g = torch.Generator().manual_seed(seed)
        self.model = model
        self.weight = torch.randn(4 * 8 * 8, model.w_dim, generator=g) * 0.3
        self.calls = []

    def project(self, images, mask):
        self.calls.append((images.clone(), mask.clone()))
        x = torch.cat([F.adaptive_avg_pool2d(images * mask, 8), F.adaptive_avg_pool2d(mask, 8)], 1).flatten(1)
        w = x @ self.weight + self.model.w_avg()
        return w[:, None].expand(-1, self.model.num_layers, -1)


@pytest.fixture(scope="module")
def model(untrained_style_model):
    return untrained_style_model


@pytest.fixture
def regressor(model):
    return StandInRegressor(model)


@pytest.fixture
def cc(model, regressor):
    w = CollageCanvas(model, regressor, n_sources=3, seed=5)
    yield w
    w.close()


class Wire:
    """Records what a widget sends; `request` plays the front end."""

    def __init__(self, widget):
        self.widget = widget
        self.sent = []
        widget.send = lambda content, buffers=None: self.sent.append((content, list(buffers or [])))
        self.n = 0

    def request(self, state):
        self.n += 1
        self.widget._handle_custom_msg({"type": "lw:request", "id": f"t:{self.n}", "state": state}, [])
        return self.sent[-1]


def shown(content, buffers):
    return torch.stack([decode_frame(m, b) for m, b in zip(content["frames"], buffers, strict=True)])


def disc_distance(h, w, pts):
    """Distance of every pixel centre to the polyline ``pts`` (brute force, for reference)."""
    ys, xs = torch.meshgrid(torch.arange(h) + 0.5, torch.arange(w) + 0.5, indexing="ij")
    best = torch.full((h, w), float("inf"), dtype=torch.float64)
    pts = [(float(x), float(y)) for x, y in pts]
    segs = list(zip(pts[:-1], pts[1:], strict=True)) or [(pts[0], pts[0])]
    for (ax, ay), (bx, by) in segs:
        for s in torch.linspace(0, 1, 401):
            px, py = ax + s * (bx - ax), ay + s * (by - ay)
            best = torch.minimum(best, ((xs - px) ** 2 + (ys - py) ** 2).sqrt().double())
    return best


# ---------------------------------------------------------------------------------- rasterising
def test_rectangles_take_whole_pixel_columns():
    labels = rasterize([{"tool": "rect", "source": 0, "x0": 0, "y0": 0, "x1": 32, "y1": 64},
                        {"tool": "rect", "source": 1, "x0": 64, "y0": 64, "x1": 32, "y1": 0}], 2, 64)
    assert (labels[:, :32] == 0).all() and (labels[:, 32:] == 1).all()
    part = rasterize([{"tool": "rect", "source": 1, "x0": 10.2, "y0": 20, "x1": 19.6, "y1": 30}], 2, 64)
    cols = torch.nonzero((part == 1).any(0)).flatten()
    rows = torch.nonzero((part == 1).any(1)).flatten()
    assert (cols.min().item(), cols.max().item()) == (10, 19)  # centres 10.5 .. 19.5
    assert (rows.min().item(), rows.max().item()) == (20, 29)
    assert (part[part != 1] == -1).all()


def test_brush_covers_pixels_within_radius_of_the_stroke():
    pts = [[5.3, 7.1], [30.2, 20.8], [40.0, 50.5]]
    labels = rasterize([{"tool": "brush", "source": 2, "radius": 3.5, "points": pts}], 3, 64)
    d = disc_distance(64, 64, pts)
    painted = labels == 2
    assert painted[d <= 3.45].all(), "a pixel well inside the brush was missed"
    assert not painted[d >= 3.55].any(), "a pixel outside the brush was painted"
    dot = rasterize([{"tool": "brush", "source": 0, "radius": 2, "points": [[10, 10]]}], 1, 64)
    assert (dot == 0).sum().item() == 12  # centres within 2 px of a grid corner: a 4x4 block minus corners


def test_later_operations_paint_over_earlier_ones_and_erase_makes_unknown():
    ops = [{"tool": "fill", "source": 0},
           {"tool": "rect", "source": 1, "x0": 0, "y0": 0, "x1": 16, "y1": 16},
           {"tool": "rect", "source": None, "x0": 8, "y0": 8, "x1": 24, "y1": 24}]
    labels = rasterize(ops, 2, 32)
    assert (labels[:8, :8] == 1).all()
    assert (labels[8:24, 8:24] == -1).all()
    assert (labels[24:, 24:] == 0).all()
    assert labels[0, 20].item() == 0 and labels[20, 0].item() == 0


def test_composite_pastes_each_pixel_from_its_source():
    sources = torch.rand(3, 3, 16, 16)
    labels = torch.randint(-1, 3, (16, 16))
    collage, mask = composite(sources, labels)
    assert collage.shape == (1, 3, 16, 16) and mask.shape == (1, 1, 16, 16)
    for y, x in [(0, 0), (3, 9), (15, 15), (7, 2)]:
        k = labels[y, x].item()
        if k < 0:
            assert mask[0, 0, y, x] == 0 and (collage[0, :, y, x] == 0).all()
        else:
            assert mask[0, 0, y, x] == 1 and torch.equal(collage[0, :, y, x], sources[k, :, y, x])
    assert torch.equal(mask[0, 0] == 1, labels >= 0)


# ---------------------------------------------------------------------------------- the widget
def test_collage_from_code_two_sources(cc, model, regressor):
    res = model.resolution
    assert cc.mask.sum() == 0 and cc.seeds == [5, 6, 7]
    sources = cc.sources
    assert sources.shape == (3, 3, res, res)
    assert torch.allclose(sources[1], model.generate(model.sample_z(1, seed=6))[0])
    cc.rect(0, 0, 0, res / 2, res)
    cc.rect(2, res / 2, 0, res, res)
    assert torch.equal(cc.mask, torch.ones(1, 1, res, res))
    assert torch.equal(cc.collage[0, :, :, : res // 2], sources[0, :, :, : res // 2])
    assert torch.equal(cc.collage[0, :, :, res // 2:], sources[2, :, :, res // 2:])
    assert cc.latent.shape == (1, model.num_layers, model.w_dim)
    assert cc.image.shape == (1, 3, res, res)
    # what is shown is the regressor's projection of exactly this collage and mask
    images, mask = regressor.calls[-1]
    assert torch.equal(images, cc.collage) and torch.equal(mask, cc.mask)
    assert torch.allclose(cc.image, model.synthesize(regressor.project(cc.collage, cc.mask)))


def test_undo_and_clear(cc):
    cc.paint(0, [(10, 10), (30, 30)], radius=4)
    after_first = cc.mask
    cc.rect(1, 40, 40, 60, 60)
    assert cc.mask.sum() > after_first.sum()
    undone = cc.undo()
    assert undone["tool"] == "rect" and torch.equal(cc.mask, after_first)
    cc.clear()
    assert cc.ops == [] and cc.mask.sum() == 0
    assert cc.undo() is None


def test_inpainting_projects_with_the_hole_unknown(cc, regressor):
    cc.fill(1)
    full = cc.image
    cc.erase_rect(16, 16, 48, 48)
    images, mask = regressor.calls[-1]
    assert (mask[0, 0, 16:48, 16:48] == 0).all() and mask.sum() == mask.numel() - 32 * 32
    assert (images[0, :, 16:48, 16:48] == 0).all(), "the hole is zeroed in the regressor's input"
    assert torch.equal(images[0, :, :16], cc.sources[1, :, :16])
    assert not torch.allclose(cc.image, full), "the projection changed when the hole was cut"
    cc.erase([(0, 0), (10, 0)], radius=2)
    assert (cc.labels[0, :10] == -1).all()


def test_front_end_stroke_updates_python_and_frame(cc, model):
    wire = Wire(cc)
    changes, calls = [], []
    cc.observe(lambda ch: changes.append(ch["name"]), names=["ops"])
    cc.on_change(lambda w: calls.append(len(w.ops)))
    before = cc.image
    stroke = {"tool": "brush", "source": 0, "radius": 5.0, "points": [[8.0, 8.0]]}
    # a stroke in progress arrives with more points at every request; the kernel sees the latest
    counts = []
    for pts in ([[8.0, 8.0]], [[8.0, 8.0], [20.5, 12.25]], [[8.0, 8.0], [20.5, 12.25], [40.0, 30.0]]):
        content, buffers = wire.request({"seeds": [5, 6, 7], "ops": [dict(stroke, points=pts)]})
        assert content["type"] == "lw:frame" and content["id"] == f"t:{wire.n}"
        counts.append(len(content["frames"]))
    # the sources travel once (the first frame), then only the projection while painting
    assert counts == [4, 1, 1]
    assert cc.ops == [dict(stroke, points=pts)] and content["state"] == cc.state()
    assert torch.equal(cc.labels, rasterize(cc.ops, 3, model.resolution)), "incremental raster == from scratch"
    assert torch.allclose(shown(content, buffers)[0], cc.image[0], atol=0.5 / 255 + 1e-6)
    assert not torch.allclose(cc.image, before)
    assert changes == ["ops"] * 3 and calls == [1, 1, 1]
    # a new view asks for the current frame: projection and sources, nothing recomputed
    n_calls = len(cc.regressor.calls)
    content, buffers = wire.request(None)
    assert content["state"] == cc.state() and len(cc.regressor.calls) == n_calls
    frames = shown(content, buffers)
    assert frames.shape == (4, 3, model.resolution, model.resolution)  # projection, then every source
    assert torch.allclose(frames[0], cc.image[0], atol=0.5 / 255 + 1e-6)
    assert torch.allclose(frames[1:], cc.sources, atol=0.5 / 255 + 1e-6)
    # new seeds: the sources travel again
    content, buffers = wire.request({"seeds": [5, 9, 7], "ops": cc.ops})
    assert len(content["frames"]) == 4
    assert torch.allclose(shown(content, buffers)[2], cc.sources[1], atol=0.5 / 255 + 1e-6)


def test_new_sample_keeps_the_strokes(cc, model):
    wire = Wire(cc)
    cc.rect(2, 0, 0, 64, 64)
    seed = cc.new_sample(2, seed=1234)
    assert seed == 1234 and cc.seeds == [5, 6, 1234]
    assert torch.allclose(cc.sources[2], model.generate(model.sample_z(1, seed=1234))[0])
    assert torch.equal(cc.collage[0], cc.sources[2])
    assert wire.sent[-1][0]["origin"] == "python" and wire.sent[-1][0]["state"]["seeds"] == [5, 6, 1234]
    content, _ = wire.request({"seeds": [9, 6, 1234], "ops": cc.ops})
    assert cc.seeds == [9, 6, 1234] and content["type"] == "lw:frame"


def test_errors_show_in_the_widget_and_it_keeps_working(cc):
    wire = Wire(cc)
    content, _ = wire.request({"seeds": [5, 6, 7], "ops": [{"tool": "rect", "source": 7, "x0": 0, "y0": 0,
                                                           "x1": 1, "y1": 1}]})
    assert content["type"] == "lw:error" and "source 7 does not exist" in content["message"]
    assert "source 7" in cc.error and cc.ops == []
    real = cc.regressor.project

    def broken(images, mask):
        if mask.sum() > 100:
            raise RuntimeError("regressor exploded on a large mask")
        return real(images, mask)

    cc.regressor.project = broken
    content, _ = wire.request({"seeds": [5, 6, 7], "ops": [{"tool": "fill", "source": 0}]})
    assert content["type"] == "lw:error" and "regressor exploded" in cc.error
    content, _ = wire.request({"seeds": [5, 6, 7], "ops": [{"tool": "rect", "source": 0, "x0": 0, "y0": 0,
                                                           "x1": 4, "y1": 4}]})
    assert content["type"] == "lw:frame" and cc.error == "" and cc.mask.sum() == 16
    with pytest.raises(RuntimeError, match="exploded"):
        cc.fill(1)  # from Python: shown in the widget, and raised
    assert wire.sent[-1][0]["type"] == "lw:error" and "exploded" in cc.error
    with pytest.raises(traitlets.TraitError, match="brush radius must be > 0"):
        cc.paint(0, [(1, 1)], radius=0)


def test_front_end_values_are_checked_not_coerced(cc):
    wire = Wire(cc)
    assert cc._front_fields == ["ops", "seeds", "truncation"] and set(cc.state()) == {"ops", "seeds", "truncation"}
    for bad, message in [({"seeds": ["5", 6, 7]}, "'seeds' trait"),
                         ({"ops": [{"tool": "brush", "source": 0, "radius": 3, "points": [["1", 2]]}]}, "point x"),
                         ({"ops": [{"tool": "rect", "source": 0, "x0": 0, "y0": 0, "x1": "4", "y1": 4}]}, "rect x1"),
                         ({"ops": "fill"}, "'ops' trait"), ({"tool": "rect"}, "got ['tool']")]:
        content, _ = wire.request(bad)
        assert content["type"] == "lw:error" and message in content["message"], content
    assert cc.ops == [] and cc.seeds == [5, 6, 7] and cc.tool == "brush"


def test_nan_latents_are_refused_with_a_fix(model):
    class NaNRegressor(StandInRegressor):
        def project(self, images, mask):
            return super().project(images, mask) * float("nan")

    with pytest.raises(ValueError, match="non-finite latents"):
        CollageCanvas(model, NaNRegressor(model))


def test_regressor_required_for_models_outside_the_zoo(model):
    other = lw.load(torch.nn.Sequential(torch.nn.ConvTranspose2d(8, 3, 16), torch.nn.Sigmoid()))
    with pytest.raises(ValueError, match="regressor="):
        CollageCanvas(other)
    with pytest.raises(TypeError, match="project"):
        CollageCanvas(model, regressor=object())


def test_close_releases_handlers_and_callbacks(model, regressor):
    cc = CollageCanvas(model, regressor, n_sources=2)
    wire = Wire(cc)
    calls = []
    cc.on_change(lambda w: calls.append(1))
    image = cc.image
    cc.close()
    assert cc.closed
    cc._handle_custom_msg({"type": "lw:request", "id": "t:9", "state": {"ops": [{"tool": "fill", "source": 0}]}}, [])
    with pytest.raises(RuntimeError, match="closed"):  # refused: .image would go stale
        cc.fill(0)
    assert cc.ops == [] and wire.sent == [] and calls == [] and torch.equal(cc.image, image)


def test_exported_and_served_module_is_valid():
    assert lw.CollageCanvas is CollageCanvas
    src = esm_source("collage.js")
    assert 'from "./' not in src and "createTransport" in src and "export default" in src
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (needed to syntax-check the served module)")
    out = subprocess.run([node, "--input-type=module", "--check"], input=src, text=True, capture_output=True)
    assert out.returncode == 0, out.stderr


def test_a_stroke_that_paints_no_new_pixel_is_not_projected_again(cc, regressor):
    stroke = {"tool": "brush", "source": 0, "radius": 3.0, "points": [[20.0, 20.0]]}
    wire = Wire(cc)
    wire.request({"seeds": cc.seeds, "ops": [stroke]})
    n = len(regressor.calls)
    # a move of a tenth of a pixel covers the same pixels: same projection, no regressor call
    content, _ = wire.request({"seeds": cc.seeds, "ops": [dict(stroke, points=[[20.0, 20.0], [20.1, 20.0]])]})
    assert content["type"] == "lw:frame" and len(regressor.calls) == n
    wire.request({"seeds": cc.seeds, "ops": [dict(stroke, points=[[20.0, 20.0], [30.0, 20.0]])]})
    assert len(regressor.calls) == n + 1
    cc.new_sample(0, seed=77)  # same pixels, new source: projected again
    assert len(regressor.calls) == n + 2


def test_code_makes_the_same_collage_again(model, regressor, monkeypatch):
    cc = CollageCanvas(model, n_sources=2, seed=3, regressor=regressor)
    cc.rect(0, 0, 0, 32, 64)
    cc.paint(1, [(40.5, 10), (50, 30.25)], radius=3)
    cc.erase([(20, 20)], radius=2.5)
    cc.erase_rect(0, 0, 8, 8)
    cc.fill(1)
    cc.new_sample(0, seed=11)
    code = cc.code()
    assert "cc.rect(0, 0, 0, 32, 64)" in code and "cc.paint(1, [(40.5, 10), (50, 30.25)], radius=3)" in code
    assert "cc.erase([(20, 20)], radius=2.5)" in code and "cc.erase_rect(0, 0, 8, 8)" in code
    assert "cc.fill(1)" in code and "cc.seeds = [11, 4]" in code and "reg = ..." in code
    # in a fresh namespace, with the model by its name and the regressor given
    monkeypatch.setattr(lw, "load", lambda name: model if name == model.name else None)
    ns = {"given": regressor}
    exec(code.replace("reg = ...", "reg = given"), ns)
    again = ns["cc"]
    assert again.ops == cc.ops and again.seeds == cc.seeds and torch.equal(again.image, cc.image)
    cc.close()
    again.close()


# ---------------------------------------------------------------------------------- truncation
def test_truncation_draws_the_sources_truncated_on_a_mapping_model(cc, model, regressor):
    assert cc.truncation == 1.0 and "truncation" in cc._front_fields
    wire = Wire(cc)
    cc.fill(0)
    z = torch.cat([model.sample_z(1, seed=s) for s in (5, 6, 7)])
    plain = cc.sources
    assert torch.equal(plain, model.generate(z)), "truncation 1: the samples as they are"
    content, buffers = wire.request({"seeds": cc.seeds, "ops": cc.ops, "truncation": 0.5})
    assert content["type"] == "lw:frame" and content["state"]["truncation"] == 0.5
    assert len(content["frames"]) == 4, "the sources changed: the frame carries them again"
    assert torch.allclose(cc.sources, model.generate(z, truncation=0.5), atol=1e-6)
    assert not torch.allclose(cc.sources, plain, atol=1e-3)
    assert torch.allclose(regressor.calls[-1][0], cc.sources[:1], atol=1e-6), "the collage takes the truncated pixels"
    assert torch.allclose(shown(content, buffers)[1:], cc.sources, atol=1 / 255 + 1e-6)
    assert "truncation=0.5" in cc.code()
    content, _ = wire.request({"ops": cc.ops + [{"tool": "rect", "source": None, "x0": 0, "y0": 0, "x1": 8, "y1": 8}]})
    assert len(content["frames"]) == 1 and cc.truncation == 0.5, "a stroke keeps the truncation, sends no sources"
    wire.request({"truncation": 1.0})
    assert torch.equal(cc.sources, plain) and "truncation" not in cc.code()
    assert wire.request({"truncation": 1.5})[0]["type"] == "lw:error" and cc.truncation == 1.0


def test_code_with_truncation_makes_the_same_collage_again(model, regressor, monkeypatch):
    cc = CollageCanvas(model, regressor, n_sources=2, seed=1, truncation=0.7)
    cc.rect(1, 0, 0, 64, 32)
    code = cc.code()
    assert "lw.CollageCanvas(model, reg, n_sources=2, seed=1, truncation=0.7)" in code
    monkeypatch.setattr(lw, "load", lambda name: model if name == model.name else None)
    ns = {"given": regressor}
    exec(code.replace("reg = ...", "reg = given"), ns)
    again = ns["cc"]
    assert again.truncation == 0.7 and torch.equal(again.sources, cc.sources) and torch.equal(again.image, cc.image)
    cc.close()
    again.close()


def test_a_model_without_truncation_offers_none():
    torch.manual_seed(0)
    m = lw.load(plain_decoder_net(8, 8))
    cc = CollageCanvas(m, StandInRegressor(m), n_sources=2)
    assert "truncation" not in cc.state() and "truncation" not in cc._front_fields
    assert torch.equal(cc.sources, m.generate(torch.cat([m.sample_z(1, seed=s) for s in (0, 1)])))
    with pytest.raises(traitlets.TraitError, match="no truncation trick"):
        cc.truncation = 0.5
    reply = Wire(cc).request({"truncation": 0.5})
    assert reply[0]["type"] == "lw:error" and "may set only ['ops', 'seeds']" in reply[0]["message"]
    assert cc.truncation == 1.0 and "truncation" not in cc.code()
    cc.close()


def test_a_model_with_its_own_truncation_draws_the_sources_with_the_widgets():
    m = OwnTruncationDecoder(8, 8)
    cc = CollageCanvas(m, StandInRegressor(m), n_sources=2, seed=3)
    assert cc.truncation == 0.4 and "truncation" in cc._front_fields, "the canvas starts at the model's setting"
    z = torch.cat([m.sample_z(1, seed=s) for s in (3, 4)])
    assert torch.equal(cc.sources, m.generate(z))
    cc.truncation = 0.8
    assert m.truncation == 0.4, "the model's own setting is put back"
    assert torch.allclose(cc.sources, m.generate(z / 0.4 * 0.8), atol=1e-6)
    cc.close()
