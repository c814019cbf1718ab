"""Bad input against the widgets and the exports (issue 19): nothing stuck, bounded work per frame, clear
errors, independent widgets on one model; and the class picker of a conditional model (issue 18).

A value that fails is refused before it is applied, or rolled back after the failed compute, with the
error shown in the widget; the next good request works. The front end is played by calling the
widget's message handler, as in tests/test_explorer.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import traitlets

import latentwidgets as lw
from latentwidgets.directions.record import Directions
from latentwidgets.edit import render_edits
from latentwidgets.export import save_gif, save_html
from latentwidgets.models.decoder import DecoderModel
from latentwidgets.regress.collage import rasterize
from latentwidgets.widgets import CollageCanvas, DirectionExplorer, LayerwiseEditor


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
        return self.sent[-1][0]


class StandInRegressor:
    """project(images, mask) -> [B, L, D]: w_avg moved by the mean of the masked image."""

    def __init__(self, model):
        self.model = model

    def project(self, images, mask):
        w = self.model.w_avg() + (images * mask).mean()
        return w.reshape(1, 1, -1).expand(images.shape[0], self.model.num_layers, -1)


@pytest.fixture(scope="module")
def model(untrained_style_model):
    return untrained_style_model


@pytest.fixture
def directions(model):
    g = torch.Generator().manual_seed(1)
    return Directions(torch.randn(3, model.w_dim, generator=g), "w", sigma=torch.tensor([1.0, 2.0, 0.5]),
                      names=["a", "b", "c"], layers=[(0, 2), None, (4, model.num_layers)], method="test")


# ---------------------------------------------------------------------------------- nothing stuck
def test_a_seed_past_64_bits_is_refused_from_python_and_from_the_page(model, directions):
    ex = DirectionExplorer(model, directions, seed=3)
    wire = Wire(ex)
    with pytest.raises(traitlets.TraitError, match="2\\*\\*63"):
        ex.seed = 2**63
    assert ex.seed == 3
    for bad in (2**63, 1e20):  # the page's seed box took 1e20
        reply = wire.request({"seed": bad})
        assert reply["type"] == "lw:error" and ex.seed == 3
    assert wire.request({"seed": 4})["type"] == "lw:frame" and ex.seed == 4 and ex.error == ""
    assert ex.figure(strengths=[0, 1]) is not None
    ex.seed = 2**63 - 1  # the largest seed works
    with pytest.raises(ValueError, match="2\\*\\*63"):
        CollageCanvas(model, StandInRegressor(model), n_sources=2, seed=2**63)
    ex.close()


def test_js_seed_box_stops_at_the_largest_exact_seed():
    src = (Path(lw.__file__).parent / "widgets" / "static" / "base.js").read_text()
    assert "export const MAX_SEED = Number.MAX_SAFE_INTEGER" in src and "Math.min(MAX_SEED" in src
    explorer = (Path(lw.__file__).parent / "widgets" / "static" / "explorer.js").read_text()
    assert "max: MAX_SEED" in explorer and "clampSeed(seedInput.value)" in explorer


def test_layerwise_add_refuses_a_bad_item_before_it_goes_on_the_stack(model, directions):
    ed = LayerwiseEditor(model, directions)
    with pytest.raises(IndexError, match="out of range"):
        ed.add(99)
    with pytest.raises(KeyError, match="nope"):
        ed.add("nope")
    with pytest.raises(TypeError, match="number"):
        ed.add(0, "2")
    with pytest.raises(ValueError, match="layer"):
        ed.add(0, 1.0, (0, 99))
    assert ed.stack == [] and ed.selected == -1
    assert ed.add("b", 1.0, "coarse") == 0 and len(ed.stack) == 1  # the next add works
    ed.close()


def test_a_failed_compute_from_python_is_rolled_back_shown_and_raised(model, directions):
    ex = DirectionExplorer(model, directions)
    wire = Wire(ex)
    ex.strengths = [1.0, 0.0, 0.0]
    image = ex.image
    with pytest.raises(Exception, match="(?i)inf|nan|finite"):
        ex.strengths = [1e300, 0.0, 0.0]  # finite, but the latents overflow
    assert ex.strengths == [1.0, 0.0, 0.0] and torch.equal(ex.image, image) and ex.controls[0]["max"] == 3.0
    assert ex.error and wire.sent[-1][0]["type"] == "lw:error"
    ex.strengths = [0.5, 0.0, 0.0]  # the next good value works and clears the error
    assert ex.error == "" and wire.sent[-1][0]["type"] == "lw:frame"
    # the same from the page: the value is rolled back, the next good request works
    assert wire.request({"strengths": [1e300, 0.0, 0.0]})["type"] == "lw:error"
    assert ex.strengths == [0.5, 0.0, 0.0]
    assert wire.request({"strengths": [0.25, 0.0, 0.0]})["type"] == "lw:frame" and ex.strengths[0] == 0.25
    ex.close()


def test_a_bad_strip_is_refused_and_a_failing_one_rolled_back(model, directions):
    ed = LayerwiseEditor(model, directions)
    ed.add(0, 1.0)
    strip = ed.strip
    with pytest.raises(traitlets.TraitError, match="does not fit"):
        ed.strip = [[0, 99]]
    assert ed.strip == strip
    with pytest.raises(ValueError, match="finite"):
        ed.set_strength(1e300)  # a huge strength from Python fails: rolled back, shown, raised
    assert ed.stack[0]["strength"] == 1.0 and "finite" in ed.error and ed.controls["max"] == 3.0
    ed.set_strength(0.5)  # the editor still works
    assert ed.stack[0]["strength"] == 0.5 and ed.error == ""
    ed.close()


def test_strengths_beyond_a_slider_widen_its_range(model, directions):
    ex = DirectionExplorer(model, directions, strength_range=3.0)
    ex.strengths = [9.0, -4.0, 0.0]
    assert [(c["min"], c["max"]) for c in ex.controls] == [(-3.0, 9.0), (-4.0, 3.0), (-3.0, 3.0)]
    ed = LayerwiseEditor(model, directions, strength_range=3.0)
    ed.add(0, -7.5)
    assert (ed.controls["min"], ed.controls["max"]) == (-7.5, 3.0)
    ex.close()
    ed.close()


def test_layer_ranges_are_checked_when_the_widget_is_built(model, directions):
    with pytest.raises(ValueError, match="does not fit"):
        DirectionExplorer(model, directions, layers=(0, 99))
    with pytest.raises(ValueError, match="does not fit"):
        LayerwiseEditor(model, directions, strip=[(0, 99)])


def test_setting_a_trait_after_close_is_a_clear_error(model, directions):
    for w in (DirectionExplorer(model, directions), LayerwiseEditor(model, directions),
              CollageCanvas(model, StandInRegressor(model), n_sources=2)):
        image = w.image
        w.close()
        with pytest.raises(RuntimeError, match="closed"):
            if isinstance(w, CollageCanvas):
                w.seeds = [7, 8]
            else:
                w.seed = 5
        with pytest.raises(RuntimeError, match="closed"):
            w.refresh()
        assert torch.equal(w.image, image)


# ---------------------------------------------------------------------------------- clear errors
def test_a_model_name_passed_to_a_widget_says_load_it_first(directions):
    for widget in (DirectionExplorer, LayerwiseEditor):
        with pytest.raises(TypeError, match=r"latentwidgets\.load\('sprites-style'\)"):
            widget("sprites-style", directions)
    with pytest.raises(TypeError, match=r"latentwidgets\.load\('sprites-style'\)"):
        CollageCanvas("sprites-style")


def test_save_gif_to_a_folder_or_another_suffix_names_the_fix(tmp_path, model, directions):
    frames = torch.rand(3, 3, 8, 8)
    with pytest.raises(ValueError, match="folder"):
        save_gif(tmp_path, frames)
    with pytest.raises(ValueError, match=r"\.gif"):
        save_gif(tmp_path / "walk.png", frames)
    ex = DirectionExplorer(model, directions)
    with pytest.raises(ValueError, match=r"\.gif"):
        ex.save_gif(tmp_path / "walk.mp4")  # refused before any frame is rendered
    assert ex.save_gif(tmp_path / "walk.gif", steps=3).stat().st_size > 0
    with pytest.raises(ValueError, match="folder"):
        save_html(tmp_path, torch.rand(1, 2, 3, 8, 8), ["a"], [0, 1])
    ex.close()


@pytest.mark.parametrize("writer", ["gif", "html"])
def test_exports_fail_half_way_and_leave_the_old_file(tmp_path, monkeypatch, writer):
    grid = torch.rand(1, 3, 3, 8, 8)
    path = tmp_path / f"out.{writer}"
    write = (lambda: save_gif(path, grid[0])) if writer == "gif" else (lambda: save_html(path, grid, ["a"], [0, 1, 2]))
    write()
    old = path.read_bytes()

    def fail(target):
        Path(target).write_bytes(b"half")  # a part written, then the disk fails
        raise OSError("disk full")

    if writer == "gif":
        from PIL import Image
        monkeypatch.setattr(Image.Image, "save", lambda self, fp, *a, **k: fail(fp))
    else:
        monkeypatch.setattr(Path, "write_text", lambda self, *a, **k: fail(self))
    with pytest.raises(OSError, match="disk full"):
        write()
    assert path.read_bytes() == old and sorted(p.name for p in tmp_path.iterdir()) == [path.name]


# ---------------------------------------------------------------------------------- bounded work per frame
def _brute_labels(points, radius, source, res):
    """Reference: every pixel centre against every segment, one pixel at a time."""
    out = torch.full((res, res), -1, dtype=torch.int64)
    segs = list(zip(points[:-1], points[1:], strict=True)) if len(points) > 1 else [(points[0], points[0])]
    for j in range(res):
        for i in range(res):
            px, py = i + 0.5, j + 0.5
            for (ax, ay), (bx, by) in segs:
                dx, dy = bx - ax, by - ay
                len2 = dx * dx + dy * dy
                t = min(1.0, max(0.0, ((px - ax) * dx + (py - ay) * dy) / len2)) if len2 > 0 else 0.0
                qx, qy = px - (ax + t * dx), py - (ay + t * dy)
                if qx * qx + qy * qy <= radius * radius:
                    out[j, i] = source
                    break
    return out


def test_a_stroke_in_progress_rasterises_incrementally_and_equals_a_full_rasterisation(model):
    cc = CollageCanvas(model, StandInRegressor(model), n_sources=2)
    res = model.resolution
    cc.rect(1, 0, 0, res / 2, res)
    g = torch.Generator().manual_seed(3)
    pts = (torch.rand(60, 2, generator=g) * (res + 8) - 4).tolist()
    stroke = {"tool": "brush", "source": 0, "radius": 2.5, "points": pts[:1]}
    ops = list(cc.ops)
    n = 1
    while n < len(pts):  # the page sends the stroke so far, a few points more each frame
        n = min(len(pts), n + int(torch.randint(1, 6, (1,), generator=g)))
        cc.ops = ops + [dict(stroke, points=pts[:n])]
        assert torch.equal(cc.labels, rasterize(cc.ops, 2, res)), f"after {n} points"
    stroke_only = _brute_labels(pts, 2.5, 0, res)
    expected = torch.where(stroke_only >= 0, stroke_only, rasterize(ops, 2, res))
    assert torch.equal(cc.labels, expected)
    cc.close()


_FRAME_COST = r"""
import json, math, re, sys, time
import torch
from latentwidgets import zoo
from latentwidgets.models.zoo_style import ZooStyleModel
from latentwidgets.widgets import CollageCanvas

class Reg:
    def __init__(self, model): self.model = model
    def project(self, images, mask):
        w = self.model.w_avg() + (images * mask).mean()
        return w.reshape(1, 1, -1).expand(images.shape[0], self.model.num_layers, -1)

def status(key):
    return int(re.search(key + r":\s+(\d+)", open("/proc/self/status").read()).group(1))

n = int(sys.argv[1])
torch.manual_seed(0)
model = ZooStyleModel(zoo.build("sprites-style", untrained=True), name="sprites-style")
cc = CollageCanvas(model, Reg(model), n_sources=2)
res = model.resolution
pts = [[res / 2 + res * 0.4 * math.cos(i / 50) * math.sin(i / 333), res / 2 + res * 0.4 * math.sin(i / 71)]
       for i in range(n - 1)] + [[1.0, 1.0]]  # the last point paints new pixels: a new projection
stroke = {"tool": "brush", "source": 0, "radius": 2.0}
seconds, peak = [], []
for _ in range(3):
    cc.ops = [dict(stroke, points=pts[:-1])]          # the stroke so far (drawn before)
    open("/proc/self/clear_refs", "w").write("5")     # reset the peak
    rss = status("VmRSS")
    t0 = time.perf_counter()
    cc.ops = [dict(stroke, points=pts)]               # its last frame: one point more
    seconds.append(time.perf_counter() - t0)
    peak.append(status("VmHWM") - rss)
print(json.dumps({"seconds": min(seconds), "peak_mb": max(peak) / 1024}))
"""


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="peak RSS reset needs Linux /proc")
def test_a_frame_costs_the_same_for_a_short_and_a_long_stroke():
    cost = {}
    for n in (500, 20_000):
        out = subprocess.run([sys.executable, "-c", _FRAME_COST, str(n)], capture_output=True, text=True,
                             timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": ""}, check=True)
        cost[n] = json.loads(out.stdout.strip().splitlines()[-1])
    # (before: 0.44 GB and 4.07 GB peaks, up to 5.9 s a frame, growing with the stroke)
    assert cost[20_000]["seconds"] < 2 * cost[500]["seconds"] + 0.01, cost
    assert cost[20_000]["peak_mb"] < 2 * cost[500]["peak_mb"] + 16, cost


# ---------------------------------------------------------------------------------- independent widgets
class TinyDecoder(nn.Module):
    z_dim = 6

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 24)
        self.act = nn.ReLU()
        self.out = nn.Linear(24, 3 * 8 * 8)

    def forward(self, z):
        return torch.sigmoid(self.out(self.act(self.fc(z)))).view(-1, 3, 8, 8)


def test_two_explorers_with_activation_edits_on_one_model_stay_independent_across_threads():
    torch.manual_seed(0)
    m = DecoderModel(TinyDecoder(), z_dim=6, output_range=(0.0, 1.0))
    act = Directions(nn.functional.normalize(torch.randn(2, 24), dim=1), "act:fc", sigma=torch.ones(2) * 3,
                     names=["u", "v"], layers=[None, None], method="test")
    exs = [DirectionExplorer(m, act, seed=s, n=2) for s in (0, 1)]
    values = {0: ([2.0, 0.0], [0.0, 0.0]), 1: ([0.0, -3.0], [0.0, 1.0])}
    expected = {}
    for k, ex in enumerate(exs):  # single-thread renders
        for v in values[k]:
            ex.strengths = v
            expected[k, tuple(v)] = ex.image
    assert not torch.equal(expected[0, (2.0, 0.0)], expected[0, (0.0, 0.0)])
    failures = []

    def drive(k):
        ex = exs[k]
        for i in range(60):
            v = values[k][i % 2]
            ex.strengths = v
            if not torch.equal(ex.image, expected[k, tuple(v)]):
                failures.append((k, i))

    threads = [threading.Thread(target=drive, args=(k,)) for k in (0, 1)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert failures == []
    for ex in exs:
        ex.close()


# ---------------------------------------------------------------------------------- class picker
class ConditionalNet(nn.Module):
    """forward(z, labels [B] indices): an embedding concatenated to z."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(4, 5)
        self.fc = nn.Linear(8 + 5, 3 * 8 * 8)

    def forward(self, z, labels):
        return torch.sigmoid(self.fc(torch.cat([z, self.embed(labels)], 1))).view(-1, 3, 8, 8)


@pytest.fixture
def conditional():
    torch.manual_seed(0)
    return lw.load(ConditionalNet())


def test_class_picker_changes_the_frame_and_is_in_the_state_sent(conditional, model, directions):
    m = conditional
    assert m.num_classes == 4
    d = Directions(torch.randn(2, m.w_dim), m.synthesis_space, sigma=torch.ones(2), names=["p", "q"],
                   layers=[None, None], method="test")
    for ex in (DirectionExplorer(m, d, n=2), LayerwiseEditor(m, d, n=2),
               CollageCanvas(m, StandInRegressor(m), n_sources=2)):
        wire = Wire(ex)
        if isinstance(ex, CollageCanvas):
            ex.fill(0)
            ex.erase_rect(0, 0, 4, 8)
        assert ex.num_classes == 4 and ex.class_index == 0 and "class_index" in ex._front_fields
        before = ex.image
        ex.class_index = 2
        content = wire.sent[-1][0]
        assert content["type"] == "lw:frame" and content["state"]["class_index"] == 2
        assert not torch.equal(ex.image, before), type(ex).__name__
        assert m.class_index == 0, "the model's own class is untouched"
        reply = wire.request({"class_index": 1})
        assert reply["type"] == "lw:frame" and reply["state"]["class_index"] == 1
        assert wire.request({"class_index": 9})["type"] == "lw:error" and ex.class_index == 1
        ex.close()
    ex = DirectionExplorer(m, d, n=2)  # the widget's class: its frames equal render_edits under that class
    ex.class_index = 3
    m.set_class(3)
    assert torch.equal(ex.image, render_edits(m, ex.z, ex.edits)[1])
    m.set_class(0)
    ex.close()
    unconditional = DirectionExplorer(model, directions)  # no picker, no class in the state
    assert unconditional.num_classes == 0 and "class_index" not in unconditional.state()
    unconditional.close()


def test_refresh_redraws_after_the_model_changed_in_place(model, directions):
    ex = DirectionExplorer(model, directions)
    wire = Wire(ex)
    image = ex.image
    with torch.no_grad():
        next(model.module.parameters()).add_(0.5)
    try:
        ex.refresh()
        assert wire.sent[-1][0]["type"] == "lw:frame" and not torch.equal(ex.image, image)
    finally:
        with torch.no_grad():
            next(model.module.parameters()).sub_(0.5)
    ex.close()
