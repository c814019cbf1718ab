"""Figures that live outside a kernel: matplotlib grids, GIF traversals and one self-contained HTML.

Shared by every widget (``DirectionExplorer.figure/save_gif/save_html``, ``LayerwiseEditor.…``).
Frames are computed through :func:`latentwidgets.edit.render_edits` (the one path from latents and
edits to images); this module only lays them out and encodes them::

    grid = traversal(model, z, rows=[0, 1], strengths=[-2, 0, 2],
                     edits_for=lambda row, s: [Edit(d, row, s)])        # [R, S, 3, H, W']
    fig = figure_grid(grid, ["pca 0", "pca 1"], [-2, 0, 2])
    save_gif("walk.gif", grid[0])
    save_html("walk.html", grid, ["pca 0", "pca 1"], [-2, 0, 2])   # opens from disk, no kernel

Files are written to a temp file beside the target and renamed into place
(:func:`latentwidgets._checkpoint.atomic_path`): a kill leaves the old file or the new one.
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Union

import torch

from ._checkpoint import atomic_path
from ._imaging import data_url, tile, to_uint8
from .edit import Edit, render_edits

PathLike = Union[str, "os.PathLike[str]"]


@torch.no_grad()
def traversal(model, z: torch.Tensor, rows: Sequence, strengths: Sequence[float],
              edits_for: Callable[[object, float], list[Edit]]) -> torch.Tensor:
    """Render every (row, strength) cell: ``[R, S, 3, H, B*W]`` (the B samples of ``z`` tiled).

        grid = traversal(model, model.sample_z(2, 0), [0, 1], [-2, 0, 2], lambda k, s: [Edit(d, k, s)])
    """
    out = []
    for row in rows:
        cells = [tile(render_edits(model, z, edits_for(row, float(s)))[1].cpu()) for s in strengths]
        out.append(torch.stack(cells))
    return torch.stack(out).clamp(0, 1)


def _label(v) -> str:
    return f"{v:+.2g}" if isinstance(v, (int, float)) else str(v)


def figure_grid(grid: torch.Tensor, row_labels: Sequence, col_labels: Sequence, *, title: str = "",
                xlabel: str = "strength (\u03c3)", ylabel: str = "direction", cell_inches: float = 1.0):
    """A matplotlib Figure of ``grid [R, S, 3, H, W]`` with labelled rows and columns.

        fig = figure_grid(grid, ["pca 0", "pca 1"], [-2, 0, 2]); fig.savefig("grid.png")
    """
    from matplotlib.figure import Figure

    R, S = grid.shape[:2]
    if len(row_labels) != R or len(col_labels) != S:
        raise ValueError(f"need {R} row labels and {S} column labels; got {len(row_labels)} and {len(col_labels)}")
    aspect = grid.shape[-1] / grid.shape[-2]
    fig = Figure(figsize=(1.2 + S * cell_inches * aspect, 0.6 + R * cell_inches), layout="constrained")
    axes = fig.subplots(R, S, squeeze=False)
    for r in range(R):
        for s in range(S):
            ax = axes[r][s]
            ax.imshow(to_uint8(grid[r, s])[0].numpy(), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == R - 1:
                ax.set_xlabel(_label(col_labels[s]), fontsize=8)
            if s == 0:
                ax.set_ylabel(str(row_labels[r]), fontsize=8, rotation=0, ha="right", va="center")
    fig.supxlabel(xlabel, fontsize=9)
    fig.supylabel(ylabel, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def check_gif_path(path: PathLike) -> Path:
    """``path`` as a Path if a GIF can be written there, else a ValueError naming the fix (a folder, or a
    suffix other than ``.gif``).

        check_gif_path("walk.gif")   # PosixPath('walk.gif')
    """
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{str(p)!r} is a folder; give a file name in it, e.g. {str(p / 'traversal.gif')!r}")
    if p.suffix.lower() != ".gif":
        raise ValueError(f"save_gif writes GIF files: the name must end in .gif; got {str(p)!r} "
                         f"(try {str(p.with_suffix('.gif'))!r})")
    return p


def save_gif(path: PathLike, frames: torch.Tensor, *, duration_ms: int = 80, bounce: bool = True,
             scale: int = 1) -> Path:
    """Write ``frames [T, 3, H, W]`` as a looping GIF (forth and back when ``bounce``); ``path`` must end
    in ``.gif`` (:func:`check_gif_path`).

        save_gif("walk.gif", grid[0])
    """
    from PIL import Image

    path = check_gif_path(path)
    if frames.dim() != 4 or frames.shape[0] < 1:
        raise ValueError(f"frames must be [T, 3, H, W] with T >= 1; got {tuple(frames.shape)}")
    seq = list(frames)
    if bounce and len(seq) > 2:
        seq = seq + seq[-2:0:-1]
    imgs = [Image.fromarray(frame.numpy()) for frame in to_uint8(torch.stack(seq))]
    if scale > 1:
        imgs = [im.resize((im.width * scale, im.height * scale), Image.NEAREST) for im in imgs]
    with atomic_path(path) as tmp:
        imgs[0].save(tmp, format="GIF", save_all=True, append_images=imgs[1:], duration=int(duration_ms), loop=0)
    return path


_JS = r"""
(function () {
  const data = JSON.parse(document.getElementById("lw-data").textContent);
  const img = document.getElementById("lw-frame");
  const slider = document.getElementById("lw-slider");
  const value = document.getElementById("lw-value");
  const rows = Array.from(document.querySelectorAll("input[name=lw-row]"));
  function row() { const r = rows.find((x) => x.checked); return r ? Number(r.value) : 0; }
  function show() {
    const r = row(), s = Number(slider.value);
    img.src = data.frames[r][s];
    img.dataset.row = String(r); img.dataset.col = String(s);
    value.textContent = data.cols[s];
  }
  slider.addEventListener("input", show);
  rows.forEach((x) => x.addEventListener("change", show));
  show();
})();
"""

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1em; color: #222; }
#lw-frame { image-rendering: pixelated; border: 1px solid #ccc; }
.lw-rows label { margin-right: 1em; white-space: nowrap; }
#lw-slider { width: min(480px, 90vw); }
#lw-value { font-variant-numeric: tabular-nums; margin-left: .5em; }
"""


def save_html(path: PathLike, grid: torch.Tensor, row_labels: Sequence, col_labels: Sequence, *,
              title: str = "latentwidgets figure", row_title: str = "direction",
              col_title: str = "strength (\u03c3)", fmt: str = "jpeg", quality: int = 85,
              display_size: int | None = None) -> Path:
    """Write ONE self-contained HTML file: radio buttons pick a row, a slider scrubs its frames.

    Frames are inlined as base64 ``data:`` URLs and the script is inline: no CDN, no kernel; it works
    opened from disk. Every user string (names, titles) is HTML-escaped::

        save_html("walk.html", grid, d.names[:5], strengths)
    """
    R, S = grid.shape[:2]
    if len(row_labels) != R or len(col_labels) != S:
        raise ValueError(f"need {R} row labels and {S} column labels; got {len(row_labels)} and {len(col_labels)}")
    frames = [[data_url(grid[r, s], fmt, quality) for s in range(S)] for r in range(R)]
    cols = [_label(c) for c in col_labels]
    # JSON inside <script>: escape '<', '>' and '&' so no text can close the element
    blob = json.dumps({"frames": frames, "cols": cols}).replace("<", "\\u003c").replace(">", "\\u003e") \
        .replace("&", "\\u0026")
    h, w = grid.shape[-2:]
    width = int(display_size or max(w, 3 * w if w <= 96 else w))
    zero = min(range(S), key=lambda i: abs(col_labels[i]) if isinstance(col_labels[i], (int, float)) else 0)
    radios = "".join(
        f'<label><input type="radio" name="lw-row" value="{r}"{" checked" if r == 0 else ""}> '
        f"{html.escape(str(lab))}</label>" for r, lab in enumerate(row_labels))
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_CSS}</style></head><body>
<h1 style="font-size:1.1em">{html.escape(title)}</h1>
<div><img id="lw-frame" alt="{html.escape(title, quote=True)}" width="{width}"></div>
<fieldset class="lw-rows"><legend>{html.escape(row_title)}</legend>{radios}</fieldset>
<div><label for="lw-slider">{html.escape(col_title)}</label>
<input id="lw-slider" type="range" min="0" max="{S - 1}" step="1" value="{zero}"><output id="lw-value"></output></div>
<script type="application/json" id="lw-data">{blob}</script>
<script>{_JS}</script>
</body></html>
"""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"{str(path)!r} is a folder; give a file name in it, e.g. {str(path / 'figure.html')!r}")
    with atomic_path(path) as tmp:
        tmp.write_text(doc, encoding="utf-8")
    return path
