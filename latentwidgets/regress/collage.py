"""Collage geometry for the latent regressor: operations -> a label map -> the pasted collage and its mask.

A collage is a list of painting operations on ``n`` source images of one size, each a dict:

- ``{"tool": "brush", "source": k | None, "radius": r, "points": [[x, y], ...]}``: every pixel whose
  centre lies within ``r`` of the polyline (image pixels; a pixel's centre is ``(i + 0.5, j + 0.5)``);
- ``{"tool": "rect", "source": k | None, "x0", "y0", "x1", "y1"}``: pixel centres inside the box
  (``x0=0, x1=32`` takes columns 0..31);
- ``{"tool": "fill", "source": k | None}``: every pixel.

``source`` None erases (the pixels become unknown). Later operations paint over earlier ones.
:func:`rasterize` turns operations into a label map (which source each pixel comes from, -1 unknown);
:func:`composite` pastes the sources' labelled pixels into the collage and gives the mask of known
pixels (the union of what every source gave), the input :meth:`LatentRegressor.project` takes.
``widgets/static/collage.js`` rasterises strokes in the page with the same rule::

    from latentwidgets.regress.collage import rasterize, composite
    ops = [{"tool": "rect", "source": 0, "x0": 0, "y0": 0, "x1": 32, "y1": 64},
           {"tool": "brush", "source": 1, "radius": 4, "points": [[40, 10], [50, 40]]}]
    labels = rasterize(ops, n_sources=2, height=64)          # int64 [64, 64], -1 where unknown
    collage, mask = composite(sources, labels)               # [1, 3, H, W], [1, 1, H, W]
    latent = regressor.project(collage, mask)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["TOOLS", "UNKNOWN", "check_op", "coverage", "extends", "rasterize", "composite"]

#: the painting tools an operation may name
TOOLS = ("brush", "rect", "fill")
#: the label of a pixel no source gives (the regressor sees it as unknown)
UNKNOWN = -1
Op = dict[str, Any]


def _finite(value: Any, what: str) -> float:
    # a number, not text that reads as one: values from the page are checked, never coerced
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{what} must be a number; got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ValueError(f"{what} must be finite; got {value!r}")
    return v


def check_op(op: Any, n_sources: int, known: Op | None = None) -> Op:
    """A clean copy of one collage operation, or a ValueError naming what is wrong.

    ``known``: an operation checked before (the same stroke at the previous frame); when ``op`` equals
    it or continues it (:func:`extends`), only the new points are checked, so checking a stroke in
    progress does not grow with its length.

        check_op({"tool": "rect", "source": 0, "x0": 0, "y0": 0, "x1": 32, "y1": 64}, n_sources=2)
    """
    if known is not None and isinstance(op, dict) and not isinstance(op.get("radius"), bool):
        if op == known:
            return known
        m = extends(op, known)
        if m:
            tail = check_op({**op, "points": op["points"][m:]}, n_sources)
            return {**known, "points": known["points"] + tail["points"]}
    if not isinstance(op, dict):
        raise ValueError(f"a collage operation is a dict with a 'tool' ({', '.join(TOOLS)}); got {op!r}")
    tool = op.get("tool")
    if tool not in TOOLS:
        raise ValueError(f"collage operation tool must be one of {TOOLS}; got {tool!r}")
    source = op.get("source")
    if source is not None:
        if isinstance(source, bool) or not isinstance(source, (int, float)) or int(source) != source:
            raise ValueError(f"collage operation source must be a source index or None (erase); got {source!r}")
        source = int(source)
        if not 0 <= source < n_sources:
            raise ValueError(f"source {source} does not exist: this collage has sources 0..{n_sources - 1}")
    out: Op = {"tool": tool, "source": source}
    if tool == "brush":
        radius = _finite(op.get("radius"), "brush radius")
        if radius <= 0:
            raise ValueError(f"brush radius must be > 0 pixels; got {radius}")
        points = op.get("points")
        if not isinstance(points, (list, tuple)) or not points:
            raise ValueError("a brush operation needs 'points': a non-empty list of [x, y] in image pixels")
        clean = []
        for p in points:
            if not isinstance(p, (list, tuple)) or len(p) != 2:
                raise ValueError(f"brush points are [x, y] pairs in image pixels; got {p!r}")
            clean.append([_finite(p[0], "point x"), _finite(p[1], "point y")])
        out.update(radius=radius, points=clean)
    elif tool == "rect":
        for key in ("x0", "y0", "x1", "y1"):
            out[key] = _finite(op.get(key), f"rect {key}")
    return out


def coverage(op: Op, height: int, width: int) -> torch.Tensor:
    """The pixels one (checked) operation paints: bool ``[H, W]``.

        coverage({"tool": "fill", "source": 0}, 64, 64).all()   # True
    """
    out = torch.zeros(height, width, dtype=torch.bool)
    if op["tool"] == "fill":
        return out.fill_(True)
    if op["tool"] == "rect":
        x0, x1 = sorted((op["x0"], op["x1"]))
        y0, y1 = sorted((op["y0"], op["y1"]))
        xs = torch.arange(width, dtype=torch.float64) + 0.5
        ys = torch.arange(height, dtype=torch.float64) + 0.5
        return ((ys >= y0) & (ys <= y1))[:, None] & ((xs >= x0) & (xs <= x1))[None, :]
    pts = torch.tensor(op["points"], dtype=torch.float64)
    a = pts if len(pts) == 1 else pts[:-1]
    b = pts if len(pts) == 1 else pts[1:]
    # each segment is measured only against a window of pixels around it (its length plus the
    # radius), in chunks of segments of similar length whose (segments x window pixels) stay under
    # _CHUNK values: a frame's memory does not grow with the stroke's length
    r = float(op["radius"])
    side = ((a - b).abs().max(1).values + 2 * r + 4).ceil()
    order = side.argsort()
    a, b, side = a[order], b[order], side[order]
    # segments whose window would be larger than the image are measured against the whole image
    large = int((side > max(height, width)).sum())
    if large:
        step = max(1, _CHUNK // (height * width))
        for k in range(len(a) - large, len(a), step):
            _paint_image(out, a[k:k + step], b[k:k + step], r)
        a, b, side = a[:-large], b[:-large], side[:-large]
    start = 0
    while start < len(a):
        rest = side[start:start + _CHUNK]
        pairs = rest * rest * torch.arange(1, len(rest) + 1, dtype=rest.dtype)
        stop = start + max(1, int((pairs <= _CHUNK).sum()))
        _paint_segments(out, a[start:stop], b[start:stop], r, int(rest[stop - start - 1]))
        start = stop
    return out


#: the most (segment, pixel) pairs one step of :func:`coverage` computes at once (bounds its memory)
_CHUNK = 1 << 18


def _paint_segments(out: torch.Tensor, a: torch.Tensor, b: torch.Tensor, r: float, side: int) -> None:
    """Set the pixels of ``out [H, W]`` whose centres lie within ``r`` of a segment ``a[s] -> b[s]``,
    looking at a ``side x side`` window of pixels from each segment's lower corner."""
    height, width = out.shape
    steps = torch.arange(side)
    x0 = torch.floor(torch.minimum(a[:, 0], b[:, 0]) - r - 1).long()
    y0 = torch.floor(torch.minimum(a[:, 1], b[:, 1]) - r - 1).long()
    xi = x0[:, None, None] + steps[None, None, :]  # [S, 1, side] pixel columns
    yi = y0[:, None, None] + steps[None, :, None]  # [S, side, 1] pixel rows
    px, py = xi.double() + 0.5, yi.double() + 0.5
    # distance from every pixel centre to its segment [a, b] (the same arithmetic as collage.js)
    ax, ay = a[:, 0, None, None], a[:, 1, None, None]
    dx, dy = b[:, 0, None, None] - ax, b[:, 1, None, None] - ay
    len2 = dx * dx + dy * dy
    tt = torch.where(len2 > 0, ((px - ax) * dx + (py - ay) * dy) / len2.clamp_min(1e-300), torch.zeros(()))
    tt = tt.clamp(0, 1)
    qx, qy = px - (ax + tt * dx), py - (ay + tt * dy)
    hit = ((qx * qx + qy * qy) <= r * r) & (xi >= 0) & (xi < width) & (yi >= 0) & (yi < height)
    s_idx, row, col = torch.nonzero(hit, as_tuple=True)
    out[y0[s_idx] + row, x0[s_idx] + col] = True


def _paint_image(out: torch.Tensor, a: torch.Tensor, b: torch.Tensor, r: float) -> None:
    """:func:`_paint_segments` for long segments (or wide brushes): every pixel of the image."""
    height, width = out.shape
    py = (torch.arange(height, dtype=torch.float64) + 0.5)[None, :, None]
    px = (torch.arange(width, dtype=torch.float64) + 0.5)[None, None, :]
    ax, ay = a[:, 0, None, None], a[:, 1, None, None]
    dx, dy = b[:, 0, None, None] - ax, b[:, 1, None, None] - ay
    len2 = dx * dx + dy * dy
    tt = torch.where(len2 > 0, ((px - ax) * dx + (py - ay) * dy) / len2.clamp_min(1e-300), torch.zeros(()))
    tt = tt.clamp(0, 1)
    qx, qy = px - (ax + tt * dx), py - (ay + tt * dy)
    out |= ((qx * qx + qy * qy) <= r * r).any(dim=0)


def extends(op: Op, earlier: Op) -> int:
    """How many points of brush stroke ``op`` continue ``earlier`` (the same stroke, painted so far):
    ``len(earlier["points"])`` when ``op`` is ``earlier`` with points added, else 0. Its coverage is then
    ``earlier``'s plus that of ``op["points"][m - 1:]`` (the new segments only).

        extends({"tool": "brush", "source": 0, "radius": 2, "points": [[1, 1], [5, 5]]},
                {"tool": "brush", "source": 0, "radius": 2, "points": [[1, 1]]})      # 1
    """
    if op.get("tool") != "brush" or earlier.get("tool") != "brush":
        return 0
    if op.get("source") != earlier.get("source") or op.get("radius") != earlier.get("radius"):
        return 0
    old, new = earlier.get("points") or [], op.get("points") or []
    m = len(old)
    return m if 0 < m < len(new) and new[:m] == old else 0


def rasterize(ops: Sequence[Op], n_sources: int, height: int, width: int | None = None,
              start: torch.Tensor | None = None) -> torch.Tensor:
    """Which source each collage pixel comes from: int64 ``[H, W]``, -1 where unknown.

    ``start`` (a label map) continues from already rasterised operations.

        labels = rasterize([{"tool": "rect", "source": 1, "x0": 0, "y0": 0, "x1": 32, "y1": 64}], 2, 64)
        mask = labels >= 0
    """
    width = height if width is None else width
    labels = start.clone() if start is not None else torch.full((height, width), UNKNOWN, dtype=torch.int64)
    for op in ops:
        op = check_op(op, n_sources)
        labels[coverage(op, height, width)] = UNKNOWN if op["source"] is None else op["source"]
    return labels


def composite(sources: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Paste each source's labelled pixels: ``(collage [1, 3, H, W], mask [1, 1, H, W])``.

    The collage is 0 where the mask is 0 (unknown), as the regressor's input expects.

        collage, mask = composite(sources, rasterize(ops, len(sources), 64))
    """
    if sources.dim() != 4 or sources.shape[1] != 3:
        raise ValueError(f"sources must be images [n, 3, H, W]; got {tuple(sources.shape)}")
    if labels.shape != sources.shape[2:]:
        raise ValueError(f"labels {tuple(labels.shape)} must match the sources' size {tuple(sources.shape[2:])}")
    labels = labels.to(sources.device)
    known = labels >= 0
    idx = labels.clamp_min(0).view(1, 1, *labels.shape).expand(1, 3, *labels.shape)
    gathered = sources.gather(0, idx)  # gathered[0, c, y, x] = sources[labels[y, x], c, y, x]
    mask = known.view(1, 1, *labels.shape).to(sources.dtype)
    return gathered * mask, mask
