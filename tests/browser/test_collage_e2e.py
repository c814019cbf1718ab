"""End to end: a CollageCanvas in a real JupyterLab in headless Chromium, painted with the mouse.

Paint a brush stroke across a source: the projection on screen changes while painting, Python's
``.mask`` is the stroke (pixels within the brush radius of the mouse path, within a tolerance for the
scaled mouse coordinates) and exactly the label map the page drew, and the projection canvas shows
Python's ``.image``. Then undo, and erase a hole in a full source on the collage (inpainting).
Screenshots go to ``artifacts/browser/``.
"""

from __future__ import annotations

import json

import nbformat
import numpy as np
import pytest

# The regressor: a stand-in with LatentRegressor's project(images, mask) interface (a fixed random linear
# map of the pooled masked image), so that every stroke moves the projection whatever the state of the
# shipped regressor's training (an untrained LatentRegressor starts at the mean latent and barely moves).
SETUP = """
import torch, torch.nn.functional as F
import latentwidgets as lw
torch.set_num_threads(1)
model = lw.load("sprites-style")

class StandInRegressor:
    def __init__(self, model):
        self.model = model
        self.weight = torch.randn(4 * 64, model.w_dim, generator=torch.Generator().manual_seed(0)) * 0.3
    def project(self, images, mask):
        x = torch.cat([F.adaptive_avg_pool2d(images * mask, 8), F.adaptive_avg_pool2d(mask, 8)], 1).flatten(1)
        return (x @ self.weight + self.model.w_avg())[:, None].expand(-1, self.model.num_layers, -1)

regressor = StandInRegressor(model)
"""
SHOW = "cc = lw.CollageCanvas(model, regressor, n_sources=3, seed=0, brush_radius=4)\ncc"

_STATE = """
import json as _json
_u8 = lambda x: (x * 255).round().clamp(0, 255).byte().permute(0, 2, 3, 1).tolist()
print(_json.dumps({"mask": cc.mask[0, 0].tolist(), "collage": _u8(cc.collage)[0],
                  "labels": cc.labels.flatten().tolist(), "ops": cc.ops,
                   "image": _u8(cc.image)[0], "radius": cc.brush_radius, "res": cc.model.resolution,
                   "encoding": cc.encoding}))
"""

_JS_VIEW = """
(uid) => {
  const root = document.querySelector(`.lw-collage[data-uid="${uid}"]`);
  const read = (sel) => {
    const c = root.querySelector(sel);
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    const rgb = [];
    for (let i = 0; i < d.length; i += 4) rgb.push(d[i], d[i + 1], d[i + 2]);
    return rgb;
  };
  return { labels: root.lwCollage.labels(), ops: root.lwCollage.ops(), rgb: read('canvas.lw-projection'),
           collage: read('canvas.lw-collage-image') };
}
"""

_JS_LISTEN = """
(uid) => {
  const root = document.querySelector(`.lw-collage[data-uid="${uid}"]`);
  window.__lwc = { frames: 0, last: null, errors: [] };
  root.addEventListener('lw-frame', (e) => { window.__lwc.frames += 1; window.__lwc.last = e.detail; });
  root.addEventListener('lw-error', (e) => window.__lwc.errors.push(e.detail.message));
}
"""

# the last frame drawn is of the page's current operations, and nothing is in flight
_JS_SETTLED = """
(uid) => {
  const root = document.querySelector(`.lw-collage[data-uid="${uid}"]`);
  const last = window.__lwc && window.__lwc.last;
  return !!last && !!last.state && !root.lwCollage.transport.busy &&
    JSON.stringify(last.state.ops) === JSON.stringify(root.lwCollage.ops());
}
"""


def segment_distance(res, a, b):
    """Distance of every pixel centre of a res x res image to the segment a-b (image pixels)."""
    ys, xs = np.mgrid[0:res, 0:res] + 0.5
    a, b = np.asarray(a, float), np.asarray(b, float)
    d = b - a
    t = np.clip(((xs - a[0]) * d[0] + (ys - a[1]) * d[1]) / max(d @ d, 1e-12), 0, 1)
    return np.hypot(xs - (a[0] + t * d[0]), ys - (a[1] + t * d[1]))


def drag(page, box, frm, to, steps=40, pause_ms=20):
    """Mouse down at fraction ``frm`` of ``box``, move in ``steps`` to ``to``, release."""
    at = lambda f: (box["x"] + box["width"] * f[0], box["y"] + box["height"] * f[1])  # noqa: E731
    page.mouse.move(*at(frm))
    page.mouse.down()
    for i in range(1, steps + 1):
        f = (frm[0] + (to[0] - frm[0]) * i / steps, frm[1] + (to[1] - frm[1]) * i / steps)
        page.mouse.move(*at(f))
        page.wait_for_timeout(pause_ms)
    page.mouse.up()


@pytest.mark.browser
def test_paint_a_stroke_undo_and_inpaint(lab_factory, tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_code_cell(SETUP.strip()), nbformat.v4.new_code_cell(SHOW)]
    path = tmp_path / "collage_e2e.ipynb"
    nbformat.write(nb, str(path))
    lab, page = lab_factory({path.name: path}, open=path.name)
    page.run_all()
    p = page.page
    root = p.locator(".lw-collage").first
    root.wait_for(state="visible", timeout=60000)
    uid = root.get_attribute("data-uid")
    p.wait_for_function(f"document.querySelector('.lw-collage[data-uid=\"{uid}\"]').dataset.frames >= 1")
    root.scroll_into_view_if_needed()
    p.evaluate(_JS_LISTEN, uid)
    view0 = p.evaluate(_JS_VIEW, uid)
    state0 = page.python_json(_STATE)
    assert state0["ops"] == [] and np.sum(state0["mask"]) == 0
    page.screenshot("collage-0-after-run-all")

    # ---- paint a stroke across source 1 with the mouse
    res, radius = state0["res"], state0["radius"]
    overlay = root.locator(".lw-source-overlay").nth(1)
    box = overlay.bounding_box()
    frm, to = (0.2, 0.3), (0.8, 0.6)
    drag(p, box, frm, to)
    p.wait_for_function(_JS_SETTLED, arg=uid, timeout=30000)
    assert p.evaluate("window.__lwc.frames") >= 2, "projections were drawn while painting"
    assert p.evaluate("window.__lwc.errors") == []
    view1 = p.evaluate(_JS_VIEW, uid)
    state1 = page.python_json(_STATE)
    (op,) = state1["ops"]
    assert op["tool"] == "brush" and op["source"] == 1 and len(op["points"]) >= 10
    assert state1["labels"] == view1["labels"], "Python's label map is what the page drew"
    mask = np.asarray(state1["mask"]) > 0.5
    expected = segment_distance(res, np.multiply(frm, res), np.multiply(to, res)) <= radius
    iou = (mask & expected).sum() / (mask | expected).sum()
    assert iou > 0.85, f".mask does not match the stroke (IoU {iou:.2f})"
    assert set(np.asarray(state1["labels"])[mask.flatten()]) == {1}
    # the projection on screen is Python's .image, and it changed
    shown = np.asarray(view1["rgb"], np.int16).reshape(res, res, 3)
    py = np.asarray(state1["image"], np.int16)
    tol = 1 if state1["encoding"] != "jpeg" else 12
    assert np.abs(shown - py).max() <= tol, "the projection canvas differs from .image"
    # the collage the page composed is Python's .collage where known
    page_collage = np.asarray(view1["collage"], np.int16).reshape(res, res, 3)
    assert np.abs(page_collage - np.asarray(state1["collage"], np.int16))[mask].max() <= tol
    change = np.abs(shown - np.asarray(view0["rgb"], np.int16).reshape(res, res, 3))
    assert (change > 3).mean() > 0.01, (f"the projection on screen did not change (before: mean "
                                        f"{np.mean(view0['rgb']):.1f}, after: {shown.mean():.1f}, "
                                        f".image {py.mean():.1f})")
    page.screenshot("collage-1-after-stroke")

    # ---- undo
    root.locator("button.lw-undo").click()
    p.wait_for_function(_JS_SETTLED, arg=uid, timeout=30000)
    state2 = page.python_json(_STATE)
    assert state2["ops"] == [] and np.sum(state2["mask"]) == 0

    # ---- inpainting: take all of source 0, erase a hole on the collage
    root.locator("button.lw-fill").first.click()
    collage = root.locator("canvas.lw-collage-image")
    drag(p, collage.bounding_box(), (0.3, 0.5), (0.7, 0.5), steps=20)
    p.wait_for_function(_JS_SETTLED, arg=uid, timeout=30000)
    state3 = page.python_json(_STATE)
    assert [o["tool"] for o in state3["ops"]] == ["fill", "brush"] and state3["ops"][1]["source"] is None
    hole = np.asarray(state3["mask"]) < 0.5
    expected = segment_distance(res, (0.3 * res, 0.5 * res), (0.7 * res, 0.5 * res)) <= radius
    iou = (hole & expected).sum() / (hole | expected).sum()
    assert iou > 0.85, f"the erased hole does not match the stroke (IoU {iou:.2f})"
    assert state3["labels"] == p.evaluate(_JS_VIEW, uid)["labels"]
    page.screenshot("collage-2-inpainting")
    print(json.dumps({"iou_hole": round(float(iou), 3), "frames": p.evaluate("window.__lwc.frames")}))
