"""DirectionExplorer: live sliders along discovered directions, for one sample or a grid of samples.

One slider per direction (strength in sigma units, factor units such as "x shift, px" for
calibrated directions, or an attribute controller's requested value in the attribute's own units:
``find_directions(model, "attribute", kind="controller")``), each with its component's share of
the variance where the record has one, a name the page can edit, a seed control with "new sample",
a view of the edited images, the originals or both side by side, and readouts. Every slider value
becomes edits through :func:`latentwidgets.edit.edits_for` (whatever kind of direction it is);
every frame comes from :func:`latentwidgets.edit.render_edits` (the one path from latents to
images) and travels through the shared frame transport (``transport.py`` / ``static/transport.js``):
at most one request in flight, always the latest slider values, so dragging never builds a backlog::

    import latentwidgets as lw
    model = lw.load("sprites-style")
    d = lw.find_directions(model, "pca", n_samples=20000)
    ex = lw.DirectionExplorer(model, d[:6], seed=3, n=4)
    ex                                   # display it; drag the sliders
    ex.strengths = [2.0, 0, 0, 0, 0, 0]  # the sliders follow
    ex.rename(0, "pose")                 # the page's labels and ex.directions follow
    ex.view_mode = "side by side"        # each sample before and after
    ex.image, ex.latent, ex.edits        # tensors and Edit records of what is shown
    records = ex.export_edits()          # JSON-able; ex.import_edits(records) sets the sliders again
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
import traitlets as t

from ..directions.layers import resolve_layers
from ..directions.record import Directions
from ..edit import Edit, edits_for, value_range
from ..export import traversal
from ..models.base import LatentModel
from .base import check_directions, check_model, frame_state
from .directions_view import VIEW_MODES, DirectionsWidget, directions_code
from .esm import css_source, esm_source
from .figures import RowValues, TraversalFigures, row_grid

if TYPE_CHECKING:
    from ..export import Figure

__all__ = ["DirectionExplorer", "VIEW_MODES"]

#: per-direction shares of the variance a record's ``info`` may hold, and what the page calls them
_VARIANCE_KEYS = (("explained_variance_ratio", "explained variance"),     # PCA
                  ("eigenvalue_ratio", "share of the eigenvalues"))       # closed form (SeFa)


def variance_shares(d: Directions) -> tuple[list[float | None], str]:
    """Each direction's share of the variance from ``d.info`` (PCA's explained variance ratio, closed
    form's eigenvalue share) and its label; ``None`` for a direction the record has none for.

    A slice (``d[2:5]``) carries its own directions' shares. When ``info`` lists more shares than the
    record has directions (a file saved by a slice before slices cut ``info``), the directions'
    default names (``"pca 3"``) say which component each one is::

        variance_shares(pca[:3])     # ([0.31, 0.12, 0.08], 'explained variance')
    """
    for key, label in _VARIANCE_KEYS:
        shares = d.info.get(key)
        if not isinstance(shares, list) or not shares:
            continue
        if len(shares) == len(d):
            return [float(v) for v in shares], label
        default = re.compile(re.escape(d.method) + r" (\d+)")
        found = [default.fullmatch(name) for name in d.names]
        index = [int(m.group(1)) if m else -1 for m in found]
        return [float(shares[i]) if 0 <= i < len(shares) else None for i in index], label
    return [None] * len(d), ""


def _slider_spec(d: Directions, k: int, strength_range: float, variance: float | None,
                 variance_label: str) -> dict[str, Any]:
    """The front end's description of direction k's slider (kind, unit, range, step, default), as
    :func:`~latentwidgets.edit.value_range` gives it; ``calibrated``: the value is in the direction's
    own unit, not sigma; ``variance``: its share of the variance (None: the record has none)."""
    r = value_range(d, k, sigma_range=strength_range)
    return {"name": d.names[k], "kind": r["kind"], "unit": r["unit"], "calibrated": r["unit"] != "\u03c3",
            "min": r["min"], "max": r["max"], "step": r["step"], "default": r["default"],
            "variance": variance, "variance_label": variance_label if variance is not None else ""}


class DirectionExplorer(DirectionsWidget, TraversalFigures):
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
    reproduces ``ex.image`` at ``truncation`` 1); :meth:`export_edits` gives them as JSON-able records and
    :meth:`import_edits` sets the sliders from such records. ``on_change(callback)`` runs after every
    new frame; ``close()`` detaches from the front end.

    ``.view_mode`` (:data:`VIEW_MODES`) is what the page shows: ``"edited"``, ``"original"`` (the
    unedited samples, ``.original``) or ``"side by side"`` (each sample before and after);
    ``.show_original`` is True while it shows the originals (setting it picks ``"original"`` or
    ``"edited"``). ``.image`` is always the edited images. Beside each slider the page shows the
    direction's share of the variance where the record holds one (PCA's explained variance, closed
    form's eigenvalue share: :func:`variance_shares`). :meth:`rename` (or the page: double-click a
    name, or F2 on its slider, type, Enter) renames a direction in ``.directions``, so
    ``ex.directions.save(path)`` keeps the names.

    On a model with a truncation trick (a mapping network, or BigGAN's setting) ``.truncation``
    (0..1, 1: none) is the page's truncation slider, applied to every frame and to :meth:`code`.
    The bar's buttons undo and redo slider, seed and truncation changes, download the frame as a
    PNG, and copy :meth:`code` (Python that makes this view again: the model by name, the
    ``find_directions`` call the record stores, the explorer and its values).

    Keys on the page: on a focused slider, Arrow keys step 0.1 sigma and Shift+Arrow (or PageUp /
    PageDown) 1 sigma (a 60th and a 6th of the span of a slider in a factor's or attribute's own
    unit); F2 renames its direction (Enter keeps the new name, Escape the old one); Ctrl-Z /
    Ctrl-Shift-Z (Cmd on a Mac) or Ctrl-Y undo and redo anywhere in the widget. ``debug=True`` shows
    developer timings in the readout.
    """

    _esm = esm_source("explorer.js")
    _css = css_source("explorer.css")

    strengths = frame_state(t.List(t.Float()))
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
        self._strength_range = float(strength_range)
        shares, label = variance_shares(directions)
        controls = [_slider_spec(directions, k, strength_range, shares[k], label) for k in range(len(directions))]
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
    def edits(self) -> list[Edit]:
        """The edits of the sliders away from their defaults, in direction order."""
        return self._edits(self._latents())

    def reset(self) -> None:
        """Put every slider back to its default (no edit)."""
        self.strengths = [c["default"] for c in self.controls]

    @property
    def show_original(self) -> bool:
        """True while the page shows the unedited samples (``view_mode == "original"``); set it to pick
        ``"original"`` (True) or ``"edited"`` (False).

            ex.show_original = True      # the before picture; ex.image stays the edited one
        """
        return self.view_mode == "original"

    @show_original.setter
    def show_original(self, value: bool) -> None:
        self.view_mode = "original" if value else "edited"

    def _renamed(self, k: int) -> None:
        """The slider's label follows a rename (:meth:`DirectionsWidget.rename`)."""
        controls = [dict(c) for c in self.controls]
        controls[k]["name"] = self.directions.names[k]
        self.controls = controls

    def export_edits(self) -> list[dict[str, Any]]:
        """The sliders away from their defaults as JSON-able records: each edit's ``Edit.to_record()``
        (as ``LayerwiseEditor.export_edits``) plus its slider's ``value`` and ``unit``. Per-sample
        strengths (calibrated factors, controllers) are lists for these samples; ``value`` is what
        :meth:`import_edits` sets the slider to.

            json.dump(ex.export_edits(), open("edits.json", "w"))
        """
        z = self._latents()
        return [{**e.to_record(), "value": float(s), "unit": self.controls[k]["unit"]}
                for k, s in enumerate(self.strengths) for e in self._edits_for(k, s, z)]

    def import_edits(self, records: Sequence[Edit | dict[str, Any]]) -> None:
        """Set the sliders from ``records`` (from :meth:`export_edits`, ``LayerwiseEditor.export_edits``
        or :class:`Edit` objects); every other slider goes to its default. A record without a ``value``
        sets a sigma slider from its ``strength`` (mode ``"add"``); its layers must be the ones this
        explorer edits that direction at.

            ex.import_edits(json.load(open("edits.json")))
        """
        values = [c["default"] for c in self.controls]
        done: set[int] = set()
        L = int(self.model.num_layers)
        for r in records:
            rec: dict[str, Any] = r.to_record() if isinstance(r, Edit) else dict(r)
            name = rec.get("name")
            which: Any = name if isinstance(name, str) and name in self.directions.names else rec.get("direction", name)
            k = self.directions.index(which)  # (KeyError / IndexError naming the directions)
            label = self.directions.names[k]
            if k in done:
                raise ValueError(f"two records for direction {label!r}: the explorer has one slider per direction")
            done.add(k)
            if "value" in rec:
                value = rec["value"]
            elif rec.get("mode", "add") == "add" and not self.controls[k]["calibrated"] \
                    and not isinstance(rec.get("strength"), list):
                value = rec["strength"]
            else:
                raise ValueError(f"{label!r}: a {rec.get('mode', 'add')!r} record without a slider 'value' cannot set "
                                 f"its {self.controls[k]['unit'] or 'value'} slider (export_edits records carry one)")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{label!r}: a slider value is a finite number; got {value!r}")
            want = resolve_layers(self._layers_for(k), L) or (0, L)
            layers = rec.get("layers")
            got = resolve_layers(tuple(layers) if isinstance(layers, list) else layers, L) or (0, L)
            if got != want:
                raise ValueError(f"{label!r}: this explorer edits it at layers {want[0]}-{want[1] - 1}, the record at "
                                 f"{got[0]}-{got[1] - 1}; use a LayerwiseEditor for edits at their own layers")
            values[k] = float(value)
        self.strengths = values

    # ------------------------------------------------------------------------------ compute
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
        self._latent, self._image = self._render_edits(z, self._edits(z))
        self._keep_original(z)

    def _frames(self, initial: bool) -> torch.Tensor:
        """The edited images, the originals, or (side by side) each sample's original then edited image."""
        assert self._image is not None
        return self._shown(self._image)

    def _code_lines(self) -> list[str]:
        """Python that makes this view again in a fresh kernel: the model (by name where latentwidgets loads
        it), the directions (their ``find_directions`` call, selection and renames), the explorer and its
        slider values."""
        lines = self._model_code_lines() + directions_code(self.directions, self._picked)
        args = ["model", "d", *self._state_code_args()]
        if self._strength_range != 3.0:
            args.append(f"strength_range={self._strength_range!r}")
        if self.layer_choice != "suggested":
            args.append(f"layers={self.layer_choice!r}")
        lines.append(f"ex = lw.DirectionExplorer({', '.join(args)})")
        if any(s != c["default"] for s, c in zip(self.strengths, self.controls, strict=True)):
            lines.append(f"ex.strengths = {[float(s) for s in self.strengths]!r}")
        lines.append("ex")
        return lines

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
