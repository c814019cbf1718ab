"""``%load_ext latentwidgets``: Directions records and image tensors get rich output; unloading
removes it."""

from __future__ import annotations

import pytest
import torch

pytest.importorskip("IPython")
from IPython.core.interactiveshell import InteractiveShell  # noqa: E402

from latentwidgets import ipython_ext  # noqa: E402
from latentwidgets.directions.record import Directions  # noqa: E402


@pytest.fixture
def shell():
    sh = InteractiveShell.instance()
    sh.run_line_magic("load_ext", "latentwidgets")
    yield sh
    if "latentwidgets" in sh.extension_manager.loaded:
        sh.run_line_magic("unload_ext", "latentwidgets")


def fmt(shell, obj):
    data, _ = shell.display_formatter.format(obj)
    return data


def test_image_tensors_render_as_png(shell):
    data = fmt(shell, torch.rand(2, 3, 16, 16))
    png = data.get("image/png")
    assert png is not None and png[:8] == b"\x89PNG\r\n\x1a\n"
    import io

    from PIL import Image
    assert Image.open(io.BytesIO(png)).size == (32, 16)
    assert "image/png" in fmt(shell, torch.rand(3, 8, 8))
    for other in (torch.rand(2, 3, 16, 16) * 3, torch.rand(5, 7), torch.randint(0, 2, (3, 8, 8))):
        assert "image/png" not in fmt(shell, other)


def test_directions_without_a_model_render_a_summary(shell):
    d = Directions(torch.eye(4)[:2], "z", sigma=torch.ones(2), names=["<b>x</b>", "y"], layers=[None, None],
                   method="test", model_id="no-such-model")
    html = fmt(shell, d)["text/html"]
    assert "&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    assert "<img" not in html and "model not found" in html


def test_directions_of_a_zoo_model_render_preview_strips(shell):
    from latentwidgets import zoo
    if "sprites-style" not in zoo.available():
        pytest.skip("sprites-style weights not installed")
    d = Directions(torch.nn.functional.normalize(torch.randn(2, 32), dim=1), "w", sigma=torch.ones(2),
                   names=["p0", "p1"], layers=[None, (0, 4)], method="test", model_id="sprites-style")
    html = fmt(shell, d)["text/html"]
    assert html.count("<img") == 2 * len(ipython_ext.PREVIEW_STRENGTHS)
    assert "data:image/png;base64," in html


def test_unload_removes_the_formatters(shell):
    shell.run_line_magic("unload_ext", "latentwidgets")
    assert "image/png" not in fmt(shell, torch.rand(3, 8, 8))
    d = Directions(torch.eye(4)[:1], "z", sigma=torch.ones(1), names=["x"], layers=[None], method="t")
    assert "text/html" not in fmt(shell, d)
