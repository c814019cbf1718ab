"""The picture a saved notebook keeps, in a real JupyterLab and in Notebook 7: hidden while the widget is
live (one view of the widget on screen, no second one), and following the widget, both after a change from
Python and after a slider moved in the page (once idle); saving the notebook keeps the latest picture."""

from __future__ import annotations

import base64
import json

import nbformat
import pytest

SETUP = """
import torch
import latentwidgets as lw
from latentwidgets.directions.record import Directions
model = lw.load("sprites-style")
g = torch.Generator().manual_seed(2)
d = Directions(torch.randn(3, model.w_dim, generator=g), "w", sigma=torch.tensor([3.0, 3.0, 3.0]),
               names=["a", "b", "c"], layers=[None, (0, 4), (8, 10)], method="test", model_id=model.name)
"""

# the explorer's output area: its children (widget view, snapshot), what shows, the snapshot's source
_JS_OUTPUTS = """
() => {
  const root = document.querySelector('.lw-explorer');
  if (!root) return null;
  const area = root.closest('.jp-OutputArea');
  return Array.from(area.querySelectorAll(':scope > .jp-OutputArea-child')).map((c) => {
    const img = c.querySelector('.jp-RenderedImage img');
    return { widgets: c.querySelectorAll('.lw-widget').length, shown: c.getBoundingClientRect().height > 0 &&
             getComputedStyle(c).display !== 'none', src: img ? img.getAttribute('src') : null };
  });
}
"""

_JS_MOVE_SLIDER = """
() => {
  const s = document.querySelector('.lw-explorer input[type=range]');  // (the first slider, whichever it is)
  s.value = String(Number(s.max) * 0.9);
  s.dispatchEvent(new Event('input', { bubbles: true }));
  s.dispatchEvent(new Event('change', { bubbles: true }));
}
"""


@pytest.mark.browser
@pytest.mark.parametrize("app", ["lab", "notebook"])  # JupyterLab 4 and Notebook 7 (the same output areas)
def test_snapshot_is_hidden_while_live_and_follows_the_widget(lab_factory, tmp_path, app):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(SETUP),
                                         nbformat.v4.new_code_cell("ex = lw.DirectionExplorer(model, d, n=2)\nex")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "snap.ipynb"
    nbformat.write(nb, path)
    lab, page = lab_factory({"snap.ipynb": path}, open="snap.ipynb", app=app)
    page.run_all()
    p = page.page
    p.wait_for_function(f"(() => {{ const o = ({_JS_OUTPUTS})(); return o && o.length === 2 && o[1].src; }})()")
    outs = p.evaluate(_JS_OUTPUTS)
    assert outs[0]["widgets"] == 1 and outs[0]["shown"], "the widget view"
    assert outs[1]["widgets"] == 0 and not outs[1]["shown"], "the snapshot is hidden while the widget is live"
    assert p.locator(".lw-explorer").count() == 1, "one view of the widget, not two"
    page.screenshot(f"snapshot-live-{app}")

    # a change from Python (here an execute request, as a cell's): the snapshot follows at once
    first = outs[1]["src"]
    page.python("ex.strengths = [3.0, 0.0, 0.0]")
    p.wait_for_function(f"(() => ({_JS_OUTPUTS})()[1].src !== {json.dumps(first)})()", timeout=20000)
    second = p.evaluate(_JS_OUTPUTS)[1]["src"]

    # a slider moved in the page: frames come from the page; the snapshot follows once the widget is idle
    state = "import json; print(json.dumps(ex.state()))"
    before = page.python_json(state)
    p.evaluate(_JS_MOVE_SLIDER)
    p.wait_for_function(f"(() => ({_JS_OUTPUTS})()[1].src !== {json.dumps(second)})()", timeout=20000)
    outs = p.evaluate(_JS_OUTPUTS)
    assert not outs[1]["shown"] and p.locator(".lw-explorer").count() == 1, "still hidden, still one view"
    assert page.python_json(state) != before, "the page's slider reached Python"

    # saved: the notebook file keeps the latest picture after the widget view
    p.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    saved_src = outs[1]["src"]

    def saved_png():
        cell = nbformat.read(lab.root / "snap.ipynb", as_version=4).cells[1]
        return [o for o in cell.outputs if "image/png" in o.get("data", {})]

    p.wait_for_timeout(1500)
    pngs = saved_png()
    assert len(pngs) == 1
    assert saved_src.endswith(pngs[0]["data"]["image/png"].replace("\n", "")), "the saved picture is the latest"
    assert base64.b64decode(pngs[0]["data"]["image/png"])[:4] == b"\x89PNG"
