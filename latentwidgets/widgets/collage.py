"""CollageCanvas: paint parts of several samples into a collage and watch a latent regressor project it.

Chai et al. (ICLR 2021): a regressor that maps a masked image to a latent, followed by the frozen
generator, turns a rough collage of parts into one coherent image in a single forward pass. This
widget shows ``n_sources`` samples; brush strokes or dragged rectangles on a source take those
pixels (at the same place) into the collage, painting on the collage (or in "erase" mode) makes
pixels unknown again (inpainting: the regressor sees the hole as unknown), and the projection
``model.synthesize(regressor.project(collage, mask))`` follows while you paint.

The collage is a list of operations (``.ops``: brush strokes, rectangles, fills; ``source`` None
erases), whose geometry (rasterising, pasting, the mask) lives in :mod:`latentwidgets.regress.collage`;
this widget holds the painting state and the view settings. The front end rasterises strokes with the
same rule (``static/collage.js``), draws them at once, and sends the operation list through the shared
frame transport (one request in flight, latest wins), so painting never builds a backlog in the kernel::

    import latentwidgets as lw
    model = lw.load("sprites-style")
    cc = lw.CollageCanvas(model, n_sources=3, seed=0)   # regressor: the zoo's shipped one
    cc                                                  # display it and paint
    cc.rect(0, 0, 0, 32, 64); cc.rect(1, 32, 0, 64, 64) # or build the collage from code
    cc.collage, cc.mask, cc.latent, cc.image            # torch tensors of what is shown
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import traitlets as t

from ..export import figure_panels, save_html
from ..models.base import LatentModel
from ..regress.collage import UNKNOWN, Op, check_op, composite, coverage, extends, rasterize
from .base import MAX_SEED, FrameWidget, check_model, frame_state
from .esm import css_source, esm_source

if TYPE_CHECKING:
    from ..export import Figure

__all__ = ["CollageCanvas"]


# ---------------------------------------------------------------------------------- regressor
def _default_regressor(model: LatentModel) -> Any:
    """The shipped regressor of a zoo model (``latentwidgets.regress.load_regressor``)."""
    from ..regress import ZOO_REGRESSORS, load_regressor

    if model.name not in ZOO_REGRESSORS:
        raise ValueError(
            f"CollageCanvas needs a latent regressor for {model.name!r}; only {sorted(ZOO_REGRESSORS)} ship one. "
            "Train one and pass it: reg = latentwidgets.regress.train_regressor(model, steps=...); "
            "CollageCanvas(model, regressor=reg)")
    return load_regressor(model.name, model)


def _num(v: float) -> str:
    """A coordinate as short Python: ``32`` for 32.0, ``12.25`` otherwise."""
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def _op_call(op: Op) -> str:
    """The :class:`CollageCanvas` method call that adds ``op`` (a checked operation).

        _op_call({"tool": "rect", "source": 0, "x0": 0.0, "y0": 0.0, "x1": 32.0, "y1": 64.0})  # 'rect(0, 0, 0, 32, 64)'
    """
    source = op["source"]
    if op["tool"] == "fill":  # (erasing everything: no method adds it, the list does)
        return f"fill({source})" if source is not None else "ops = [*cc.ops, {'tool': 'fill', 'source': None}]"
    if op["tool"] == "rect":
        box = ", ".join(_num(op[k]) for k in ("x0", "y0", "x1", "y1"))
        return f"rect({source}, {box})" if source is not None else f"erase_rect({box})"
    points = "[" + ", ".join(f"({_num(x)}, {_num(y)})" for x, y in op["points"]) + "]"
    radius = f"radius={_num(op['radius'])}"
    return f"paint({source}, {points}, {radius})" if source is not None else f"erase({points}, {radius})"


def _with_checkerboard(image: torch.Tensor, mask: torch.Tensor, cell: int | None = None) -> torch.Tensor:
    """``image [3, H, W]`` with its unknown pixels (``mask [1, H, W]`` 0) shown as a grey checkerboard."""
    h, w = image.shape[-2:]
    c = cell or max(2, h // 16)
    yy, xx = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    board = torch.where(((yy // c + xx // c) % 2) == 0, 0.8, 0.6).to(image.dtype).expand(3, -1, -1)
    return torch.where(mask > 0.5, image, board)


# ---------------------------------------------------------------------------------- widget
class CollageCanvas(FrameWidget):
    """Paint a collage from ``n_sources`` samples of ``model``; the ``regressor`` projects it live.

    Args:
        model: a :class:`~latentwidgets.models.base.LatentModel` (``latentwidgets.load(...)``).
        regressor: an object with ``project(images [B, 3, H, W], mask [B, 1, H, W]) -> [B, L, D]``
            (``latentwidgets.regress.LatentRegressor``); None loads the zoo's shipped regressor.
        n_sources: number of source samples to take parts from.
        seed: source k starts as ``model.sample_z(1, seed + k)``; "new" in the widget (or
            :meth:`new_sample`) draws another.
        brush_radius: brush radius in image pixels (default: 1/16 of the image side).
        truncation: on a model with a truncation trick (a mapping network, or BigGAN's setting), the
            sources' truncation, 0..1 (1: none; the page's truncation slider); the projection is the
            regressor's latent as it is.
        encoding: frame encoding, ``"auto"``, ``"raw"`` or ``"jpeg"`` (see ``transport.py``).
        display_size: on-screen width of each canvas in CSS pixels.

    ``.ops`` is the list of painting operations (see the module docstring); set it, or use
    :meth:`paint`, :meth:`rect`, :meth:`erase`, :meth:`erase_rect`, :meth:`fill`, :meth:`undo` and
    :meth:`clear`, and the views follow. ``.sources [n, 3, H, W]``, ``.labels [H, W]`` (source index,
    -1 unknown), ``.collage [1, 3, H, W]``, ``.mask [1, 1, H, W]`` (1 = known), ``.latent [1, L, D]`` and
    ``.image [1, 3, H, W]`` (the projection) are torch tensors of what is shown.

    On the page, the toolbar's undo / redo (Ctrl/Cmd-Z, Ctrl/Cmd-Shift-Z inside the widget) step
    through finished strokes, rectangles, "take all", "clear" and new samples; :meth:`code` gives the
    Python that makes this collage again (the page's "copy code"). On a model with a truncation trick,
    ``.truncation`` (the page's truncation slider, an undo step too) draws the sources truncated.
    """

    _esm = esm_source("collage.js")
    _css = css_source("collage.css")

    # painting state: travels with each frame request through the transport, so it is not synced
    ops = frame_state(t.List(t.Dict()), sync=False)
    seeds = frame_state(t.List(t.Int()), sync=False)
    # view settings
    n_sources = t.Int(3).tag(sync=True)
    resolution = t.Int(64).tag(sync=True)
    brush_radius = t.Float(4.0).tag(sync=True)
    tool = t.Unicode("brush").tag(sync=True)
    mode = t.Unicode("take").tag(sync=True)


    def __init__(self, model: LatentModel, regressor: Any = None, n_sources: int = 3, seed: int = 0, *,
                 brush_radius: float | None = None, encoding: str = "auto", display_size: int | None = None,
                 **kwargs: Any):
        check_model(model, "CollageCanvas")
        if int(n_sources) < 1:
            raise ValueError(f"n_sources must be >= 1; got {n_sources}")
        if not 0 <= int(seed) <= MAX_SEED - int(n_sources):
            raise ValueError(f"seed must be a whole number from 0 to 2**63 - 1 - n_sources; got {seed}")
        self._own_regressor = regressor is not None  # (for code(): the zoo's shipped one loads by itself)
        if regressor is None:
            regressor = _default_regressor(model)
        if not callable(getattr(regressor, "project", None)):
            raise TypeError(f"regressor must have project(images, mask) -> latents (latentwidgets.regress."
                            f"LatentRegressor); got {type(regressor).__name__}")
        check = getattr(regressor, "check_model", None)
        if callable(check):
            check(model)  # a regressor trained for another model's latents is refused here, with the fix
        self.model = model
        self.regressor = regressor
        self._first_seed = int(seed)
        self._source_cache: dict[tuple[int, int, float], torch.Tensor] = {}
        self._raster_cache: list[tuple[Op, torch.Tensor]] = []  # (checked op, labels after that op)
        self._labels: torch.Tensor | None = None
        self._sent_sources: tuple[Any, ...] | None = None  # (seeds, class, truncation) of the sources last sent
        self._projected_key: tuple[Any, ...] | None = None  # (sources, regressor) of the shown projection
        self._collage: torch.Tensor | None = None
        self._mask: torch.Tensor | None = None
        res = int(model.resolution)
        radius = float(brush_radius) if brush_radius is not None else max(1.5, res / 16)
        size = display_size if display_size is not None else max(128, min(256, 3 * res))
        super().__init__(n_sources=int(n_sources), seeds=[int(seed) + k for k in range(int(n_sources))], ops=[],
                         resolution=res, brush_radius=radius, encoding=encoding, display_size=int(size),
                         title=f"collage on {model.name}", **kwargs)
        self._refresh()  # a construction error (regressor and model do not fit) raises here
        self._serve()

    # ------------------------------------------------------------------------------ validation
    @t.validate("ops")
    def _check_ops(self, proposal: Any) -> list[Op]:
        n = int(self.n_sources)
        known = list(self.ops)  # checked already: a stroke in progress only checks its new points
        try:
            return [check_op(op, n, known[i] if i < len(known) else None) for i, op in enumerate(proposal["value"])]
        except ValueError as exc:
            raise t.TraitError(str(exc)) from None

    @t.validate("seeds")
    def _check_seeds(self, proposal: Any) -> list[int]:
        seeds = list(proposal["value"])  # ints: the trait type refused anything else
        if len(seeds) != int(self.n_sources):
            raise t.TraitError(f"seeds needs {self.n_sources} values (one per source); got {len(seeds)}")
        if any(not 0 <= s <= MAX_SEED for s in seeds):
            raise t.TraitError(f"seeds must be whole numbers from 0 to 2**63 - 1; got {seeds}")
        return seeds

    @t.validate("brush_radius")
    def _check_radius(self, proposal: Any) -> float:
        r = float(proposal["value"])
        if not (math.isfinite(r) and r > 0):
            raise t.TraitError(f"brush_radius must be > 0 image pixels; got {proposal['value']}")
        return r

    @t.validate("tool")
    def _check_tool(self, proposal: Any) -> str:
        if proposal["value"] not in ("brush", "rect"):
            raise t.TraitError(f"tool must be 'brush' or 'rect'; got {proposal['value']!r}")
        return proposal["value"]

    @t.validate("mode")
    def _check_mode(self, proposal: Any) -> str:
        if proposal["value"] not in ("take", "erase"):
            raise t.TraitError(f"mode must be 'take' or 'erase'; got {proposal['value']!r}")
        return proposal["value"]

    # ------------------------------------------------------------------------------ painting API
    def paint(self, source: int, points: Sequence[Sequence[float]], radius: float | None = None) -> None:
        """Take the pixels of ``source`` within ``radius`` of the polyline ``points`` (image pixels).

            cc.paint(0, [(10, 10), (40, 30)], radius=5)
        """
        r = self.brush_radius if radius is None else radius
        self.ops = [*self.ops, {"tool": "brush", "source": source, "radius": r, "points": [list(p) for p in points]}]

    def rect(self, source: int, x0: float, y0: float, x1: float, y1: float) -> None:
        """Take the pixels of ``source`` whose centres lie in the box (``rect(0, 0, 0, 32, 64)``: left half)."""
        self.ops = [*self.ops, {"tool": "rect", "source": source, "x0": x0, "y0": y0, "x1": x1, "y1": y1}]

    def fill(self, source: int) -> None:
        """Take all of ``source`` (a starting point for inpainting: then erase a hole)."""
        self.ops = [*self.ops, {"tool": "fill", "source": source}]

    def erase(self, points: Sequence[Sequence[float]], radius: float | None = None) -> None:
        """Make the pixels within ``radius`` of the polyline unknown (the regressor inpaints them)."""
        r = self.brush_radius if radius is None else radius
        self.ops = [*self.ops, {"tool": "brush", "source": None, "radius": r, "points": [list(p) for p in points]}]

    def erase_rect(self, x0: float, y0: float, x1: float, y1: float) -> None:
        """Make the pixels whose centres lie in the box unknown."""
        self.ops = [*self.ops, {"tool": "rect", "source": None, "x0": x0, "y0": y0, "x1": x1, "y1": y1}]

    def undo(self) -> Op | None:
        """Remove the last operation (returns it; None if there was none)."""
        if not self.ops:
            return None
        last = self.ops[-1]
        self.ops = self.ops[:-1]
        return last

    def clear(self) -> None:
        """Remove every operation: an empty collage (all pixels unknown)."""
        self.ops = []

    def new_sample(self, source: int, seed: int | None = None) -> int:
        """Give ``source`` a new seed (random if None); the collage keeps its strokes. Returns the seed."""
        if not 0 <= int(source) < int(self.n_sources):
            raise ValueError(f"source {source} does not exist: sources are 0..{self.n_sources - 1}")
        if seed is None:  # (not from torch's global generator: the user's seeded stream stays as it was)
            seed = secrets.randbelow(2**31 - 1)
        seeds = list(self.seeds)
        seeds[int(source)] = int(seed)
        self.seeds = seeds
        return int(seed)

    # ------------------------------------------------------------------------------ tensors
    @property
    def sources(self) -> torch.Tensor:
        """The source samples ``[n_sources, 3, H, W]`` in [0, 1]."""
        return self._sources().clone()

    @property
    def labels(self) -> torch.Tensor:
        """Which source each collage pixel comes from: int64 ``[H, W]``, -1 where unknown."""
        assert self._labels is not None
        return self._labels.clone()

    @property
    def collage(self) -> torch.Tensor:
        """The pasted collage ``[1, 3, H, W]`` (0 where unknown): the regressor's input."""
        assert self._collage is not None
        return self._collage.clone()

    @property
    def mask(self) -> torch.Tensor:
        """``[1, 1, H, W]`` floats, 1 where the collage is known."""
        assert self._mask is not None
        return self._mask.clone()

    # ------------------------------------------------------------------------------ compute
    def _source_key(self) -> tuple[Any, ...]:
        """What the sources are drawn from: (seeds, class, truncation)."""
        return tuple(int(s) for s in self.seeds), int(self.class_index), float(self.truncation)

    def _sources(self) -> torch.Tensor:
        seeds, class_index, truncation = self._source_key()
        keys = [(s, class_index, truncation) for s in seeds]  # what each source is drawn from
        missing = [k for k in dict.fromkeys(keys) if k not in self._source_cache]
        if missing:
            with self._model_scope():  # (the class, and BigGAN's truncation, which also scales its samples)
                z = torch.cat([self.model.sample_z(1, seed=s) for s, _, _ in missing])
                for k, img in zip(missing, self._generate(z), strict=True):
                    self._source_cache[k] = img
        # keep the cache to the shown seeds (new samples on demand must not grow it forever)
        self._source_cache = {k: self._source_cache[k] for k in keys}
        return torch.stack([self._source_cache[k] for k in keys])

    def _rasterize(self, ops: Sequence[Op]) -> torch.Tensor:
        """Labels of ``ops``, reusing the label maps of the longest unchanged prefix; a stroke in progress
        (the same stroke with points added) paints only its new segments onto its previous labels, so
        a frame's time and memory do not grow with the stroke's length."""
        res = int(self.resolution)
        cache = self._raster_cache
        k = 0
        while k < min(len(ops), len(cache)) and cache[k][0] == ops[k]:
            k += 1
        kept = cache[:k]
        labels = kept[-1][1] if kept else torch.full((res, res), UNKNOWN, dtype=torch.int64)
        for i, op in enumerate(ops[k:], start=k):
            m = extends(op, cache[i][0]) if i == k and i < len(cache) else 0
            if m:  # labels before this stroke + the stroke so far, then only the new segments
                labels = cache[i][1].clone()
                labels[coverage({**op, "points": op["points"][m - 1:]}, res, res)] = \
                    UNKNOWN if op["source"] is None else op["source"]
            else:
                labels = rasterize([op], int(self.n_sources), res, start=labels)
            kept.append((op, labels))
        self._raster_cache = kept
        return labels

    def _compute(self) -> None:
        sources = self._sources()
        labels = self._rasterize(self.ops)
        key = (self._source_key(), id(self.regressor))
        if key == self._projected_key and self._labels is not None and torch.equal(labels, self._labels):
            return  # the stroke moved within pixels it had already painted: the projection is the same
        collage, mask = composite(sources, labels)
        with torch.no_grad():
            latent = self.regressor.project(collage, mask)
        if not isinstance(latent, torch.Tensor):
            raise TypeError(f"regressor.project must return a tensor of latents; got {type(latent).__name__}")
        if not torch.isfinite(latent).all():
            raise ValueError("the regressor returned non-finite latents (NaN or inf); check its weights "
                             "(latentwidgets.regress.load_regressor) or retrain it")
        image = self.model.synthesize(latent)
        self._labels, self._collage, self._mask = labels, collage, mask
        self._latent, self._image = self.model.broadcast(latent), image
        self._projected_key = key

    def _frames(self, with_sources: bool) -> torch.Tensor:
        """What the views draw: the projection, then every source when asked or when the seeds (or the
        class, or the truncation) changed since the sources were last sent (every open view receives every
        frame, so it has them)."""
        assert self._image is not None
        sent = self._source_key()
        if not (with_sources or sent != self._sent_sources):
            return self._image
        self._sent_sources = sent
        return torch.cat([self._image, self._sources()])

    def _code_lines(self) -> list[str]:
        """Python that makes this collage again in a fresh kernel: the model by name, the canvas with its
        seeds, then each operation as a :meth:`paint` / :meth:`rect` / :meth:`erase` / :meth:`erase_rect` /
        :meth:`fill` call."""
        lines = self._model_code_lines()
        args = ["model"]
        if self._own_regressor:
            lines.append("reg = ...  # the regressor this canvas was given (train_regressor / load_regressor)")
            args.append("reg")
        args += [f"n_sources={int(self.n_sources)}", f"seed={self._first_seed}", *self._state_code_args()]
        lines.append(f"cc = lw.CollageCanvas({', '.join(args)})")
        if list(self.seeds) != [self._first_seed + k for k in range(int(self.n_sources))]:
            lines.append(f"cc.seeds = {list(self.seeds)!r}")
        lines += [f"cc.{_op_call(op)}" for op in self.ops]
        lines.append("cc")
        return lines

    # ------------------------------------------------------------------------------ figures
    def _project(self, sources: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The projection ``[1, 3, H, W]`` of the collage ``labels`` paints from ``sources``."""
        collage, mask = composite(sources, labels)
        with torch.no_grad():
            return self.model.synthesize(self.regressor.project(collage, mask))

    def _panels(self) -> list[tuple[str, torch.Tensor]]:
        """Captioned images of what the canvas shows: each source, the collage (unknown pixels as a
        grey checkerboard), the mask (white: known) and the projection."""
        assert self._collage is not None and self._mask is not None and self._image is not None
        panels = [(f"source {k} (seed {s})", img.cpu()) for k, (s, img) in
                  enumerate(zip(self.seeds, self._sources(), strict=True))]
        mask = self._mask[0].cpu()
        return panels + [("collage", _with_checkerboard(self._collage[0].cpu(), mask)),
                         ("mask (white: known)", mask.expand(3, -1, -1)), ("projection", self._image[0].cpu())]

    def _snapshot_rows(self) -> list[torch.Tensor]:
        """The saved notebook's picture (``snapshot.py``): the sources, then the collage and its projection."""
        panels = self._panels()
        return [torch.stack([img for _, img in panels[:-3]]), torch.stack([panels[-3][1], panels[-1][1]])]

    def figure(self, title: str | None = None) -> Figure:
        """A :class:`latentwidgets.export.Figure` (shows as a PNG as a cell's last expression): the
        sources, the collage, its mask and the regressor's projection, captioned.

            cc.figure()                       # in a notebook: the picture
            cc.figure().savefig("collage.png")
        """
        with self._model_scope():
            panels = self._panels()
        return figure_panels(panels, title=self.title if title is None else title)

    def save_html(self, path: Any, steps: int = 40, fmt: str = "png") -> Path:
        """ONE self-contained HTML file (no kernel, no network): the sources as stills, then the painting
        replayed, the collage, its mask and the projection after each operation (up to ``steps`` of
        them, evenly), to scrub or play; drawn at the widget's ``display_size``; the file records the
        model, seeds, latentwidgets version and date.

            cc.save_html("collage.html")
        """
        ops = list(self.ops)
        res = int(self.resolution)
        n = int(self.n_sources)
        counts = sorted({round(i * len(ops) / max(1, steps - 1)) for i in range(max(2, steps))} | {len(ops)})
        counts = [c for c in counts if c <= len(ops)]
        frames = []
        with self._model_scope():
            panels = self._panels()[:n]
            sources = self._sources()
            labels, done = torch.full((res, res), UNKNOWN, dtype=torch.int64), 0
            for c in counts:
                labels = rasterize(ops[done:c], n, res, start=labels)
                done = c
                collage, mask = composite(sources, labels)
                projected = self._project(sources, labels)[0].cpu()
                frames.append(torch.cat([_with_checkerboard(collage[0].cpu(), mask[0].cpu()),
                                         mask[0].cpu().expand(3, -1, -1), projected], dim=2))
        grid = torch.stack(frames).unsqueeze(0).clamp(0, 1)
        meta = {"model": self.model.name, "seeds": list(self.seeds), "operations": len(ops),
                "regressor": type(self.regressor).__name__}
        if "truncation" in self._state_names:
            meta["truncation"] = float(self.truncation)
        return save_html(path, grid, ["collage | mask | projection"], [[f"{c} of {len(ops)}" for c in counts]],
                         title=self.title, row_title="shown", col_title="operations applied", fmt=fmt,
                         display_size=int(self.display_size), samples=3, meta=meta, panels=panels)

    def __repr__(self) -> str:
        return (f"CollageCanvas(model={self.model.name!r}, seeds={list(self.seeds)}, ops={len(self.ops)}, "
                f"known={float(self._mask.mean()) if self._mask is not None else 0:.1%})")
