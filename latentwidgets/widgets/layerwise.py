"""LayerwiseEditor: a stack of named edits (direction, strength, layer range), GANSpace-style.

Coarse layers move geometry, fine layers colour and texture. The editor shows the samples with the
whole stack applied (or without edits, or both side by side: ``view_mode``), a two-handle range over
the model's per-layer latents (one cell per layer, the chosen ones filled) with coarse / middle / fine
presets (``directions/layers.py``), and a strip with the selected edit applied at several layer ranges
side by side. Ranges are stored half-open, ``(8, 10)`` = layers 8 and 9, as everywhere in the package;
every label on the page reads inclusively ("fine: layers 8-9"). Every image comes from
:func:`latentwidgets.edit.render_edits` and travels through the shared frame transport
(``transport.py`` / ``static/transport.js``)::

    import latentwidgets as lw
    model = lw.load("sprites-style")
    d = lw.find_directions(model, "pca", n_samples=20000)
    ed = lw.LayerwiseEditor(model, d[:6])
    ed.add(0, 2.0, "coarse"); ed.add(3, -1.5, (8, 10))
    ed                                   # display it
    ed.view_mode = "side by side"        # each sample without edits and with the stack
    records = ed.export_edits()          # JSON-able; ed.import_edits(records) restores the stack
    ed.latent, ed.image, ed.edits        # tensors and Edit objects of what is shown

Models without per-layer latents (``num_layers == 1``, e.g. a VAE decoder through ``DecoderModel``)
are edited in z or, with activation-space directions (``space="act:<layer>"``, e.g.
``activation_directions(pca_record)``), at that chosen layer; the layer range is then fixed and the
strip shows the selected edit at several strengths instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import torch
import traitlets as t

from ..directions.layers import layer_groups, resolve_layers
from ..directions.record import Directions
from ..edit import Edit, strengths_grid
from ..export import traversal
from ..models.base import LatentModel
from .base import check_directions, check_model, frame_state
from .directions_view import VIEW_MODES, DirectionsWidget, directions_code
from .esm import css_source, esm_source
from .figures import RowValues, TraversalFigures, row_grid

__all__ = ["LayerwiseEditor", "VIEW_MODES"]

LayerArg = None | str | tuple[int, int] | Sequence[int]

if TYPE_CHECKING:
    from ..export import Figure

#: ``save_html``'s rows when no ranges are given: the whole stack scaled, then each edit swept
WHOLE_STACK = "whole stack"


class LayerwiseEditor(DirectionsWidget, TraversalFigures):
    """A stack of edits along ``directions`` over layer ranges of ``model``, on ``n`` samples from ``seed``.

    Args:
        model: a :class:`~latentwidgets.models.base.LatentModel`.
        directions: a :class:`~latentwidgets.directions.record.Directions` record (z, w or act space).
        seed, n: the samples (``model.sample_z(n, seed)``).
        strength_range: strength slider range in sigma (+-).
        strip: layer ranges shown side by side for the selected edit (default: coarse, middle, fine,
            all); group names or ``(start, end)``.
        encoding: ``"auto"`` | ``"raw"`` | ``"jpeg"`` (see the transport).

    ``.stack`` is a list of ``{"direction": int, "strength": float, "layers": [start, end]}`` (end
    exclusive); ``.selected`` the edit the controls act on. ``.edits`` are the :class:`Edit` objects,
    ``.latent [n, L, D]`` / ``.image [n, 3, H, W]`` the samples with the stack (at ``truncation`` 1,
    ``render_edits(model, ed.z, ed.edits)`` reproduces it), ``.original`` the samples without edits.
    ``.view_mode`` (:data:`VIEW_MODES`) is what the page shows: ``"edited"``, ``"original"`` or
    ``"side by side"``. On a model with a truncation trick, ``.truncation`` (0..1, the page's slider)
    pulls the samples towards the average latent before the edits apply. :meth:`rename` names a
    direction; :meth:`code` gives the Python that makes the view again (the page's "copy code").
    ``on_change(callback)`` runs after every new frame; ``close()`` detaches from the front end.

    On the page: Arrow keys step the strength 0.1 sigma (Shift: 1 sigma); the layer handles move one
    layer per Arrow key (PageUp/PageDown a quarter, Home/End to the ends).
    """

    _esm = esm_source("layerwise.js")
    _css = css_source("layerwise.css")

    stack = frame_state(t.List(t.Dict()))
    selected = frame_state(t.Int(-1))
    strip = frame_state(t.List(t.List(t.Int())))
    controls = t.Dict().tag(sync=True)
    display_size = t.Int(160).tag(sync=True)

    _row_title = "layer range"

    def __init__(self, model: LatentModel, directions: Directions, seed: int = 0, n: int = 1, *,
                 strength_range: float = 3.0, strip: Sequence[LayerArg] | None = None,
                 encoding: str = "auto", display_size: int | None = None, **kwargs: Any):
        check_model(model, "LayerwiseEditor")
        check_directions(model, directions)
        self.model = model
        self.directions = directions
        self._strip_images: torch.Tensor | None = None
        self._strength_range = float(strength_range)
        L = int(model.num_layers)
        self.layered = L > 1 and not directions.space.startswith("act:")
        groups = layer_groups(L)
        if strip is None:
            strip_ranges = [list(groups[g]) for g in ("coarse", "middle", "fine")] + [[0, L]]
        else:  # checked now, not at the first frame
            strip_ranges = [list(resolve_layers(tuple(s) if isinstance(s, list) else s, L) or (0, L)) for s in strip]
        uniq: list[list[int]] = []
        for r in strip_ranges:
            if r not in uniq:
                uniq.append(r)
        controls = {"names": list(directions.names), "num_layers": L, "layered": self.layered,
                    "groups": {k: list(v) for k, v in groups.items()}, "min": -float(strength_range),
                    "max": float(strength_range), "step": 0.05, "space": directions.space,
                    "strip_strengths": [f * float(strength_range) for f in (-1, -0.5, 0, 0.5, 1)]}
        size = display_size if display_size is not None else max(96, min(256, 2 * model.resolution))
        super().__init__(controls=controls, strip=uniq if self.layered else [[0, L]], seed=int(seed), n=int(n),
                         encoding=encoding, display_size=int(size),
                         title=f"layer-wise edits ({directions.method}) on {model.name}", **kwargs)
        self._default_strip = list(self.strip)
        self._refresh()
        self._serve()

    # ------------------------------------------------------------------------------ validation
    def _clean_item(self, item: dict[str, Any]) -> dict[str, Any]:
        """A checked stack item; IndexError / KeyError (no such direction), TypeError or ValueError."""
        direction = item.get("direction", 0)
        if isinstance(direction, bool) or not isinstance(direction, (int, str)):
            raise TypeError(f"an edit's direction is an index or a name of {self.directions.names}; "
                            f"got {direction!r}")
        k = self.directions.index(direction)
        s = item.get("strength", 0.0)
        if isinstance(s, (str, bytes, bool)) or not isinstance(s, (int, float)):
            raise TypeError(f"edit strength must be a number; got {s!r}")
        s = float(s)
        if not math.isfinite(s):
            raise ValueError(f"edit strength must be finite; got {s}")
        L = int(self.model.num_layers)
        layers = item.get("layers")
        rng = list(resolve_layers(tuple(layers) if isinstance(layers, list) else layers, L) or (0, L)) \
            if self.layered else [0, L]
        return {"direction": k, "name": self.directions.names[k], "strength": s, "layers": rng}

    @t.validate("stack")
    def _check_stack(self, proposal: Any) -> list[dict[str, Any]]:
        try:
            return [self._clean_item(dict(it)) for it in proposal["value"]]
        except (IndexError, KeyError, TypeError, ValueError) as exc:
            raise t.TraitError(exc.args[0] if exc.args else str(exc)) from None

    @t.validate("strip")
    def _check_strip(self, proposal: Any) -> list[list[int]]:
        L = int(self.model.num_layers)
        out = []
        for r in proposal["value"]:
            if len(r) != 2:
                raise t.TraitError(f"strip ranges are [start, end] pairs; got {r}")
            try:
                out.append(list(resolve_layers(tuple(r), L) or (0, L)))
            except ValueError as exc:
                raise t.TraitError(str(exc)) from None
        return out

    def _notify(self) -> None:
        """A strength beyond the slider's range (set from Python) widens it once its frame is computed:
        the thumb never sits pinned at an end beside a larger readout (a strength whose compute failed
        was rolled back and widens nothing)."""
        values = [it["strength"] for it in self.stack]
        lo, hi = self.controls["min"], self.controls["max"]
        if values and (min(values) < lo or max(values) > hi):
            self.controls = {**self.controls, "min": min(lo, min(values)), "max": max(hi, max(values))}
        super()._notify()

    # ------------------------------------------------------------------------------ public API
    def add(self, direction: int | str, strength: float = 1.0, layers: LayerArg = None) -> int:
        """Push an edit on the stack (layers: None = all, ``"coarse"|"middle"|"fine"`` or ``(start, end)``)
        and select it; returns its index.

            ed.add("pca 0", 2.0, "coarse")
        """
        item = {"direction": direction, "strength": strength,
                "layers": list(layers) if isinstance(layers, (tuple, list)) else layers}
        self._clean_item(item)  # IndexError / KeyError / TypeError / ValueError before the stack changes
        with self.hold_trait_notifications():
            self.stack = list(self.stack) + [item]
            self.selected = len(self.stack) - 1
        return self.selected

    def remove(self, index: int) -> None:
        """Drop edit ``index`` from the stack."""
        st = list(self.stack)
        if not -len(st) <= index < len(st):
            raise IndexError(f"no edit {index}; the stack has {len(st)}")
        del st[index]
        with self.hold_trait_notifications():
            self.stack = st
            self.selected = min(self.selected, len(st) - 1)

    def set_layers(self, layers: LayerArg, index: int | None = None) -> None:
        """Move edit ``index`` (default: the selected one) to ``layers`` (a preset name or ``(start, end)``)."""
        i = self._index(index)
        st = [dict(x) for x in self.stack]
        st[i]["layers"] = list(layers) if isinstance(layers, (tuple, list)) else layers
        self.stack = st

    def set_strength(self, strength: float, index: int | None = None) -> None:
        """Set edit ``index``'s (default: the selected one) strength in sigma."""
        i = self._index(index)
        st = [dict(x) for x in self.stack]
        st[i]["strength"] = float(strength)
        self.stack = st

    @property
    def edits(self) -> list[Edit]:
        """The stack as :class:`Edit` objects, in order (what ``render_edits`` applies)."""
        return [self._edit(it) for it in self.stack]

    @edits.setter
    def edits(self, value: Sequence[Edit | dict[str, Any]]) -> None:
        self.import_edits(value)

    def export_edits(self) -> list[dict[str, Any]]:
        """The stack as JSON-able records (``Edit.to_record``)."""
        return [e.to_record() for e in self.edits]

    def import_edits(self, records: Sequence[Edit | dict[str, Any]]) -> None:
        """Replace the stack by ``records`` (dicts from ``export_edits``/``Edit.to_record`` or Edits)."""
        items = []
        for r in records:
            e = r if isinstance(r, Edit) else Edit.from_record(dict(r), self.directions)
            if isinstance(e.strength, torch.Tensor) and e.strength.numel() != 1:
                raise ValueError(f"{e.name}: per-sample strengths cannot go on the editor's stack")
            items.append({"direction": e.direction, "strength": float(e.strength), "layers": e.layers})
        with self.hold_trait_notifications():
            self.stack = items
            self.selected = len(items) - 1

    def _renamed(self, k: int) -> None:
        """The page's labels and the stack's names follow a rename (:meth:`DirectionsWidget.rename`; on the
        page: "rename" beside the direction, type, Enter)."""
        self.controls = {**self.controls, "names": list(self.directions.names)}
        self.stack = [dict(it) for it in self.stack]  # (validated again: the items' names follow)

    @property
    def strip_images(self) -> torch.Tensor:
        """The strip ``[R, 3, H, W]``: the selected edit at each strip range (or strength), sample 0."""
        assert self._strip_images is not None
        return self._strip_images.clone()

    # ------------------------------------------------------------------------------ compute
    def _index(self, index: int | None) -> int:
        i = self.selected if index is None else int(index)
        if not 0 <= i < len(self.stack):
            raise IndexError(f"no edit {i} to change; the stack has {len(self.stack)} (use .add first)")
        return i

    def _edit(self, item: dict[str, Any], layers: Sequence[int] | None = None,
              strength: float | None = None) -> Edit:
        rng = layers if layers is not None else item["layers"]
        return Edit(self.directions, int(item["direction"]), float(item["strength"] if strength is None else strength),
                    layers=tuple(rng) if self.layered else None)

    def strip_edits(self) -> list[list[Edit]]:
        """For each strip cell, the stack with the selected edit moved to that range (or strength)."""
        if not self.stack or not 0 <= self.selected < len(self.stack):
            return []
        items = list(self.stack)
        sel = items[self.selected]
        out = []
        cells = self.strip if self.layered else self.controls["strip_strengths"]
        for c in cells:
            e = self._edit(sel, layers=c) if self.layered else self._edit(sel, strength=c)
            out.append([self._edit(it) if i != self.selected else e for i, it in enumerate(items)])
        return out

    def _code_lines(self) -> list[str]:
        """Python that makes this view again in a fresh kernel: the model by name, the directions (their
        ``find_directions`` call, selection and renames), the editor, its stack as records and the
        selected edit and view mode when they are not the defaults."""
        lines = self._model_code_lines()
        lines += directions_code(self.directions, self._picked)
        args = ["model", "d", *self._state_code_args()]
        if self._strength_range != 3.0:
            args.append(f"strength_range={self._strength_range!r}")
        if self.layered and list(self.strip) != self._default_strip:
            args.append(f"strip={[tuple(r) for r in self.strip]!r}")
        lines.append(f"ed = lw.LayerwiseEditor({', '.join(args)})")
        if self.stack:
            records = [{"direction": it["direction"], "name": it["name"], "strength": it["strength"],
                        "layers": it["layers"]} for it in self.stack]
            lines += ["ed.import_edits(["] + [f"    {r!r}," for r in records] + ["])"]
        if self.stack and self.selected != len(self.stack) - 1:
            lines.append(f"ed.selected = {self.selected}")
        if self.view_mode != "edited":
            lines.append(f"ed.view_mode = {self.view_mode!r}")
        lines.append("ed")
        return lines

    def _compute(self) -> None:
        z = self._latents()
        self._latent, self._image = self._render_edits(z, self.edits)
        self._keep_original(z)
        strips = [self._render_edits(z[:1], es)[1][0] for es in self.strip_edits()]
        self._strip_images = torch.stack(strips) if strips else self._image[:0]

    def _frames(self, initial: bool) -> torch.Tensor:
        """The shown samples (edited, without edits, or each pair ``[no edits, stack]`` side by side),
        then the strip."""
        assert self._image is not None and self._strip_images is not None
        return torch.cat([self._shown(self._image), self._strip_images.to(self._image.device)])

    # ------------------------------------------------------------------------------ figures
    def _snapshot_rows(self) -> list[torch.Tensor]:
        """The saved notebook's picture (``snapshot.py``): the shown samples, then the strip below them."""
        frames = self._frames(False)
        k = len(frames) - (0 if self._strip_images is None else len(self._strip_images))
        return [frames[:k], frames[k:]]

    @staticmethod
    def _range_label(r: Sequence[int], groups: dict[str, Any]) -> str:
        """A half-open range as a user reads it, inclusive: ``"fine: layers 8-9"``, ``"layers 2-6"``,
        ``"layer 3"`` (the page's ``rangeLabel``)."""
        layers = f"layer {r[0]}" if r[1] - r[0] == 1 else f"layers {r[0]}-{r[1] - 1}"
        if list(r) == [0, max(v[1] for v in groups.values())]:
            return f"all: {layers}"
        names = [g for g, v in groups.items() if list(v) == list(r)]
        return f"{names[0]}: {layers}" if names else layers

    def _rows(self, ranges: Sequence[LayerArg] | str | None, index: int | None) -> list[tuple[Any, ...]]:
        """Row keys: ``("range", [start, end])`` (the selected or ``index`` edit over that range; ``ranges``
        None: the strip's), or for :data:`WHOLE_STACK` ``("stack",)`` (every edit scaled together) and
        ``("edit", j)`` per edit (its strength swept, the rest of the stack as it is)."""
        if ranges == WHOLE_STACK:
            if not self.stack:
                raise IndexError("the stack is empty: add an edit first (ed.add(direction, strength, layers))")
            return [("stack",)] + [("edit", j) for j in range(len(self.stack))]
        self._index(index)  # (an empty stack: the error names the fix)
        L = int(self.model.num_layers)
        if not self.layered:
            return [("range", [0, L])]
        if ranges is None:
            return [("range", list(r)) for r in self.strip]
        return [("range", list(resolve_layers(tuple(r) if isinstance(r, list) else r, L) or (0, L)))
                for r in ranges]

    def _row_values(self, keys: Sequence[tuple[Any, ...]], strengths: Sequence[float] | None, steps: int,
                    index: int | None) -> list[RowValues]:
        """Strength rows in sigma over the slider's range (or ``strengths``); the whole stack scaled 0..1."""
        sweep = list(strengths) if strengths is not None else \
            row_grid(self.controls["min"], self.controls["max"], steps)
        return [RowValues(strengths_grid(0.0, 1.0, len(sweep)), "\u00d7", "scale") if key[0] == "stack"
                else RowValues(list(sweep)) for key in keys]

    def _traversal(self, keys: Sequence[tuple[Any, ...]], values: Sequence[Sequence[float]],
                   index: int | None) -> tuple[list[str], torch.Tensor, str]:
        groups = self.controls["groups"]
        stack = list(self.stack)
        i = self.selected if index is None else int(index)

        def edits(key: tuple[Any, ...], s: float) -> list[Edit]:
            if key[0] == "stack":
                return [self._edit(it, strength=s * float(it["strength"])) for it in stack]
            if key[0] == "edit":
                return [self._edit(it, strength=s) if j == key[1] else self._edit(it) for j, it in enumerate(stack)]
            return [self._edit(it, layers=key[1], strength=s) if j == i else self._edit(it)
                    for j, it in enumerate(stack)]

        def label(key: tuple[Any, ...]) -> str:
            if key[0] == "stack":
                return "whole stack"
            if key[0] == "edit":
                it = stack[key[1]]
                return f"{self.directions.names[it['direction']]} ({self._range_label(it['layers'], groups)})"
            return self._range_label(key[1], groups)

        grid = traversal(self.model, self._latents(), keys, values, edits, render=self._render_edits)
        title = self.title if keys[0][0] != "range" else f"{self.directions.names[stack[i]['direction']]}: {self.title}"
        return [label(k) for k in keys], grid, title

    def figure(self, ranges: Sequence[LayerArg] | None = None, strengths: Sequence[float] | None = None,
               steps: int = 7, index: int | None = None, title: str | None = None) -> Figure:
        """A :class:`latentwidgets.export.Figure` (shows as a PNG as a cell's last expression): layer range
        (rows; default: the strip's) x strength in sigma (columns; default: the slider's range) of the
        selected (or ``index``) edit, the rest of the stack applied.

            ed.figure()                                              # in a notebook: the picture
            ed.figure(ranges=["coarse", "fine"], strengths=[-2, 0, 2]).savefig("layers.png")
        """
        return self._figure(ranges, strengths, steps, title, index)

    def save_gif(self, path: Any, layers: LayerArg = None, strengths: Sequence[float] | None = None,
                 steps: int = 21, index: int | None = None, duration_ms: int = 80) -> Any:
        """A GIF traversing the selected edit's strength at ``layers`` (default: its own range) over the
        figure's values.

            ed.save_gif("coarse.gif", layers="coarse")
        """
        row = layers if layers is not None else self.stack[self._index(index)]["layers"]
        return self._save_gif(path, row, strengths, steps, duration_ms, index)

    def save_html(self, path: Any, ranges: Sequence[LayerArg] | None = None,
                  strengths: Sequence[float] | None = None, steps: int = 21, index: int | None = None,
                  fmt: str = "jpeg") -> Any:
        """ONE self-contained HTML file (no kernel, no network) of the whole stack: a row with every edit
        scaled together from none (x0) to as stacked (x1), then a row per edit sweeping its strength
        with the others as they are; pick a row, scrub or play. With ``ranges``, rows are the selected
        (or ``index``) edit over those layer ranges instead. Samples are drawn at the widget's
        ``display_size``; the file records the model, seed, version and date.

            ed.save_html("stack.html")
        """
        return self._save_html(path, WHOLE_STACK if ranges is None else ranges, strengths, steps, fmt, index)

    def __repr__(self) -> str:
        groups = self.controls["groups"]
        items = ", ".join(f"{it['name']}@{it['strength']:+.2f}[{self._range_label(it['layers'], groups)}]"
                          for it in self.stack)
        return f"LayerwiseEditor(model={self.model.name!r}, stack=[{items}], seed={self.seed}, n={self.n})"
