"""A saved HTML figure works opened from disk (file://) in headless Chromium with no kernel: moving
its slider shows another precomputed frame, the play button walks the frames (and stops), it says what
made it, and no request leaves the page."""

from __future__ import annotations

import pytest
import torch

from latentwidgets.export import save_html


@pytest.mark.browser
def test_saved_html_slider_scrubs_frames_offline(chromium, tmp_path):
    g = torch.Generator().manual_seed(0)
    steps = 7
    # frames whose brightness grows with the column: a visible, checkable change per step
    grid = torch.stack([torch.stack([torch.full((3, 16, 16), (s + 1) / (steps + 1))
                                     + 0.02 * torch.rand(3, 16, 16, generator=g)
                                     for s in range(steps)]) for _ in range(2)]).clamp(0, 1)
    path = save_html(tmp_path / "fig.html", grid, ["<script>alert(1)</script>", "b"], list(range(-3, 4)), fmt="png",
                     meta={"model": "test"})
    page = chromium.new_page()  # the session Chromium of conftest.py
    try:
        external = []
        page.on("request", lambda r: external.append(r.url) if not r.url.startswith(("file:", "data:")) else None)
        dialogs = []
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(path.as_uri())
        img = page.locator("#lw-frame")
        page.wait_for_function("document.getElementById('lw-frame').complete && "
                               "document.getElementById('lw-frame').naturalWidth > 0")
        before = img.get_attribute("src")
        assert img.get_attribute("data-col") == "3"
        mean = "() => { const i = document.getElementById('lw-frame'); const c = document.createElement('canvas');" \
               " c.width = i.naturalWidth; c.height = i.naturalHeight;" \
               " const x = c.getContext('2d'); x.drawImage(i, 0, 0);" \
               " const d = x.getImageData(0, 0, c.width, c.height).data;" \
               " let s = 0; for (let k = 0; k < d.length; k += 4) s += d[k];" \
               " return s / (d.length / 4); }"
        m0 = page.evaluate(mean)
        slider = page.locator("#lw-slider")
        slider.focus()
        for _ in range(3):
            page.keyboard.press("ArrowRight")
        page.wait_for_function("document.getElementById('lw-frame').dataset.col === '6'")
        page.wait_for_function("document.getElementById('lw-frame').complete")
        after = img.get_attribute("src")
        m1 = page.evaluate(mean)
        assert after != before
        assert m1 > m0 + 50, f"the frame did not brighten ({m0:.1f} -> {m1:.1f})"
        assert page.locator("#lw-value").inner_text() == "+3"
        page.locator("input[name=lw-row]").nth(1).check()
        assert img.get_attribute("data-row") == "1"
        assert "<script>alert(1)</script>" in page.locator("fieldset").inner_text()
        # play: the frames go by on their own, forth and back; pause stops them
        play = page.locator("#lw-play")
        assert play.get_attribute("aria-pressed") == "false"
        play.click()
        page.wait_for_function("document.getElementById('lw-frame').dataset.col !== '6'")
        page.wait_for_function("document.getElementById('lw-frame').dataset.col === '0'", timeout=5000)
        play.click()
        assert play.get_attribute("aria-pressed") == "false"
        stopped = img.get_attribute("data-col")
        page.wait_for_timeout(500)
        assert img.get_attribute("data-col") == stopped, "pause stops the frames"
        meta = page.locator(".lw-meta").inner_text()
        assert "model" in meta and "test" in meta and "latentwidgets" in meta and "date" in meta
        assert not dialogs, "an escaped name ran as script"
        assert not external, f"the figure fetched {external}"
    finally:
        page.close()
