"""Every widget reads in JupyterLab's light and dark themes, and in marimo; its keys work in JupyterLab (issue 20).

One notebook shows a DirectionExplorer, a LayerwiseEditor and a CollageCanvas. In each theme
("JupyterLab Light", then "JupyterLab Dark", switched in the running page) every widget is
screenshotted to ``artifacts/screenshots/<widget>-<theme>.png`` (test artifacts, not committed), its
colours follow the theme (a dark backdrop in the dark theme), and the text of its buttons, pressed or
selected states, inputs and readouts stands out from what it is drawn on: WCAG contrast ratio >= 3
(computed from the colours on screen, backgrounds composited). Under marimo, which resets buttons and
inputs to bare text, an explorer's controls are still styled and read the same way. In JupyterLab,
Ctrl-Z / Ctrl-Shift-Z inside a widget undo and redo it, and other keys (Shift-Enter) still reach JupyterLab.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from latentwidgets.testing.browser import ARTIFACTS, contrast_ratio, contrasts

SCREENSHOTS = ARTIFACTS / "screenshots"
MIN_CONTRAST = 3.0

SETUP = """
import torch
import latentwidgets as lw
torch.set_num_threads(1)
model = lw.load("sprites-style")
d = lw.find_directions(model, "pca", n_components=4, n_samples=2000)
"""
WIDGETS = {
    "explorer": "ex = lw.DirectionExplorer(model, d, seed=3, n=2)\nex",
    # two edits: a selected edit in the stack and a pressed layer preset ("coarse") to measure
    "layerwise": "ed = lw.LayerwiseEditor(model, d, seed=3)\ned.add(0, 1.5, 'fine')\ned.add(1, -1.0, 'coarse')\ned",
    "collage": "cc = lw.CollageCanvas(model, n_sources=2, seed=0)\ncc",
}
THEMES = {"light": "JupyterLab Light", "dark": "JupyterLab Dark"}


def _notebook(path: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(SETUP)] + [nbformat.v4.new_code_cell(src) for src in WIDGETS.values()]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)
    return path


def _low(found: list[dict]) -> list[str]:
    return [f"{c['kind']} {c['cls']!r} {c['text']!r}: {c['ratio']} ({c['fg']} on {c['bg']})"
            for c in found if c["ratio"] < MIN_CONTRAST]


def _luminance(rgb: list[float]) -> float:
    """Relative luminance, 0 (black) to 1 (white): the contrast of a colour against black, rescaled."""
    return (contrast_ratio(rgb, [0, 0, 0]) - 1) / 20


@pytest.mark.browser
def test_every_widget_reads_in_the_light_and_the_dark_theme(lab_factory, tmp_path):
    nb = _notebook(tmp_path / "themes.ipynb")
    lab, page = lab_factory({nb.name: nb}, open=nb.name)
    page.run_all()
    for name in WIDGETS:
        page.page.wait_for_function(
            f"Number((document.querySelector('.lw-{name}') || {{dataset: {{}}}}).dataset.frames) >= 1",
            timeout=120000)
    page.wait_kernel_idle()
    # a pressed state to measure in every widget that has toggles (the click is an ordinary use)
    for name in WIDGETS:
        root = page.page.locator(f".lw-{name}").first
        if root.locator('button[aria-pressed="true"], .lw-selected').count() == 0:
            toggle = root.locator('button[aria-pressed="false"]')
            if toggle.count():
                toggle.first.click()
                page.page.wait_for_timeout(300)
    page.wait_kernel_idle()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    for theme, label in THEMES.items():
        light = page.set_theme(label)
        assert light == (theme == "light"), f"{label} is applied"
        for name in WIDGETS:
            root = page.page.locator(f".lw-{name}").first
            root.scroll_into_view_if_needed()
            page.page.wait_for_timeout(200)
            root.screenshot(path=str(SCREENSHOTS / f"{name}-{theme}.png"))
            found = page.contrasts(f".lw-{name}")
            kinds = {c["kind"] for c in found}
            assert {"button", "readout"} <= kinds, f"{name}: buttons and readouts were measured ({kinds})"
            if page.page.locator(f'.lw-{name} button[aria-pressed], .lw-{name} .lw-selected').count():
                assert "pressed" in kinds, f"{name}: a pressed or selected state was measured"
            problems += [f"{theme} {name}: {p}" for p in _low(found)]
            problems += [f"{theme} {name}: unstyled button {c['text']!r}" for c in found
                         if c["tag"] == "BUTTON" and not c["styled"]]
            backdrop = _luminance(next(c["bg"] for c in found if c["kind"] == "readout"))
            assert (backdrop > 0.6) if theme == "light" else (backdrop < 0.2), \
                f"{name} follows the {theme} theme (backdrop luminance {backdrop:.2f})"
    assert not problems, "text that does not stand out (WCAG contrast < 3):\n" + "\n".join(problems)


# ---------------------------------------------------------------------------------- keys
KEYS_SETUP = """
import torch, torch.nn as nn
import latentwidgets as lw
from latentwidgets.models.decoder import DecoderModel
from latentwidgets.directions.record import Directions
torch.manual_seed(0)
net = nn.Sequential(nn.Linear(4, 3 * 8 * 8), nn.Sigmoid(), nn.Unflatten(1, (3, 8, 8)))
m = DecoderModel(net, z_dim=4, output_range=(0.0, 1.0), name="tiny")
d = Directions(torch.eye(4)[:2], "z", sigma=torch.ones(2), names=["a", "b"], method="test")
ex = lw.DirectionExplorer(m, d, seed=1)
ex
"""


@pytest.mark.browser
def test_undo_keys_inside_a_widget_and_shift_enter_after_a_click_on_it(lab_factory, tmp_path):
    """Ctrl-Z / Ctrl-Shift-Z inside a widget undo and redo its view (JupyterLab's own shortcuts do not
    see them); every other key still reaches JupyterLab: Shift-Enter after a click on a canvas runs the cell."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(KEYS_SETUP), nbformat.v4.new_code_cell("after = 1")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = tmp_path / "keys.ipynb"
    nbformat.write(nb, path)
    lab, page = lab_factory({path.name: path}, open=path.name)
    page.page.evaluate("window.jupyterapp.commands.execute('notebook:run-cell')")
    root = page.page.locator(".lw-explorer[data-frames]").first
    root.wait_for(timeout=120000)
    page.wait_kernel_idle()

    def strengths():
        page.page.wait_for_timeout(700)  # (the step rests: one undo step; its frame lands)
        page.wait_kernel_idle()
        return page.python_json("import json; print(json.dumps(ex.strengths))")

    slider = root.locator("input.lw-slider").first
    slider.focus()
    page.page.keyboard.press("ArrowRight")
    assert strengths() == [0.1, 0.0]
    page.page.keyboard.press("Shift+ArrowRight")
    assert strengths() == [1.1, 0.0]
    root.locator("canvas").first.click()  # the focus is on the widget, not on a control
    page.page.keyboard.press("Control+z")
    assert strengths() == [0.1, 0.0]
    page.page.keyboard.press("Control+Shift+z")
    assert strengths() == [1.1, 0.0]
    page.page.keyboard.press("Control+z")
    assert strengths() == [0.1, 0.0]
    cells = "window.jupyterapp.shell.currentWidget.content.model.cells.length"
    assert page.page.evaluate(cells) == 2, "JupyterLab's own undo did not act"
    active = "window.jupyterapp.shell.currentWidget.content.activeCellIndex"
    root.locator("canvas").first.click()
    page.page.keyboard.press("Shift+Enter")  # (runs the widget's cell again, then selects the next)
    page.page.wait_for_function(f"{active} === 1")
    page.wait_kernel_idle()


# ---------------------------------------------------------------------------------- marimo
MARIMO_APP = '''
import marimo

app = marimo.App()


@app.cell
def _():
    import marimo as mo
    import torch

    import latentwidgets as lw

    torch.set_num_threads(1)
    model = lw.load("sprites-style")
    d = lw.find_directions(model, "pca", n_components=3, n_samples=2000)
    ex = mo.ui.anywidget(lw.DirectionExplorer(model, d, seed=3))
    ex
    return


if __name__ == "__main__":
    app.run()
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def marimo_app(tmp_path):
    """``marimo run`` of an app showing a DirectionExplorer, headless on a free port; its URL."""
    pytest.importorskip("marimo", reason="marimo missing: pip install -e '.[test]'")
    app = tmp_path / "app.py"
    app.write_text(MARIMO_APP)
    port = _free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / f"marimo-{port}.log"
    cmd = [sys.executable, "-m", "marimo", "run", str(app), "--headless", "--host", "127.0.0.1", "--port", str(port),
           "--no-token"]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path, start_new_session=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"marimo exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"marimo did not answer within 120 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.25)
        yield url
    finally:
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(timeout=5)


@pytest.mark.browser
def test_an_explorer_reads_in_marimo(chromium, marimo_app):
    ctx = chromium.new_context(viewport={"width": 1200, "height": 900})
    page = ctx.new_page()
    try:
        page.goto(marimo_app)
        # (Playwright's CSS locators pierce marimo's shadow root; data-frames is set by the first frame drawn)
        root = page.locator(".lw-explorer[data-frames]").first
        root.wait_for(state="visible", timeout=180000)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        root.screenshot(path=str(SCREENSHOTS / "explorer-marimo.png"))
        found = contrasts(page, ".lw-widget")
        buttons = [c for c in found if c["tag"] == "BUTTON"]
        assert buttons and {"readout", "input"} <= {c["kind"] for c in found}, found
        unstyled = [c["text"] for c in buttons if not c["styled"]]
        assert not unstyled, f"marimo's reset left buttons as bare text: {unstyled}"
        assert not _low(found), "text that does not stand out under marimo:\n" + "\n".join(_low(found))
    finally:
        ctx.close()
