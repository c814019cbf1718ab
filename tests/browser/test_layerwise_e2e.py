"""End to end: the layerwise notebook's LayerwiseEditor in a real JupyterLab in headless Chromium.

Click the "fine" preset of the selected edit: Python's stack follows, the picture on screen changes,
and it is what ``render_edits`` predicts for that stack (computed independently in the kernel).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "notebooks" / "layerwise.ipynb"

_FIND = """
import gc as _gc, json as _json
from latentwidgets.widgets import LayerwiseEditor as _LE
from latentwidgets.edit import Edit as _Edit, render_edits as _render
_ed = next((v for v in list(globals().values()) if isinstance(v, _LE) and v._uid == {uid!r}), None) or \\
      next(o for o in _gc.get_objects() if isinstance(o, _LE) and o._uid == {uid!r})
"""

_STATE = _FIND + """
_pred = _render(_ed.model, _ed.z, [_Edit(_ed.directions, it["direction"], it["strength"], layers=tuple(it["layers"]))
                                   for it in _ed.stack])[1]
_u8 = lambda x: (x * 255).round().clamp(0, 255).byte().permute(0, 2, 3, 1).tolist()
print(_json.dumps({{"stack": _ed.stack, "selected": _ed.selected, "groups": _ed.controls["groups"],
                    "image": _u8(_ed.image), "predicted": _u8(_pred)}}))
"""

_JS_CANVASES = """
(uid) => Array.from(document.querySelectorAll(`.lw-layerwise[data-uid="${uid}"] .lw-grid canvas`)).map((c) => {
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const out = [];
  for (let i = 0; i < d.length; i += 4) out.push(d[i], d[i + 1], d[i + 2]);
  return out;
})
"""


@pytest.mark.browser
def test_layer_range_preset_changes_the_image_as_predicted(lab_factory):
    lab, page = lab_factory({NOTEBOOK.name: NOTEBOOK}, open=NOTEBOOK.name)
    page.run_all()
    root = page.page.locator(".lw-layerwise").first
    root.wait_for(state="visible", timeout=120000)
    uid = root.get_attribute("data-uid")
    page.page.wait_for_function(
        f"Number(document.querySelector('.lw-layerwise[data-uid=\"{uid}\"]').dataset.frames) >= 1")
    page.wait_kernel_idle()
    root.scroll_into_view_if_needed()
    s0 = page.python_json(_STATE.format(uid=uid))
    sel = s0["selected"]
    fine = s0["groups"]["fine"]
    assert s0["stack"][sel]["layers"] != fine
    before = np.asarray(page.page.evaluate(_JS_CANVASES, uid), dtype=np.int16)
    py0 = np.asarray(s0["image"], dtype=np.int16).reshape(before.shape[0], -1)
    assert np.abs(before - py0).max() <= 1, "the canvas shows .image"

    root.locator("button.lw-preset-fine").click()
    page.page.wait_for_function(
        """([uid, sel, fine]) => { const r = document.querySelector(`.lw-layerwise[data-uid="${uid}"]`);
             const o = r.querySelector('.lw-range-value'); return o && o.textContent.startsWith('fine'); }""",
        arg=[uid, sel, fine])
    page.page.wait_for_timeout(300)
    page.wait_kernel_idle()
    for _ in range(50):  # the frame of the new range has been drawn when the canvas stops changing
        s1 = page.python_json(_STATE.format(uid=uid))
        after = np.asarray(page.page.evaluate(_JS_CANVASES, uid), dtype=np.int16)
        pred = np.asarray(s1["predicted"], dtype=np.int16).reshape(after.shape[0], -1)
        if np.abs(after - pred).max() <= 1:
            break
        page.page.wait_for_timeout(200)
    assert s1["stack"][sel]["layers"] == fine, "Python's stack follows the preset"
    assert np.abs(np.asarray(s1["image"], dtype=np.int16).reshape(pred.shape) - pred).max() == 0, \
        ".image is render_edits of the stack"
    assert np.abs(after - pred).max() <= 1, "the canvas shows what render_edits predicts for the new range"
    moved = (np.abs(after - before) > 3).mean()
    assert moved > 0.01, f"the picture did not change ({moved:.1%} of values moved)"
    filled = root.locator(".lw-layer.lw-in")
    assert [int(x) for x in filled.evaluate_all("els => els.map(e => e.dataset.layer)")] == list(range(*fine)), \
        "the track fills exactly the chosen layers"
    assert root.locator(".lw-range-value").text_content() == f"fine: layers {fine[0]}-{fine[1] - 1}"
    page.screenshot("layerwise-after-fine-preset")

    # ---- the first handle by keyboard: one layer down; Python's stack follows
    root.locator(".lw-handle-first").focus()
    page.page.keyboard.press("ArrowLeft")
    page.page.wait_for_timeout(300)
    page.wait_kernel_idle()
    for _ in range(50):
        s2 = page.python_json(_STATE.format(uid=uid))
        if s2["stack"][sel]["layers"] == [fine[0] - 1, fine[1]]:
            break
        page.page.wait_for_timeout(200)
    assert s2["stack"][sel]["layers"] == [fine[0] - 1, fine[1]]
    assert root.locator(".lw-handle-first").get_attribute("aria-valuenow") == str(fine[0] - 1)

    # ---- side by side: each sample without edits, then with the stack
    root.locator('button.lw-mode[data-mode="side by side"]').click()
    page.page.wait_for_function(
        f"document.querySelectorAll('.lw-layerwise[data-uid=\"{uid}\"] .lw-grid canvas.lw-original').length >= 1")
    page.page.wait_for_timeout(300)
    page.wait_kernel_idle()
    kinds = root.locator(".lw-grid canvas").evaluate_all("els => els.map(e => e.classList.contains('lw-original'))")
    assert kinds[:2] == [True, False] and len(kinds) == 2 * len(s2["image"])
    page.screenshot("layerwise-side-by-side")
