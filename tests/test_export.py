"""Figures outside a kernel: matplotlib grids with labelled axes, GIF traversals, and the one-file HTML
(inlined frames and script, no external URL, escaped names), for both widgets."""

from __future__ import annotations

import base64
import io
import json
import re

import numpy as np
import pytest
import torch
from PIL import Image

from latentwidgets.directions.record import Directions
from latentwidgets.edit import Edit, render_edits
from latentwidgets.export import figure_grid, save_gif, save_html, traversal
from latentwidgets.widgets import DirectionExplorer, LayerwiseEditor

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


def test_explorer_figure_has_labelled_axes(model, directions):
    ex = DirectionExplorer(model, directions, seed=1)
    fig = ex.figure(strengths=[-2, 0, 2])
    assert len(fig.axes) == 3 * 3
    ylabels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert ylabels == directions.names
    xlabels = [ax.get_xlabel() for ax in fig.axes if ax.get_xlabel()]
    assert xlabels == ["-2", "+0", "+2"]
    fig.savefig(io.BytesIO(), format="png")
    with pytest.raises(ValueError, match="labels"):
        figure_grid(torch.zeros(2, 2, 3, 4, 4), ["a"], [0, 1])


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
    ex = DirectionExplorer(model, directions, seed=1)
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
    assert img.size == (model.resolution, model.resolution)
    assert data["frames"][0][0] != data["frames"][0][4]


def test_html_payload_cannot_close_the_script(tmp_path):
    grid = torch.rand(1, 2, 3, 4, 4)
    doc = save_html(tmp_path / "x.html", grid, [EVIL], [EVIL, 1.0], title=EVIL).read_text()
    assert EVIL not in doc and doc.count("</script>") == 2


def test_editor_figure_gif_html(model, directions, tmp_path):
    ed = LayerwiseEditor(model, directions)
    ed.add("plain", 2.0, "fine")
    fig = ed.figure(ranges=["coarse", "fine"], strengths=[-2, 2])
    assert [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()] == ["coarse 0-4", "fine 8-10"]
    assert im_frames(ed.save_gif(tmp_path / "e.gif", steps=4)) == 6
    doc = ed.save_html(tmp_path / "e.html", ranges=["coarse", None], steps=3).read_text()
    data = _frames_of(doc)
    assert len(data["frames"]) == 2 and "all 0-10" in doc


def im_frames(path) -> int:
    return Image.open(path).n_frames
