"""``%load_ext latentwidgets``: rich notebook output for Directions records and image tensors.

Registers IPython display formatters (``formatter.for_type``):

- a :class:`~latentwidgets.directions.record.Directions` record renders as HTML preview strips (each
  direction at a few strengths) when its model can be found (a record whose ``model_id`` names an
  embedded zoo model loads that model), otherwise as an HTML text summary;
- a float ``torch.Tensor`` shaped ``[3, H, W]`` or ``[B, 3, H, W]`` with values in [0, 1] renders as a
  PNG (the B images side by side). Other tensors keep their usual text output.

``%unload_ext latentwidgets`` removes them (restoring any formatter that was there before)::

    %load_ext latentwidgets
    d = lw.find_directions(model, "pca")
    d                                  # preview strips
    model.generate(model.sample_z(4))  # an image
"""

from __future__ import annotations

import html
from typing import Any

import torch

from ._imaging import data_url, encode, tile
from .directions.record import Directions

#: directions and strengths shown in a preview
PREVIEW_DIRECTIONS = 8
PREVIEW_STRENGTHS = (-2.0, -1.0, 0.0, 1.0, 2.0)

_models: dict[str, Any] = {}
_previous: dict[tuple[str, type], Any] = {}
_MISSING = object()


def find_model(d: Directions) -> Any | None:
    """The model of a record if it can be had offline: an embedded zoo model named by ``model_id``."""
    from . import zoo
    from .models import load

    mid = d.model_id or ""
    if mid not in zoo.available():
        return None
    if mid not in _models:
        try:
            _models[mid] = load(mid)
        except Exception:  # noqa: BLE001 - a model that cannot load gives the text summary instead
            return None
    return _models[mid]


def is_image_tensor(x: Any) -> bool:
    """True for float tensors ``[3, H, W]`` / ``[B, 3, H, W]`` (B >= 1) with all values in [0, 1]."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.numel() == 0:
        return False
    if not (x.dim() == 3 and x.shape[0] == 3) and not (x.dim() == 4 and x.shape[1] == 3 and x.shape[0] >= 1):
        return False
    if x.shape[-1] < 2 or x.shape[-2] < 2:
        return False
    x = x.detach()
    return bool(torch.isfinite(x).all() and x.min() >= 0 and x.max() <= 1)


def image_png(x: Any) -> bytes | None:
    """PNG bytes of an image tensor, or None (the formatter then falls back to text)."""
    if not is_image_tensor(x):
        return None
    return encode(tile(x.detach().float().cpu()), "png")


def summary_html(d: Directions, note: str = "") -> str:
    """An HTML text summary of a record (every string escaped)."""
    names = ", ".join(html.escape(str(n)) for n in d.names[:12]) + (" …" if len(d) > 12 else "")
    rows = [("method", d.method), ("space", d.space), ("directions", f"{len(d)} of dim {d.dim}"),
            ("model", d.model_id or "?")]
    body = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
                   for k, v in rows)
    extra = f"<div style='color:#666'>{html.escape(note)}</div>" if note else ""
    return f"<div class='lw-directions'><table>{body}<tr><th>names</th><td>{names}</td></tr></table>{extra}</div>"


def directions_html(d: Directions) -> str:
    """Preview strips (direction x strength on one sample) when the model is found, else a summary."""
    model = find_model(d)
    if model is None:
        return summary_html(d, "model not found: preview strips need a record from an embedded zoo model")
    from .edit import Edit
    from .export import traversal

    try:
        d.check(model)
        k = min(len(d), PREVIEW_DIRECTIONS)
        grid = traversal(model, model.sample_z(1, seed=0), list(range(k)), PREVIEW_STRENGTHS,
                         lambda j, s: [Edit(d, j, s, layers=d.layers[j])] if s else [])
    except Exception as exc:  # noqa: BLE001 - a preview must never break the output
        return summary_html(d, f"no preview: {exc}")
    head = "".join(f"<th>{s:+g}\u03c3</th>" for s in PREVIEW_STRENGTHS)
    rows = "".join(
        f"<tr><th style='text-align:right'>{html.escape(str(d.names[j]))}</th>"
        + "".join(f"<td><img src='{data_url(grid[j, i], 'png')}' width='{grid.shape[-1]}' "
                  f"style='image-rendering:pixelated'></td>" for i in range(len(PREVIEW_STRENGTHS))) + "</tr>"
        for j in range(k))
    return summary_html(d) + f"<table class='lw-preview'><tr><th></th>{head}</tr>{rows}</table>"


def _register(formatter: Any, typ: type, func: Any) -> None:
    _previous[(formatter.format_type, typ)] = formatter.for_type(typ, func) or _MISSING


def _unregister(formatter: Any, typ: type) -> None:
    prev = _previous.pop((formatter.format_type, typ), _MISSING)
    formatter.pop(typ, None)
    if prev is not _MISSING:
        formatter.for_type(typ, prev)


def load_ipython_extension(ipython: Any) -> None:
    """Register the formatters (``%load_ext latentwidgets``)."""
    fmts = ipython.display_formatter.formatters
    _register(fmts["text/html"], Directions, directions_html)
    _register(fmts["image/png"], torch.Tensor, image_png)


def unload_ipython_extension(ipython: Any) -> None:
    """Remove the formatters (``%unload_ext latentwidgets``)."""
    fmts = ipython.display_formatter.formatters
    _unregister(fmts["text/html"], Directions)
    _unregister(fmts["image/png"], torch.Tensor)
