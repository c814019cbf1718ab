"""Figures, GIFs and HTML files of a widget: one traversal grid, three outputs (``latentwidgets.export``).

A widget mixes in :class:`TraversalFigures` and says how its rows are chosen, valued and rendered:

- ``_rows(rows, index)``: the row keys (``rows`` as the user gave them; None: the widget's default rows);
- ``_row_values(keys, strengths, steps, index)``: each row's :class:`RowValues` (its values, their unit
  and what they are), from the row's own range when ``strengths`` is None (a calibrated direction's
  range in its unit, a sigma grid for sigma directions; :func:`row_grid`);
- ``_traversal(keys, values, index)``: the row labels, the grid ``[R, S, 3, H, W]`` (row x value) and
  the title.

Its public ``figure`` / ``save_gif`` / ``save_html`` then call ``_figure``, ``_save_gif`` and
``_save_html``, which use the same values for all three, draw HTML frames at the widget's
``display_size`` and record the model, seeds, version and date::

    class Explorer(SampledFrameWidget, TraversalFigures):
        def _rows(self, rows, index):
            return list(range(len(self.directions))) if rows is None else list(rows)

        def _row_values(self, keys, strengths, steps, index):
            return [RowValues(row_grid(-3, 3, steps) if strengths is None else list(strengths), "\u03c3")
                    for _ in keys]

        def _traversal(self, keys, values, index):
            return names, traversal(model, z, keys, values, edits_for), self.title

        def figure(self, directions=None, strengths=None, steps=7, title=None):
            return self._figure(directions, strengths, steps, title)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import torch

from ..edit import strengths_grid
from ..export import check_gif_path, figure_grid, save_gif, save_html, value_labels

if TYPE_CHECKING:
    from ..export import Figure

__all__ = ["TraversalFigures", "RowValues", "row_grid"]


class RowValues(NamedTuple):
    """One row's values, their unit (``"\u03c3"``, ``"px"``, ``"\u00d7"`` for a scale, ``""``) and what they
    are (``"strength"``, ``"shift"``, ``"value"``, ``"scale"``)."""

    values: list[float]
    unit: str = "\u03c3"
    quantity: str = "strength"


def row_grid(low: float, high: float, steps: int, *, absolute: bool = False) -> list[float]:
    """``steps`` values over a row's range: symmetric about 0 (a move, 0 in the middle) unless ``absolute``
    (values that are requests, e.g. an attribute controller's: from ``low`` to ``high``).

        row_grid(-0.28, 0.28, 5)          # [-0.28, -0.14, 0.0, 0.14, 0.28]
        row_grid(0.2, 0.8, 3, absolute=True)   # [0.2, 0.5, 0.8]
    """
    if absolute:
        return strengths_grid(low, high, steps)
    half = max(abs(float(low)), abs(float(high))) or 1.0
    return strengths_grid(-half, half, steps)


def _cell_unit(unit: str) -> tuple[str, str]:
    """``(unit under each cell, unit beside the row label)``: a short unit (``"px"``, ``"\u03c3"``; the last
    part of ``"x shift, px"``) goes under the cells, a long one (an attribute's name) beside the row."""
    short = unit.rsplit(", ", 1)[-1]
    return (short, "") if len(short) <= 3 else ("", unit)


def _axis_title(spec: Sequence[RowValues]) -> str:
    """The x title: the quantity and unit all rows share, or a note that each row has its own."""
    kinds = {(s.quantity, s.unit) for s in spec}
    if len(kinds) > 1:
        return "each row in its own unit"
    quantity, unit = next(iter(kinds))
    return f"{quantity} ({unit})" if unit and unit != "\u00d7" else quantity


class TraversalFigures:
    """Mixin: ``figure`` / ``save_gif`` / ``save_html`` plumbing over the widget's rows (module docstring)."""

    #: the widget's render scope (``FrameWidget._model_scope``: its model lock and class)
    _model_scope: Any

    #: what the rows are (the figure's y label and the HTML's row picker)
    _row_title = "direction"

    def _rows(self, rows: Sequence[Any] | None, index: int | None) -> list[Any]:
        """The row keys of ``rows`` (None: the widget's default rows)."""
        raise NotImplementedError

    def _row_values(self, keys: Sequence[Any], strengths: Sequence[float] | None, steps: int,
                    index: int | None) -> list[RowValues]:
        """Each row's values: ``strengths`` (in each row's unit) or ``steps`` of the row's own range."""
        raise NotImplementedError

    def _traversal(self, keys: Sequence[Any], values: Sequence[Sequence[float]],
                   index: int | None) -> tuple[list[str], torch.Tensor, str]:
        """``(row labels, grid [R, S, 3, H, W], title)`` of the rows ``keys`` at their ``values``."""
        raise NotImplementedError

    def _samples(self) -> int:
        """How many samples each frame tiles side by side."""
        return int(getattr(self, "n", 1))

    def _export_meta(self) -> dict[str, Any]:
        """What an exported file records besides the version and date: the model and the samples' seeds."""
        model = getattr(self, "model", None)
        meta: dict[str, Any] = {"model": getattr(model, "name", "?")}
        if hasattr(self, "seed"):
            n = self._samples()
            meta["seeds"] = f"{self.seed} (model.sample_z({n}, seed={self.seed}))"
            meta["samples"] = n
        if int(getattr(self, "num_classes", 0) or 0):
            meta["class"] = int(getattr(self, "class_index", 0))
        directions = getattr(self, "directions", None)
        if directions is not None:
            meta["directions"] = f"{directions.method} in {directions.space}"
        return meta

    def _grid(self, rows: Sequence[Any] | None, strengths: Sequence[float] | None, steps: int,
              index: int | None) -> tuple[list[str], torch.Tensor, str, list[RowValues]]:
        keys = self._rows(rows, index)
        spec = self._row_values(keys, strengths, steps, index)
        with self._model_scope():
            labels, grid, title = self._traversal(keys, [s.values for s in spec], index)
        return labels, grid, title, spec

    def _figure(self, rows: Sequence[Any] | None, strengths: Sequence[float] | None, steps: int,
                title: str | None, index: int | None = None) -> Figure:
        labels, grid, default_title, spec = self._grid(rows, strengths, steps, index)
        units = [_cell_unit(s.unit) for s in spec]
        rows = [f"{lab}\n({beside})" if beside else lab for lab, (_, beside) in zip(labels, units, strict=True)]
        cols = [value_labels(s.values, under) for s, (under, _) in zip(spec, units, strict=True)]
        return figure_grid(grid, rows, cols,
                           title=default_title if title is None else title, xlabel=_axis_title(spec),
                           ylabel=self._row_title, samples=self._samples())

    def _save_gif(self, path: Any, row: Any, strengths: Sequence[float] | None, steps: int, duration_ms: int,
                  index: int | None = None) -> Path:
        check_gif_path(path)  # before the frames are rendered
        _, grid, _, _ = self._grid([row], strengths, steps, index)
        return save_gif(path, grid[0], duration_ms=duration_ms)

    def _save_html(self, path: Any, rows: Sequence[Any] | None, strengths: Sequence[float] | None, steps: int,
                   fmt: str, index: int | None = None) -> Path:
        labels, grid, title, spec = self._grid(rows, strengths, steps, index)
        cols = [value_labels(s.values, s.unit.rsplit(", ", 1)[-1]) for s in spec]  # ("x shift, px": px)
        return save_html(path, grid, labels, cols, title=title,
                         row_title=self._row_title, col_title=_axis_title(spec), fmt=fmt,
                         display_size=int(getattr(self, "display_size", 0)) or None, samples=self._samples(),
                         meta=self._export_meta())
