"""Saved notebooks keep their pictures: a widget displayed in a kernel leaves a PNG of its frame right after
its view; nbconvert's HTML shows it for every widget, and it follows the widget when a later cell changes it.
Figures show as one image in a kernel, pyplot imported or not. Both run a real kernel through nbclient."""

from __future__ import annotations

import base64
import copy
import io

import nbformat
import numpy as np
import pytest
import torch
from PIL import Image

from latentwidgets.widgets.snapshot import GAP, snapshot_png

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

SETUP = """
import torch
import latentwidgets as lw
from latentwidgets.directions.record import Directions
model = lw.load("sprites-style")
g = torch.Generator().manual_seed(2)
d = Directions(torch.randn(3, model.w_dim, generator=g), "w", sigma=torch.tensor([3.0, 3.0, 3.0]),
               names=["a", "b", "c"], layers=[None, (0, 4), (8, 10)], method="test", model_id=model.name)
"""


def run_cells(cells: list[str], tmp_path, monkeypatch) -> list[nbformat.NotebookNode]:
    """Execute ``cells`` one by one in a fresh python3 kernel; the notebook after each cell (deep copies)."""
    from nbclient import NotebookClient

    # a private Jupyter data dir: a user-level "python3" kernelspec cannot shadow this environment's kernel
    monkeypatch.setenv("JUPYTER_DATA_DIR", str(tmp_path / "jupyter-data"))
    monkeypatch.delenv("MPLBACKEND", raising=False)
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    states = []
    with client.setup_kernel():
        for i, cell in enumerate(nb.cells):
            client.execute_cell(cell, i)
            states.append(copy.deepcopy(nb))
    errors = [o for c in nb.cells for o in c.outputs if o.output_type == "error"]
    assert not errors, "\n".join("\n".join(e.traceback) for e in errors)
    return states


def png_size(output) -> tuple[int, int]:
    return Image.open(io.BytesIO(base64.b64decode(output.data["image/png"]))).size


def test_snapshot_png_draws_each_image_at_the_display_size_and_wraps():
    rows = [torch.rand(2, 3, 64, 64), torch.rand(1, 3, 32, 32)]
    im = Image.open(io.BytesIO(snapshot_png(rows, 192)))
    assert im.size == (2 * 192 + GAP, 192 + GAP + 192)
    big = Image.open(io.BytesIO(snapshot_png([torch.rand(3, 3, 512, 512)], 256)))
    assert big.size == (3 * 256 + 2 * GAP, 256), "large frames are reduced to the display size"
    wrapped = Image.open(io.BytesIO(snapshot_png([torch.rand(8, 3, 64, 64)], 192, max_width=600)))
    assert wrapped.size == (3 * 192 + 2 * GAP, 3 * 192 + 2 * GAP), "rows wrap at the widest snapshot"
    # pixels are repeated, not blurred, when enlarged: a 2x2 checker stays two colours
    checker = torch.tensor([[0.0, 1.0], [1.0, 0.0]]).expand(1, 3, 2, 2)
    arr = Image.open(io.BytesIO(snapshot_png([checker], 8))).convert("L")
    assert sorted(set(np.asarray(arr).ravel().tolist())) == [0, 255]


def test_a_widget_never_displayed_sends_no_snapshot(untrained_style_model):
    from latentwidgets.directions.record import Directions
    from latentwidgets.widgets import DirectionExplorer
    from latentwidgets.widgets.snapshot import _behind

    d = Directions(torch.randn(2, untrained_style_model.w_dim), "w", method="test", model_id="sprites-style")
    ex = DirectionExplorer(untrained_style_model, d)
    ex.strengths = [1.0, 0.0]
    assert ex._snapshot_id is None and ex not in _behind
    ex.close()


@pytest.mark.slow
def test_saved_notebook_keeps_a_picture_of_every_widget(tmp_path, monkeypatch):
    from nbconvert import HTMLExporter

    cells = [SETUP,
             "ex = lw.DirectionExplorer(model, d, n=2)\nex",
             "ed = lw.LayerwiseEditor(model, d)\ned.add(0, 2.0, 'coarse')\ned",
             "cc = lw.CollageCanvas(model, n_sources=2)\ncc.rect(0, 0, 0, 32, 64)\ncc.rect(1, 32, 0, 64, 64)\ncc",
             "ex.strengths = [3.0, 0.0, -3.0]\ned.set_strength(-3.0)\ncc.erase_rect(16, 16, 48, 48)"]
    states = run_cells(cells, tmp_path, monkeypatch)
    before, after = states[3], states[4]
    for i, name in [(1, "DirectionExplorer"), (2, "LayerwiseEditor"), (3, "CollageCanvas")]:
        outs = before.cells[i].outputs
        assert len(outs) == 2, f"{name}: the widget view then its snapshot; got {[list(o.data) for o in outs]}"
        view, snap = outs
        assert WIDGET_VIEW in view.data and "image/png" not in view.data, "the view's own output stays as it is"
        assert set(snap.data) == {"image/png", "text/plain"}
        assert name in snap.data["text/plain"]
        assert after.cells[i].outputs[1].data["image/png"] != snap.data["image/png"], \
            f"{name}: the snapshot did not follow the change made in a later cell"
    width, _ = png_size(before.cells[1].outputs[1])
    assert width == 2 * 192 + GAP, "two samples, each at the explorer's display size"

    html, _ = HTMLExporter().from_notebook_node(after)
    for i in (1, 2, 3):
        png = after.cells[i].outputs[1].data["image/png"]
        assert f"data:image/png;base64,{png}" in html.replace("\n", ""), f"no <img> for the widget of cell {i}"


@pytest.mark.slow
def test_figures_show_as_one_image_in_a_kernel_with_or_without_pyplot(tmp_path, monkeypatch):
    cells = [SETUP + "ex = lw.DirectionExplorer(model, d, n=2)\ned = lw.LayerwiseEditor(model, d)\n"
             "ed.add(0, 2.0)\ncc = lw.CollageCanvas(model, n_sources=2)",
             "ex.figure()", "ed.figure()", "cc.figure()",
             "import matplotlib.pyplot as plt\nex.figure()",
             "%matplotlib inline\ned.figure()",
             "cc.figure()"]
    nb = run_cells(cells, tmp_path, monkeypatch)[-1]
    for i, cell in enumerate(nb.cells[1:], start=1):
        outs = cell.outputs
        images = [o for o in outs if "image/png" in o.get("data", {})]
        assert len(images) == 1, f"cell {i} ({cell.source!r}): {[list(o.get('data', {})) for o in outs]}"
        texts = [o for o in outs if set(o.get("data", {})) == {"text/plain"}]
        assert not texts, f"cell {i} printed {texts[0].data['text/plain']!r} instead of a picture"
        w, _ = png_size(images[0])
        assert w <= 8 * 100, f"cell {i}: {w} px wide, more than a notebook column"
