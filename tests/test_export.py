"""Figures outside a kernel: matplotlib grids with labelled axes in each row's own unit, sized for a notebook
column, that show as a PNG; GIF traversals; and the one-file HTML (inlined frames and script, no external
URL, escaped names, the widget's display size, model / seed / version / date, a play button), for every
widget (the explorer, the layer-wise editor's whole stack, the collage)."""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

import latentwidgets
from latentwidgets import export
from latentwidgets.directions.record import Directions
from latentwidgets.edit import Edit, edits_for, render_edits
from latentwidgets.export import LABEL_PT, MAX_WIDTH_IN, figure_grid, save_gif, save_html, traversal
from latentwidgets.widgets import CollageCanvas, DirectionExplorer, LayerwiseEditor

EVIL = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def model(untrained_style_model):
    return untrained_style_model


@pytest.fixture(scope="module")
def directions(model):
    g = torch.Generator().manual_seed(2)
    return Directions(torch.randn(3, model.w_dim, generator=g), "w", sigma=torch.tensor([3.0, 3.0, 3.0]),
                      names=[EVIL, "b & c", "plain"], layers=[None, (0, 4), (8, 10)], method="test",
                      model_id=model.name)


def _frames_of(doc: str):
    blob = re.search(r'<script type="application/json" id="lw-data">(.*?)</script>', doc, re.S).group(1)
    return json.loads(blob)


def test_traversal_cells_are_render_edits(model, directions):
    z = model.sample_z(2, seed=4)
    grid = traversal(model, z, [0, 2], [-1.0, 0.0, 1.0], lambda k, s: [Edit(directions, k, s)])
    assert grid.shape == (2, 3, 3, model.resolution, 2 * model.resolution)
    exp = render_edits(model, z, [Edit(directions, 2, 1.0)])[1]
    assert torch.allclose(grid[1, 2, :, :, : model.resolution], exp[0].clamp(0, 1))
    assert torch.allclose(grid[1, 2, :, :, model.resolution:], exp[1].clamp(0, 1))


def texts(fig):
    """Every non-empty text of a figure (labels, titles)."""
    from matplotlib.text import Text

    return [t for t in fig.findobj(Text) if t.get_text()]


def test_explorer_figure_has_labelled_axes_and_fits_a_notebook_column(model, directions):
    ex = DirectionExplorer(model, directions, seed=1, n=4)
    fig = ex.figure(strengths=[-2, 0, 2])
    assert isinstance(fig, export.Figure)
    assert len(fig.axes) == 3 * 3
    ylabels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert ylabels == directions.names
    xlabels = [ax.get_xlabel() for ax in fig.axes if ax.get_xlabel()]
    assert xlabels == ["-2\u03c3", "0\u03c3", "+2\u03c3"], "one unit for every row: labels under the last row only"
    assert fig.get_figwidth() <= MAX_WIDTH_IN
    assert min(t.get_fontsize() for t in texts(fig)) >= LABEL_PT >= 9
    png = Image.open(io.BytesIO(fig._repr_png_()))
    assert png.width <= MAX_WIDTH_IN * export.REPR_DPI + 1
    with pytest.raises(ValueError, match="labels"):
        figure_grid(torch.zeros(2, 2, 3, 4, 4), ["a"], [0, 1])


def test_figure_shows_as_a_png_without_pyplot(model, directions):
    from IPython.core.formatters import DisplayFormatter

    fig = DirectionExplorer(model, directions).figure(steps=3)
    data, _ = DisplayFormatter().format(fig)
    assert data["image/png"][:8] == b"\x89PNG\r\n\x1a\n"


CAL = {"unit": "x shift, px", "alpha": [-5.0, 0.0, 5.0], "t": [-20.0, 0.0, 20.0]}


def test_each_row_in_its_own_unit_over_its_calibrated_range(model, tmp_path):
    g = torch.Generator().manual_seed(2)
    d = Directions(torch.randn(2, model.w_dim, generator=g), "w", names=["x", "pca"], calibration=[CAL, None],
                   method="factors", model_id=model.name)
    ex = DirectionExplorer(model, d, n=2)
    fig = ex.figure(steps=5)
    by_row = [[ax.get_xlabel() for ax in fig.axes[r * 5:(r + 1) * 5]] for r in range(2)]
    assert by_row == [["-20 px", "-10 px", "0 px", "+10 px", "+20 px"], ["-3\u03c3", "-1.5\u03c3", "0\u03c3",
                                                                       "+1.5\u03c3", "+3\u03c3"]]
    assert fig.get_supxlabel() == "each row in its own unit"
    # HTML and GIF: the same values (the calibrated row moves 20 px, not 3 sigma)
    data = _frames_of(ex.save_html(tmp_path / "x.html", steps=5, fmt="png").read_text())
    assert data["cols"] == by_row
    z = ex.z
    expected = render_edits(model, z, edits_for(model, d, "x", -20.0, z))[1].clamp(0, 1)
    first = _decode(data["frames"][0][0])
    assert torch.allclose(first, torch.cat(list(expected), dim=2), atol=1 / 255 + 1e-6)
    gif = Image.open(ex.save_gif(tmp_path / "x.gif", direction="x", steps=5))
    gif.seek(0)
    frame0 = torch.tensor(np.asarray(gif.convert("RGB")), dtype=torch.float).permute(2, 0, 1) / 255
    assert (frame0 - first).abs().mean() < 0.03, "the GIF starts where the figure's row does"


def _decode(url: str) -> torch.Tensor:
    img = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")
    return torch.tensor(np.asarray(img), dtype=torch.float).permute(2, 0, 1) / 255


def test_explorer_gif_traverses(model, directions, tmp_path):
    ex = DirectionExplorer(model, directions, seed=1)
    path = ex.save_gif(tmp_path / "walk.gif", direction="plain", steps=5)
    im = Image.open(path)
    assert im.n_frames == 8  # forth (5) and back (3)
    im.seek(0)
    first = torch.tensor(np.asarray(im.convert("RGB")), dtype=torch.float)
    im.seek(4)
    last = torch.tensor(np.asarray(im.convert("RGB")), dtype=torch.float)
    assert (first - last).abs().mean() > 1, "the traversal moves"
    with pytest.raises(ValueError, match="T >= 1"):
        save_gif(tmp_path / "x.gif", torch.zeros(3, 8, 8))


def test_explorer_html_is_self_contained_and_escaped(model, directions, tmp_path):
    ex = DirectionExplorer(model, directions, seed=1, n=2, display_size=150)
    path = ex.save_html(tmp_path / "ex.html", steps=5)
    doc = path.read_text(encoding="utf-8")
    assert EVIL not in doc, "a direction name is inserted unescaped"
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in doc and "b &amp; c" in doc
    assert not re.search(r'(src|href)=["\']?(https?:)?//', doc), "no external resource"
    assert "http://" not in doc and "https://" not in doc
    data = _frames_of(doc)
    assert len(data["frames"]) == 3 and all(len(r) == 5 for r in data["frames"])
    url = data["frames"][0][4]
    assert url.startswith("data:image/jpeg;base64,")
    img = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert img.size == (2 * model.resolution, model.resolution)
    assert data["frames"][0][0] != data["frames"][0][4]
    # drawn at the live widget's size, each sample display_size CSS px wide
    assert re.search(r'<img id="lw-frame"[^>]* width="300"', doc)
    # what made it: model, seed, version, date; and a play button
    meta = data["meta"]
    assert meta["model"] == model.name and meta["seeds"].startswith("1 ") and meta["samples"] == "2"
    assert meta["latentwidgets"] == latentwidgets.__version__ and re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC",
                                                                                meta["date"])
    assert f"<dd>{latentwidgets.__version__}</dd>" in doc and 'id="lw-play"' in doc


def test_large_frames_are_reduced_to_the_display_size(tmp_path):
    grid = torch.rand(1, 2, 3, 512, 1024)  # two 512-px samples
    data = _frames_of(save_html(tmp_path / "x.html", grid, ["a"], [0, 1], display_size=128, samples=2,
                                fmt="png").read_text())
    assert Image.open(io.BytesIO(base64.b64decode(data["frames"][0][0].split(",", 1)[1]))).size == (256, 128)


def test_html_payload_cannot_close_the_script(tmp_path):
    grid = torch.rand(1, 2, 3, 4, 4)
    doc = save_html(tmp_path / "x.html", grid, [EVIL], [EVIL, 1.0], title=EVIL, meta={EVIL: EVIL}).read_text()
    assert EVIL not in doc and doc.count("</script>") == 2


def test_editor_figure_gif_html(model, directions, tmp_path):
    ed = LayerwiseEditor(model, directions)
    ed.add("plain", 2.0, "fine")
    fig = ed.figure(ranges=["coarse", "fine"], strengths=[-2, 2])
    assert isinstance(fig, export.Figure)
    groups = ed.controls["groups"]
    label = [ed._range_label(r, groups) for r in ([0, 4], [8, 10], [0, 10])]  # (the editor's own wording)
    assert [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()] == label[:2]
    assert im_frames(ed.save_gif(tmp_path / "e.gif", steps=4)) == 6
    doc = ed.save_html(tmp_path / "e.html", ranges=["coarse", None], steps=3).read_text()
    data = _frames_of(doc)
    assert len(data["frames"]) == 2 and f"> {label[2]}</label>" in doc


def test_editor_html_exports_the_whole_stack(model, directions, tmp_path):
    ed = LayerwiseEditor(model, directions, n=2)
    ed.add("plain", 2.0, "fine")
    ed.add(0, -1.5, "coarse")
    doc = ed.save_html(tmp_path / "stack.html", steps=3, fmt="png").read_text()
    assert "whole stack" in doc
    data = _frames_of(doc)
    assert len(data["frames"]) == 3, "the whole stack, then one row per edit"
    assert data["cols"][0] == ["\u00d70", "\u00d70.5", "\u00d71"]
    assert data["cols"][1] == ["-3\u03c3", "0\u03c3", "+3\u03c3"]
    none, full = _decode(data["frames"][0][0]), _decode(data["frames"][0][2])
    assert torch.allclose(full, torch.cat(list(ed.image.clamp(0, 1)), dim=2), atol=1 / 255 + 1e-6), \
        "x1 is the stack as the editor shows it"
    assert torch.allclose(none, torch.cat(list(render_edits(model, ed.z, [])[1].clamp(0, 1)), dim=2),
                          atol=1 / 255 + 1e-6), "x0 is no edit"
    # an edit's row: that edit swept, the other as stacked
    expected = render_edits(model, ed.z, [ed.edits[0], Edit(directions, 0, 3.0, layers=(0, 4))])[1].clamp(0, 1)
    assert torch.allclose(_decode(data["frames"][2][2]), torch.cat(list(expected), dim=2), atol=1 / 255 + 1e-6)
    with pytest.raises(IndexError, match="add"):
        LayerwiseEditor(model, directions).save_html(tmp_path / "empty.html")


class StandInRegressor:
    """project(images, mask) -> [B, L, D]: w_avg moved by the mean of the masked image."""

    def __init__(self, model):
        self.model = model

    def project(self, images, mask):
        w = self.model.w_avg() + (images * mask).mean()
        return w.reshape(1, 1, -1).expand(images.shape[0], self.model.num_layers, -1)


def test_collage_figure_and_html(model, tmp_path):
    cc = CollageCanvas(model, StandInRegressor(model), n_sources=2)
    cc.rect(0, 0, 0, 32, 64)
    cc.rect(1, 32, 0, 64, 64)
    cc.erase_rect(16, 16, 48, 48)
    fig = cc.figure()
    assert isinstance(fig, export.Figure) and fig.get_figwidth() <= MAX_WIDTH_IN
    captions = [ax.get_xlabel() for ax in fig.axes if ax.get_xlabel()]
    assert captions == ["source 0 (seed 0)", "source 1 (seed 1)", "collage", "mask (white: known)", "projection"]
    assert min(t.get_fontsize() for t in texts(fig)) >= LABEL_PT
    doc = cc.save_html(tmp_path / "collage.html").read_text()
    data = _frames_of(doc)
    assert data["cols"] == [["0 of 3", "1 of 3", "2 of 3", "3 of 3"]], "the painting replayed, op by op"
    res = model.resolution
    last = _decode(data["frames"][0][-1])
    assert last.shape == (3, res, 3 * res)
    assert torch.allclose(last[:, :, 2 * res:], cc.image[0].clamp(0, 1), atol=1 / 255 + 1e-6), \
        "the last frame's projection is the canvas's"
    assert torch.equal(last[:, :, res:2 * res].round(), cc.mask[0].expand(3, -1, -1)), "the mask"
    assert data["meta"]["seeds"] == "[0, 1]" and data["meta"]["model"] == model.name
    assert doc.count("<figure>") == 2, "the sources as stills"


def im_frames(path) -> int:
    return Image.open(path).n_frames
