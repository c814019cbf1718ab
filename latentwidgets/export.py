"""Figures that live outside a kernel: matplotlib grids, GIF traversals and one self-contained HTML.

Shared by every widget (``DirectionExplorer.figure/save_gif/save_html``, ``LayerwiseEditor.…``,
``CollageCanvas.…``). Frames are computed through :func:`latentwidgets.edit.render_edits` (the one
path from latents and edits to images); this module only lays them out and encodes them. Rows may
have values of their own (a calibrated direction moves in pixels, a PCA direction in sigma), so
strengths are given per row or once for all rows::

    grid = traversal(model, z, rows=[0, 1], strengths=[-2, 0, 2],
                     edits_for=lambda row, s: [Edit(d, row, s)])        # [R, S, 3, H, W']
    fig = figure_grid(grid, ["pca 0", "pca 1"], value_labels([-2, 0, 2], "\u03c3"))
    fig                                    # the last expression of a cell: a PNG, pyplot imported or not
    save_gif("walk.gif", grid[0])
    save_html("walk.html", grid, ["pca 0", "pca 1"], [-2, 0, 2])   # opens from disk, no kernel

:class:`Figure` (a matplotlib ``Figure``) shows itself as a PNG in a notebook; every widget's
``figure()`` returns one, sized for a notebook column (at most :data:`MAX_WIDTH_IN` inches wide,
labels of :data:`LABEL_PT` points). Files are written to a temp file beside the target and renamed
into place (:func:`latentwidgets._checkpoint.atomic_path`): a kill leaves the old file or the new one.
"""

from __future__ import annotations

import datetime
import functools
import html
import io
import json
import math
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import torch

from ._checkpoint import atomic_path
from ._imaging import data_url, tile, to_uint8
from .edit import Edit, render_edits

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# (and Figure, made on first use by __getattr__: matplotlib is slow to import)
__all__ = ["new_figure", "traversal", "value_label", "value_labels", "retile", "figure_grid",
           "figure_panels", "check_gif_path", "save_gif", "export_meta", "fit_width", "save_html",
           "MAX_WIDTH_IN", "LABEL_PT", "REPR_DPI"]

PathLike = Union[str, "os.PathLike[str]"]

#: widest figure, in inches (a notebook column at 100 dpi)
MAX_WIDTH_IN = 7.5
#: size of every label in a figure, in points
LABEL_PT = 9.0
#: resolution of the PNG a :class:`Figure` shows in a notebook
REPR_DPI = 100


# ---------------------------------------------------------------------------------- Figure
@functools.cache
def _figure_class() -> type:
    """``latentwidgets.export.Figure``, made on first use (matplotlib is imported only then)."""
    from matplotlib.figure import Figure as MplFigure

    class Figure(MplFigure):
        """A matplotlib Figure that shows itself as a PNG as the last expression of a notebook cell,
        whether pyplot is imported or not (pyplot's inline backend draws it once: it is not one of
        pyplot's own figures, so it is never shown a second time at the end of the cell)::

            fig = ex.figure(); fig            # the image
            fig.savefig("grid.pdf")           # and any matplotlib output
        """

        def _repr_png_(self) -> bytes:
            buf = io.BytesIO()
            self.savefig(buf, format="png", dpi=REPR_DPI, facecolor="white")
            return buf.getvalue()

    Figure.__module__, Figure.__qualname__ = __name__, "Figure"
    return Figure


def __getattr__(name: str) -> Any:
    if name == "Figure":  # the class is made when first asked for (matplotlib is slow to import)
        return _figure_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def new_figure(**kwargs: Any) -> Figure:
    """A :class:`Figure` (keyword arguments as matplotlib's ``Figure``).

        fig = new_figure(figsize=(4, 3), layout="constrained")
    """
    return _figure_class()(**kwargs)


# ---------------------------------------------------------------------------------- values
def value_label(value: Any, unit: str = "") -> str:
    """A column label: ``value`` with its sign and ``unit`` (``"\u00d7"``: a scale factor).

        value_label(2.0, "\u03c3")   # '+2\u03c3'
        value_label(-0.28, "px")   # '-0.28 px'
        value_label(0.5, "\u00d7")   # '\u00d70.5'
    """
    if not isinstance(value, (int, float)):
        return str(value)
    v = float(value)
    if unit == "\u00d7":
        return f"\u00d7{v:.3g}"
    text = "0" if v == 0 else f"{v:+.3g}"
    if not unit:
        return text
    return f"{text}{unit}" if unit == "\u03c3" else f"{text} {unit}"


def value_labels(values: Sequence[Any], unit: str = "") -> list[str]:
    """:func:`value_label` of each value."""
    return [value_label(v, unit) for v in values]


def _per_row(values: Sequence[Any], rows: int) -> list[list[Any]]:
    """``values`` for every row: one list per row, or one flat list shared by all rows."""
    if values and all(isinstance(v, (list, tuple)) for v in values):
        if len(values) != rows:
            raise ValueError(f"need one list of values per row ({rows}); got {len(values)}")
        return [list(v) for v in values]
    return [list(values) for _ in range(rows)]


@torch.no_grad()
def traversal(model: Any, z: torch.Tensor, rows: Sequence[Any], strengths: Sequence[Any],
              edits_for: Callable[[Any, float], list[Edit]],
              render: Callable[[torch.Tensor, list[Edit]], tuple[torch.Tensor, torch.Tensor]] | None = None
              ) -> torch.Tensor:
    """Render every (row, strength) cell: ``[R, S, 3, H, B*W]`` (the B samples of ``z`` tiled).
    ``strengths`` is one list for every row or one list per row (each row in its own unit; the
    same number in each). ``render(z, edits) -> (ws, images)`` draws a cell (default
    ``render_edits(model, z, edits)``; a widget passes its own, e.g. with its truncation).

        grid = traversal(model, model.sample_z(2, 0), [0, 1], [-2, 0, 2], lambda k, s: [Edit(d, k, s)])
    """
    per_row = _per_row(list(strengths), len(rows))
    if len({len(v) for v in per_row}) > 1:
        raise ValueError(f"every row needs as many strengths; got {[len(v) for v in per_row]}")
    draw = render or (lambda zz, edits: render_edits(model, zz, edits))
    out = []
    for row, values in zip(rows, per_row, strict=True):
        cells = [tile(draw(z, edits_for(row, float(s)))[1].cpu()) for s in values]
        out.append(torch.stack(cells))
    return torch.stack(out).clamp(0, 1)


def _label(v: Any) -> str:
    return value_label(v) if isinstance(v, (int, float)) else str(v)


# ---------------------------------------------------------------------------------- figures
def retile(cell: torch.Tensor, samples: int, gap: int | None = None) -> torch.Tensor:
    """``samples`` images side by side ``[3, H, samples*W]`` rearranged in a near-square grid (white gaps).

        retile(torch.rand(3, 64, 256), 4).shape   # (3, 130, 130): 2 x 2 with 2-pixel gaps
    """
    if samples <= 1:
        return cell
    h, w = cell.shape[-2], cell.shape[-1] // samples
    cols = math.ceil(math.sqrt(samples))
    lines = math.ceil(samples / cols)
    g = max(1, h // 32) if gap is None else gap
    out = torch.ones(cell.shape[0], lines * h + (lines - 1) * g, cols * w + (cols - 1) * g, dtype=cell.dtype)
    for i in range(samples):
        r, c = divmod(i, cols)
        out[:, r * (h + g): r * (h + g) + h, c * (w + g): c * (w + g) + w] = cell[:, :, i * w: (i + 1) * w]
    return out


def figure_grid(grid: torch.Tensor, row_labels: Sequence[Any], col_labels: Sequence[Any], *, title: str = "",
                xlabel: str = "strength (\u03c3)", ylabel: str = "direction", samples: int = 1,
                max_width: float = MAX_WIDTH_IN) -> Figure:
    """A :class:`Figure` of ``grid [R, S, 3, H, W]`` with labelled rows and columns, at most ``max_width``
    inches wide, every label :data:`LABEL_PT` points. ``col_labels`` is one list for all rows (shown
    under the last row) or one list per row (shown under each row: rows in units of their own);
    numbers get a sign. ``samples`` (the images tiled side by side in each cell) are laid out in a
    near-square grid, so a cell stays legible however many samples it holds::

        fig = figure_grid(grid, ["pca 0", "pca 1"], [-2, 0, 2]); fig.savefig("grid.png")
    """
    R, S = grid.shape[:2]
    if len(row_labels) != R:
        raise ValueError(f"need {R} row labels and {S} column labels; got {len(row_labels)} row labels")
    cols = _per_row(list(col_labels), R)
    if any(len(c) != S for c in cols):
        raise ValueError(f"need {R} row labels and {S} column labels; got {[len(c) for c in cols]} column labels")
    cols = [[_label(v) for v in c] for c in cols]
    shared = all(c == cols[0] for c in cols)
    cells = [[retile(grid[r, s], samples) for s in range(S)] for r in range(R)]
    h, w = cells[0][0].shape[-2:]
    aspect = w / h
    longest = max((len(line) for x in row_labels for line in str(x).splitlines()), default=0)
    margin = min(2.2, 0.45 + 0.075 * longest)  # row labels and the y title
    cell_w = min(1.1 * aspect, (max_width - margin - 0.15) / S)
    cell_h = cell_w / aspect
    under = 0.24  # one line of LABEL_PT text below a row of cells
    height = 0.35 + (0.4 if title else 0) + R * (cell_h + (under if not shared else 0.06)) + (under if shared else 0)
    # narrow cells: label every stride-th column (the middle one always), so labels never overlap
    widest = max(len(x) for c in cols for x in c) * LABEL_PT * 0.55 / 72 + 0.08
    stride = max(1, math.ceil(widest / cell_w))
    fig = new_figure(figsize=(margin + S * cell_w + 0.15, height), layout="constrained")
    fig.get_layout_engine().set(w_pad=0.02, h_pad=0.02, wspace=0.02, hspace=0.02)
    axes = fig.subplots(R, S, squeeze=False)
    for r in range(R):
        for s in range(S):
            ax = axes[r][s]
            ax.imshow(to_uint8(cells[r][s])[0].numpy(), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if (r == R - 1 or not shared) and (s - S // 2) % stride == 0:
                ax.set_xlabel(cols[r][s], fontsize=LABEL_PT, labelpad=2)
            if s == 0:
                ax.set_ylabel(str(row_labels[r]), fontsize=LABEL_PT, rotation=0, ha="right", va="center")
    if xlabel:
        fig.supxlabel(xlabel, fontsize=LABEL_PT)
    if ylabel:
        fig.supylabel(ylabel, fontsize=LABEL_PT)
    if title:
        fig.suptitle(title, fontsize=LABEL_PT + 1.5, wrap=True)
    return fig


def figure_panels(panels: Sequence[tuple[str, torch.Tensor]], *, title: str = "",
                  max_width: float = MAX_WIDTH_IN) -> Figure:
    """A :class:`Figure` of captioned images ``[3, H, W]`` in one row (wrapping to more rows when many).

        fig = figure_panels([("collage", cc.collage[0]), ("projection", cc.image[0])])
    """
    n = len(panels)
    if n == 0:
        raise ValueError("figure_panels needs at least one (caption, image) panel")
    per_line = min(n, 6)
    lines = math.ceil(n / per_line)
    h, w = panels[0][1].shape[-2:]
    cell_w = min(1.6, (max_width - 0.2) / per_line)
    cell_h = cell_w * h / w
    fig = new_figure(figsize=(per_line * cell_w + 0.2, lines * (cell_h + 0.3) + (0.45 if title else 0.1)),
                     layout="constrained")
    axes = fig.subplots(lines, per_line, squeeze=False)
    for i, ax in enumerate(a for line in axes for a in line):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= n:
            ax.set_axis_off()
            continue
        caption, image = panels[i]
        ax.imshow(to_uint8(image)[0].numpy(), interpolation="nearest")
        ax.set_xlabel(caption, fontsize=LABEL_PT, labelpad=2)
    if title:
        fig.suptitle(title, fontsize=LABEL_PT + 1.5, wrap=True)
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
  const play = document.getElementById("lw-play");
  const rows = Array.from(document.querySelectorAll("input[name=lw-row]"));
  let timer = null;
  let dir = 1;
  function row() { const r = rows.find((x) => x.checked); return r ? Number(r.value) : 0; }
  function show() {
    const r = row(), s = Number(slider.value);
    img.src = data.frames[r][s];
    img.dataset.row = String(r); img.dataset.col = String(s);
    value.textContent = data.cols[r][s];
  }
  function step() {  // forth and back through the columns
    const last = Number(slider.max);
    let s = Number(slider.value) + dir;
    if (s > last || s < 0) { dir = -dir; s = Number(slider.value) + dir; }
    slider.value = String(Math.max(0, Math.min(last, s)));
    show();
  }
  function setPlaying(on) {
    if (timer) { clearInterval(timer); timer = null; }
    if (on) timer = setInterval(step, 1000 / data.fps);
    play.textContent = on ? "\u275a\u275a pause" : "\u25b6 play";
    play.setAttribute("aria-pressed", on ? "true" : "false");
  }
  play.addEventListener("click", () => setPlaying(!timer));
  slider.addEventListener("input", () => { setPlaying(false); show(); });
  rows.forEach((x) => x.addEventListener("change", show));
  show();
})();
"""

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1em; color: #222; background: #fff; }
#lw-frame, .lw-panels img { image-rendering: pixelated; border: 1px solid #ccc; }
.lw-panels { display: flex; gap: 8px; flex-wrap: wrap; margin-bottom: .5em; }
.lw-panels figure { margin: 0; font-size: .85em; text-align: center; }
.lw-rows label { margin-right: 1em; white-space: nowrap; }
.lw-controls { display: flex; gap: .6em; align-items: center; flex-wrap: wrap; margin-top: .4em; }
#lw-slider { width: min(480px, 90vw); }
#lw-value { font-variant-numeric: tabular-nums; min-width: 6em; }
#lw-play { font: inherit; padding: 2px 10px; }
.lw-meta { color: #555; font-size: .85em; display: grid; grid-template-columns: max-content auto; gap: 0 1em; }
.lw-meta dt { font-weight: 600; }
.lw-meta dd { margin: 0; }
"""


def _package_version() -> str:
    """``latentwidgets.__version__`` (the package is imported by now: this module is part of it)."""
    return str(sys.modules[__name__.rpartition(".")[0]].__version__)


def export_meta(meta: Mapping[str, Any] | None = None) -> dict[str, str]:
    """What an exported file records: ``meta`` (model, seeds, ...) plus the latentwidgets version and the
    date (UTC), every value a string.

        export_meta({"model": "sprites-style", "seed": 3})   # {..., 'latentwidgets': '0.1.0', 'date': '2026-...'}
    """
    out = {str(k): str(v) for k, v in (meta or {}).items()}
    out["latentwidgets"] = _package_version()
    out["date"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return out


def fit_width(images: torch.Tensor, width: int) -> torch.Tensor:
    """``images [..., 3, H, W]`` scaled down (area average) to ``width`` pixels wide if wider; as they are else.

        fit_width(torch.rand(3, 1024, 1024), 256).shape   # (3, 256, 256)
    """
    h, w = images.shape[-2:]
    if w <= width:
        return images
    size = (max(1, round(h * width / w)), int(width))
    flat = images.reshape(-1, *images.shape[-3:]).float()
    out = torch.nn.functional.interpolate(flat, size=size, mode="area")
    return out.reshape(*images.shape[:-2], *size)


def save_html(path: PathLike, grid: torch.Tensor, row_labels: Sequence[Any], col_labels: Sequence[Any], *,
              title: str = "latentwidgets figure", row_title: str = "direction",
              col_title: str = "strength", fmt: str = "jpeg", quality: int = 85,
              display_size: int | None = None, samples: int = 1, meta: Mapping[str, Any] | None = None,
              panels: Sequence[tuple[str, torch.Tensor]] = (), fps: float = 8.0) -> Path:
    """Write ONE self-contained HTML file: radio buttons pick a row, a slider (or the play button) moves
    through its frames.

    ``col_labels`` is one list for every row or one list per row (each row in its own unit). Each of
    the ``samples`` images tiled in a frame is drawn ``display_size`` CSS pixels wide (as a widget
    draws it; frames larger than that are scaled down first). The file records ``meta`` (model,
    seeds, ...), the latentwidgets version and the date (:func:`export_meta`); ``panels`` are
    captioned still images shown above the frames. Frames are inlined as base64 ``data:`` URLs and
    the script is inline: no CDN, no kernel, no request; it works opened from disk. Every user
    string (names, titles) is HTML-escaped::

        save_html("walk.html", grid, d.names[:5], strengths, display_size=192, meta={"model": model.name})
    """
    R, S = grid.shape[:2]
    if len(row_labels) != R:
        raise ValueError(f"need {R} row labels and {S} column labels; got {len(row_labels)} row labels")
    cols = _per_row(list(col_labels), R)
    if any(len(c) != S for c in cols):
        raise ValueError(f"need {R} row labels and {S} column labels; got {[len(c) for c in cols]} column labels")
    samples = max(1, int(samples))
    h, w = grid.shape[-2:]
    per_sample = w // samples
    size = int(display_size) if display_size else (3 * per_sample if per_sample <= 96 else per_sample)
    frames_grid = fit_width(grid, size * samples)
    frames = [[data_url(frames_grid[r, s], fmt, quality) for s in range(S)] for r in range(R)]
    labels = [[_label(v) for v in c] for c in cols]
    record = export_meta(meta)
    # JSON inside <script>: escape '<', '>' and '&' so no text can close the element
    blob = json.dumps({"frames": frames, "cols": labels, "meta": record, "fps": float(fps)}) \
        .replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    zero = min(range(S), key=lambda i: abs(cols[0][i]) if isinstance(cols[0][i], (int, float)) else 0)
    radios = "".join(
        f'<label><input type="radio" name="lw-row" value="{r}"{" checked" if r == 0 else ""}> '
        f"{html.escape(str(lab))}</label>" for r, lab in enumerate(row_labels))
    still = "".join(
        f'<figure><img src="{data_url(fit_width(img, size), "png")}" width="{size}" '
        f'alt="{html.escape(cap, quote=True)}">'
        f"<figcaption>{html.escape(cap)}</figcaption></figure>" for cap, img in panels)
    dl = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in record.items())
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<meta name="generator" content="latentwidgets {html.escape(record['latentwidgets'], quote=True)}">
<style>{_CSS}</style></head><body>
<h1 style="font-size:1.1em">{html.escape(title)}</h1>
{f'<div class="lw-panels">{still}</div>' if still else ''}
<div><img id="lw-frame" alt="{html.escape(title, quote=True)}" width="{size * samples}"></div>
<fieldset class="lw-rows"><legend>{html.escape(row_title)}</legend>{radios}</fieldset>
<div class="lw-controls"><button id="lw-play" type="button" aria-pressed="false">\u25b6 play</button>
<label for="lw-slider">{html.escape(col_title)}</label>
<input id="lw-slider" type="range" min="0" max="{S - 1}" step="1" value="{zero}"><output id="lw-value"></output></div>
<dl class="lw-meta">{dl}</dl>
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
