"""DirectionExplorer: live sliders along discovered directions, for one sample or a grid of samples.

One slider per direction (strength in sigma units, factor units such as "x shift, px" for
calibrated directions, or an attribute controller's requested value in the attribute's own units:
``find_directions(model, "attribute", kind="controller")``), a seed control with "new sample", a
before/after toggle and readouts. Every slider value becomes edits through
:func:`latentwidgets.edit.edits_for` (whatever kind of direction it is); every frame comes from
:func:`latentwidgets.edit.render_edits` (the one path from latents to images) and travels through
the shared frame transport (``transport.py`` / ``static/transport.js``): at most one request in
flight, always the latest slider values, so dragging never builds a backlog::

    import latentwidgets as lw
    model = lw.load("sprites-style")
    d = lw.find_directions(model, "pca", n_samples=20000)
    ex = lw.DirectionExplorer(model, d[:6], seed=3, n=4)
    ex                                   # display it; drag the sliders
    ex.strengths = [2.0, 0, 0, 0, 0, 0]  # the sliders follow
    ex.image, ex.latent, ex.edits        # tensors and Edit records of what is shown
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
import traitlets as t

from ..directions.layers import resolve_layers
from ..directions.record import Directions
from ..edit import Edit, edits_for, render_edits, value_range
from ..export import traversal
from ..models.base import LatentModel
from .base import SampledFrameWidget, check_directions, check_model, frame_state
from .esm import css_source, esm_source
from .figures import RowValues, TraversalFigures, row_grid

if TYPE_CHECKING:
    from ..export import Figure

__all__ = ["DirectionExplorer"]


def _slider_spec(d: Directions, k: int, strength_range: float) -> dict[str, Any]:
    """The front end's description of direction k's slider (kind, unit, range, step, default), as
    :func:`~latentwidgets.edit.value_range` gives it; ``calibrated``: the value is in the direction's
    own unit, not sigma."""
    r = value_range(d, k, sigma_range=strength_range)
    return {"name": d.names[k], "kind": r["kind"], "unit": r["unit"], "calibrated": r["unit"] != "\u03c3",
            "min": r["min"], "max": r["max"], "step": r["step"], "default": r["default"]}


class DirectionExplorer(SampledFrameWidget, TraversalFigures):
    """Sliders along ``directions`` on ``n`` samples of ``model`` drawn from ``seed``.

    Args:
        model: a :class:`~latentwidgets.models.base.LatentModel` (``latentwidgets.load(...)``).
        directions: a :class:`~latentwidgets.directions.record.Directions` record (slice it to choose).
        seed: seed of the samples (``model.sample_z(n, seed)``).
        n: number of samples in the grid, all edited together.
        strength_range: slider range in sigma (+-) for directions moved in sigma (linear, TCA).
        layers: ``"suggested"`` (each direction's own layer range), ``None`` (all layers) or a
            ``(start, end)`` range for every direction.
        encoding: ``"auto"`` (raw RGBA for small frames, JPEG for large), ``"raw"`` or ``"jpeg"``
            (choose JPEG for remote kernels).
        display_size: on-screen width of one sample in CSS pixels.

    ``.strengths`` holds one value per direction in its slider's unit
    (:func:`~latentwidgets.edit.value_range`: sigma, the calibration's unit, or an attribute
    controller's requested value in the attribute's own units); set it from Python and the sliders
    follow (a value beyond a slider's range widens that slider). A slider at its default (0, or the
    middle of a controller's range) edits nothing; the edits come from
    :func:`~latentwidgets.edit.edits_for`. ``.image [n, 3, H, W]``, ``.latent [n, L, D]`` (the edited
    per-layer latents) and ``.z [n, z_dim]`` are torch tensors of what is shown; ``.edits`` lists
    the :class:`~latentwidgets.edit.Edit` records that produce it (``render_edits(model, ex.z, ex.edits)``
    reproduces ``ex.image``); ``.image`` is the edited
    images also while the before/after toggle shows ``.original``. ``on_change(callback)`` runs after
    every new frame; ``close()`` detaches from the front end.
    """

    _esm = esm_source("explorer.js")
    _css = css_source("explorer.css")

    strengths = frame_state(t.List(t.Float()))
    show_original = frame_state(t.Bool(False))
    controls = t.List(t.Dict()).tag(sync=True)

    def __init__(self, model: LatentModel, directions: Directions, seed: int = 0, n: int = 1, *,
                 strength_range: float = 3.0, layers: str | None | tuple[int, int] = "suggested",
                 encoding: str = "auto", display_size: int | None = None, **kwargs: Any):
        check_model(model, "DirectionExplorer")
        check_directions(model, directions)
        if not (isinstance(layers, tuple) or layers is None or layers == "suggested"):
            raise ValueError(f"layers must be 'suggested', None or a (start, end) tuple; got {layers!r}")
        if isinstance(layers, tuple):  # checked now, not at the first slider move
            layers = resolve_layers(layers, int(model.num_layers))
        self.model = model
        self.directions = directions
        self.layer_choice = layers
        self._original: torch.Tensor | None = None
        controls = [_slider_spec(directions, k, strength_range) for k in range(len(directions))]
        size = display_size if display_size is not None else max(128, min(256, 3 * model.resolution))
        super().__init__(controls=controls, strengths=[c["default"] for c in controls], seed=int(seed), n=int(n),
                         encoding=encoding, display_size=int(size),
                         title=f"{directions.method} directions on {model.name}", **kwargs)
        self._refresh()  # a construction error (wrong model, bad n) raises here, before display
        self._serve()

    # ------------------------------------------------------------------------------ validation
    @t.validate("strengths")
    def _check_strengths(self, proposal: Any) -> list[float]:
        vals = list(proposal["value"])  # floats: the trait type refused anything else
        k = len(self.directions) if hasattr(self, "directions") else len(vals)
        if len(vals) != k:
            raise t.TraitError(f"strengths needs {k} values (one per direction: {self.directions.names}); "
                               f"got {len(vals)}")
        if not all(math.isfinite(v) for v in vals):
            raise t.TraitError(f"strengths must be finite numbers; got {vals}")
        return vals

    def _notify(self) -> None:
        """A value beyond a slider's range (set from Python) widens that slider to it once its frame is
        computed: the thumb never sits pinned at an end beside a larger readout (a value whose compute
        failed was rolled back and widens nothing)."""
        controls = [dict(c) for c in self.controls]
        wider = False
        for c, v in zip(controls, self.strengths, strict=False):
            if v < c["min"] or v > c["max"]:
                c["min"], c["max"], wider = min(c["min"], v), max(c["max"], v), True
        if wider:
            self.controls = controls
        super()._notify()

    # ------------------------------------------------------------------------------ public API
    @property
    def original(self) -> torch.Tensor:
        """The unedited images ``[n, 3, H, W]``."""
        if self._original is None:
            with self._model_scope():
                self._original = render_edits(self.model, self._latents(), [])[1]
        return self._original.clone()

    @property
    def edits(self) -> list[Edit]:
        """The edits of the sliders away from their defaults, in direction order."""
        return self._edits(self._latents())

    def reset(self) -> None:
        """Put every slider back to its default (no edit)."""
        self.strengths = [c["default"] for c in self.controls]

    # ------------------------------------------------------------------------------ compute
    def _on_new_samples(self) -> None:
        self._original = None

    def _layers_for(self, k: int) -> tuple[int, int] | None:
        if self.layer_choice == "suggested":
            return self.directions.layers[k]
        return self.layer_choice  # type: ignore[return-value]

    def _edits_for(self, k: int, strength: float, z: torch.Tensor) -> list[Edit]:
        """The edits of slider ``k`` at ``strength`` (its unit) on latents ``z``; none at its default."""
        value = None if strength == self.controls[k]["default"] else strength
        return edits_for(self.model, self.directions, k, value, z, layers=self._layers_for(k))

    def _edits(self, z: torch.Tensor) -> list[Edit]:
        return [e for k, s in enumerate(self.strengths) for e in self._edits_for(k, s, z)]

    def _compute(self) -> None:
        z = self._latents()
        latent, image = render_edits(self.model, z, self._edits(z))
        if self.show_original and self._original is None:
            self._original = render_edits(self.model, z, [])[1]
        self._latent, self._image = latent, image

    def _frames(self, initial: bool) -> torch.Tensor:
        assert self._image is not None
        return self.original if self.show_original else self._image

    # ------------------------------------------------------------------------------ figures
    def _rows(self, directions: Sequence[int | str] | None, index: int | None) -> list[int]:
        rows = directions if directions is not None else range(len(self.directions))
        return [self.directions.index(k) for k in rows]

    def _row_values(self, ks: Sequence[int], strengths: Sequence[float] | None, steps: int,
                    index: int | None) -> list[RowValues]:
        """Each direction's values in its slider's unit: ``strengths``, or ``steps`` over its slider's range
        (a calibrated direction's range in its unit, +-strength_range sigma, a controller's attribute range)."""
        out = []
        for k in ks:
            c = self.controls[k]
            quantity = {"controller": "value", "factor": "shift"}.get(c["kind"], "strength")
            values = list(strengths) if strengths is not None else \
                row_grid(c["min"], c["max"], steps, absolute=c["kind"] == "controller")
            out.append(RowValues(values, c["unit"], quantity))
        return out

    def _traversal(self, ks: Sequence[int], values: Sequence[Sequence[float]],
                   index: int | None) -> tuple[list[str], torch.Tensor, str]:
        z = self._latents()
        grid = traversal(self.model, z, ks, values, lambda k, s: self._edits_for(k, s, z), render=self._render_edits)
        return [self.directions.names[k] for k in ks], grid, self.title

    def figure(self, directions: Sequence[int | str] | None = None,
               strengths: Sequence[float] | None = None, steps: int = 7, title: str | None = None) -> Figure:
        """A :class:`latentwidgets.export.Figure` (shows as a PNG as a cell's last expression): direction
        (rows) x value (columns) on this explorer's samples, each row over its slider's range in its
        own unit (``strengths``: the same values, in each row's unit, for every row).

            ex.figure()                                        # in a notebook: the picture
            ex.figure(strengths=[-2, -1, 0, 1, 2]).savefig("grid.png")
        """
        return self._figure(directions, strengths, steps, title)

    def save_gif(self, path: Any, direction: int | str = 0, strengths: Sequence[float] | None = None,
                 steps: int = 21, duration_ms: int = 80) -> Any:
        """Write a GIF traversing one direction (forth and back) over the figure's values, on this
        explorer's samples.

            ex.save_gif("pca0.gif", direction=0)
        """
        return self._save_gif(path, direction, strengths, steps, duration_ms)

    def save_html(self, path: Any, directions: Sequence[int | str] | None = None,
                  strengths: Sequence[float] | None = None, steps: int = 21, fmt: str = "jpeg") -> Any:
        """Write ONE self-contained HTML file (no kernel, no network): pick a direction, scrub or play its
        frames over the figure's values, each sample drawn at the widget's ``display_size``; the file
        records the model, seed, latentwidgets version and date.

            ex.save_html("explorer.html", steps=21)
        """
        return self._save_html(path, directions, strengths, steps, fmt)

    def __repr__(self) -> str:
        return (f"DirectionExplorer(model={self.model.name!r}, directions={self.directions.names}, "
                f"seed={self.seed}, n={self.n}, strengths={[round(s, 3) for s in self.strengths]})")
