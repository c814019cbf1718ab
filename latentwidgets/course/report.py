"""How a grade shows itself: a one-line verdict, a table of checks against thresholds, a strip of images.

:class:`Grade` is what :func:`~latentwidgets.course.grade` and :func:`~latentwidgets.course.grade_edit`
return. In a notebook it displays as a small HTML table (each check: measured value, threshold, pass)
above a strip of images (data-URL PNGs, so a saved notebook shows it without a kernel)::

    g = grade(d, 3, "hue")
    g.passed, g.scores["leak"], str(g)        # True, 0.12, 'PASS: ...'
    g.figure()                                 # the same strip as a matplotlib figure
"""

from __future__ import annotations

import base64
import html
import io
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch


@dataclass
class Check:
    """One thresholded measurement: ``value`` must be ``op`` (">=" or "<=") ``threshold``."""
    name: str
    value: float
    op: str
    threshold: float
    meaning: str

    @property
    def ok(self) -> bool:
        """Whether ``value`` meets the threshold."""
        return self.value >= self.threshold if self.op == ">=" else self.value <= self.threshold


@dataclass
class Grade:
    """A graded answer: ``passed``, ``scores`` (name -> float), ``checks`` and a strip of images.

    ``images`` is ``[rows, cols, 3, H, W]`` in [0, 1], labelled by ``row_labels`` and ``col_labels``.
    """
    title: str
    checks: list[Check]
    scores: dict[str, float]
    images: torch.Tensor
    row_labels: Sequence[str] = ()
    col_labels: Sequence[str] = ()
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Whether every check is ``ok``."""
        return all(c.ok for c in self.checks)

    @property
    def verdict(self) -> str:
        """One line: PASS or FAIL, what was graded, and the checks that failed."""
        failed = [f"{c.name} {c.value:.3g} (needs {c.op} {c.threshold:g})" for c in self.checks if not c.ok]
        if not failed:
            return f"PASS: {self.title}"
        return f"FAIL: {self.title}; " + "; ".join(failed)

    def __str__(self) -> str:
        return self.verdict

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.verdict}>"

    # ------------------------------------------------------------------------------ images
    def _grid(self) -> torch.Tensor:
        r, c, ch, h, w = self.images.shape
        pad = torch.ones(r, c, ch, h + 2, w + 2)
        pad[..., 1:-1, 1:-1] = self.images.clamp(0, 1)
        return pad.permute(0, 3, 1, 4, 2).reshape(r * (h + 2), c * (w + 2), ch)

    def _repr_png_(self) -> bytes:
        from PIL import Image
        buf = io.BytesIO()
        Image.fromarray((self._grid() * 255).round().byte().numpy()).save(buf, format="PNG")
        return buf.getvalue()

    def figure(self):  # noqa: ANN201 - a latentwidgets.export.Figure (matplotlib, imported lazily)
        """The image strip as a figure (shows inline as the last expression of a cell, pyplot or not),
        labelled, with the verdict as its title."""
        from ..export import new_figure

        r, c, _, h, w = self.images.shape
        width = min(7.5, 1.1 * c + 1.2)  # a notebook column; wider strips shrink
        fig = new_figure(figsize=(width, (width - 1.2) / c * r + 0.8))
        ax = fig.add_subplot()
        ax.imshow(self._grid().numpy())
        ax.set_xticks([(j + 0.5) * (w + 2) for j in range(c)], list(self.col_labels) or [""] * c, fontsize=9)
        ax.set_yticks([(i + 0.5) * (h + 2) for i in range(r)], list(self.row_labels) or [""] * r, fontsize=9)
        head = ("PASS" if self.passed else "FAIL") + ": " + self.title
        ax.set_title(textwrap.fill(head, int(11 * fig.get_figwidth())), fontsize=10)
        fig.tight_layout()
        return fig

    def _repr_html_(self) -> str:
        colour = "#1a7f37" if self.passed else "#cf222e"
        rows = "".join(
            f"<tr><td>{html.escape(c.name)}</td><td>{c.value:.3g}</td><td>{c.op} {c.threshold:g}</td>"
            f"<td style='color:{'#1a7f37' if c.ok else '#cf222e'}'>{'pass' if c.ok else 'FAIL'}</td>"
            f"<td style='text-align:left'>{html.escape(c.meaning)}</td></tr>" for c in self.checks)
        png = base64.b64encode(self._repr_png_()).decode("ascii")
        labels = html.escape(" | ".join(self.col_labels))
        notes = "".join(f"<div style='font-size:85%'>{html.escape(n)}</div>" for n in self.notes)
        return (f"<div class='lw-grade'><div style='font-weight:bold;color:{colour}'>{html.escape(self.verdict)}</div>"
                f"<table style='font-size:85%'><tr><th>check</th><th>measured</th><th>threshold</th><th></th>"
                f"<th style='text-align:left'>what it measures</th></tr>{rows}</table>{notes}"
                f"<div style='font-size:80%'>rows: {html.escape(', '.join(self.row_labels))}; columns: {labels}</div>"
                f"<img src='data:image/png;base64,{png}' style='image-rendering:pixelated;width:"
                f"{min(900, 2 * self.images.shape[1] * (self.images.shape[-1] + 2))}px'/></div>")
