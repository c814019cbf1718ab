"""Figures, GIFs and HTML files of a widget: one traversal grid, three outputs (``latentwidgets.export``).

A widget mixes in :class:`TraversalFigures` and says only how its rows are rendered: ``_traversal(rows,
strengths, index)`` returns the row labels, the grid ``[R, S, 3, H, W]`` (row x strength) and the
figure's title. Its public ``figure`` / ``save_gif`` / ``save_html`` then call ``_figure``,
``_save_gif`` and ``_save_html``::

    class Explorer(SampledFrameWidget, TraversalFigures):
        def _traversal(self, rows, strengths, index):
            ...
            return names, traversal(model, z, rows, strengths, edits_for), self.title

        def figure(self, directions=None, strengths=None, steps=7, title=None):
            return self._figure(directions, strengths, steps, title)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..edit import strengths_grid
from ..export import check_gif_path, figure_grid, save_gif, save_html

__all__ = ["TraversalFigures"]


class TraversalFigures:
    """Mixin: ``figure`` / ``save_gif`` / ``save_html`` plumbing over the widget's ``_traversal``."""

    #: the widget's render scope (``FrameWidget._model_scope``: its model lock and class)
    _model_scope: Any

    #: what the rows are (the figure's y label and the HTML's row picker)
    _row_title = "direction"

    def _traversal(self, rows: Sequence[Any] | None, strengths: Sequence[float],
                   index: int | None) -> tuple[list[str], torch.Tensor, str]:
        """``(row labels, grid [R, S, 3, H, W], title)`` of ``rows`` (None: the widget's default rows)."""
        raise NotImplementedError

    @staticmethod
    def _strengths(strengths: Sequence[float] | None, steps: int) -> list[float]:
        """``strengths``, or ``steps`` of them evenly from -3 to 3 (sigma)."""
        return list(strengths) if strengths is not None else strengths_grid(steps=steps)

    def _figure(self, rows: Sequence[Any] | None, strengths: Sequence[float] | None, steps: int,
                title: str | None, index: int | None = None) -> Any:
        values = self._strengths(strengths, steps)
        with self._model_scope():
            labels, grid, default_title = self._traversal(rows, values, index)
        return figure_grid(grid, labels, values, title=default_title if title is None else title,
                           ylabel=self._row_title)

    def _save_gif(self, path: Any, row: Any, strengths: Sequence[float] | None, steps: int, duration_ms: int,
                  index: int | None = None) -> Path:
        check_gif_path(path)  # before the frames are rendered
        with self._model_scope():
            _, grid, _ = self._traversal([row], self._strengths(strengths, steps), index)
        return save_gif(path, grid[0], duration_ms=duration_ms)

    def _save_html(self, path: Any, rows: Sequence[Any] | None, strengths: Sequence[float] | None, steps: int,
                   fmt: str, index: int | None = None) -> Path:
        values = self._strengths(strengths, steps)
        with self._model_scope():
            labels, grid, title = self._traversal(rows, values, index)
        return save_html(path, grid, labels, values, title=title, row_title=self._row_title, fmt=fmt)
