"""Snapshots: a saved notebook keeps a picture of every widget, which GitHub, nbviewer and nbconvert show.

A widget's frames travel as messages, not in the saved widget state, so without this a saved
notebook shows nothing where a widget was. :class:`Snapshots` (mixed into every ``FrameWidget``)
changes how the widget is displayed in an IPython kernel (the last expression of a cell, or
``display(w)``): two outputs instead of one,

1. the widget view, exactly as ipywidgets emits it (that output is never updated: updating it would
   make JupyterLab render the widget a second time);
2. right after it, a display output (with a ``display_id``) holding a PNG of what the widget shows,
   each image drawn ``display_size`` pixels wide as in the widget, and a line of text.

Static renderers have no live widget: nbconvert's HTML exporter skips a widget view whose model has
no saved state, GitHub and nbviewer draw no widgets; all of them show the PNG. In a live JupyterLab
or Notebook 7 page the widget's own stylesheet (``static/base.css``, loaded only where the widget
renders) hides the image output that follows a ``.lw-widget`` view once that view has drawn a frame
from the kernel (``data-frames``), so the frame is not shown twice; where the widget cannot draw
(kernel gone, a page that restored the widget state without a kernel) the picture stays.

The PNG follows the widget (``update_display``) without slowing its frames:

- frames from the page (a drag): one update once the widget has been idle for :data:`IDLE_S`
  seconds (one timer per quiet spell on the kernel's event loop; nothing is encoded per frame);
- changes from Python: the update goes out when the cell ends (IPython's ``post_execute``), so a
  notebook run by nbclient or ``jupyter nbconvert --execute`` saves every widget's final frame.

Front ends that do not display through IPython (marimo) and terminals are untouched::

    ex = lw.DirectionExplorer(model, d)
    ex                          # the widget; below it, hidden while the widget is live, its snapshot
    ex.strengths = [2.0, 0.0]   # (a later cell) the snapshot follows when the cell ends
"""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import time
import uuid
import weakref
from collections.abc import Sequence
from typing import Any

import torch

from .._imaging import to_uint8

__all__ = ["Snapshots", "snapshot_png", "IDLE_S"]

#: seconds without a new frame before the snapshot of a frame from the page is taken
IDLE_S = 0.5
#: widest snapshot, in pixels (the widget's own max-width, static/base.css); rows wrap beyond it
MAX_WIDTH = 1100
#: pixels between images
GAP = 4

log = logging.getLogger(__name__)

#: widgets whose snapshot is behind their frame
_behind: weakref.WeakSet[Snapshots] = weakref.WeakSet()
#: the shells whose post_execute flushes the snapshots (by id)
_hooked: set[int] = set()


def snapshot_png(rows: Sequence[torch.Tensor], width: int, max_width: int = MAX_WIDTH) -> bytes:
    """A PNG of ``rows`` (each ``[B, 3, H, W]`` in [0, 1]) one under the other, every image drawn ``width``
    pixels wide (pixels repeated when enlarged, averaged when reduced), a row wrapping at ``max_width``.

        png = snapshot_png([ex.image], 192)
    """
    from PIL import Image

    lines: list[list[Any]] = []
    for row in rows:
        if row.shape[0] == 0:
            continue
        images = []
        for arr in to_uint8(row):
            im = Image.fromarray(arr.numpy(), "RGB")
            size = (int(width), max(1, round(im.height * width / im.width)))
            images.append(im.resize(size, Image.NEAREST if width >= im.width else Image.BOX))
        per_line = max(1, (max_width + GAP) // (int(width) + GAP))
        lines += [images[i:i + per_line] for i in range(0, len(images), per_line)]
    if not lines:
        raise ValueError("a snapshot needs at least one image")
    w = max(sum(im.width for im in line) + GAP * (len(line) - 1) for line in lines)
    h = sum(max(im.height for im in line) for line in lines) + GAP * (len(lines) - 1)
    canvas = Image.new("RGB", (w, h), "white")
    y = 0
    for line in lines:
        x = 0
        for im in line:
            canvas.paste(im, (x, y))
            x += im.width + GAP
        y += max(im.height for im in line) + GAP
    buf = io.BytesIO()
    canvas.save(buf, "PNG", compress_level=6)
    return buf.getvalue()


def _kernel_shell() -> Any | None:
    """The IPython shell when this runs in a Jupyter kernel (None in a terminal, marimo or a script)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    return shell if shell is not None and getattr(shell, "kernel", None) is not None else None


def _flush_behind() -> None:
    """IPython ``post_execute``: every snapshot behind its widget's frame goes out with the cell."""
    for widget in list(_behind):
        widget._snapshot_flush()


class Snapshots:
    """Mixin of ``FrameWidget``: the snapshot output beside the widget view (module docstring)."""

    #: on-screen width of one image in CSS pixels (a FrameWidget trait)
    display_size: Any
    #: the display id of this widget's snapshot outputs (None until displayed in a kernel)
    _snapshot_id: str | None = None
    _snapshot_loop: asyncio.AbstractEventLoop | None = None
    _snapshot_timer: Any = None
    _snapshot_due = 0.0

    # ------------------------------------------------------------------------------ hooks
    def _snapshot_rows(self) -> list[torch.Tensor]:
        """The images the snapshot shows, as rows ``[B, 3, H, W]`` (default: the images a view draws)."""
        return [self._frames(False)]  # type: ignore[attr-defined]

    def _snapshot_changed(self) -> None:
        """A new frame is shown: the snapshot follows (idle or at the cell's end; nothing if never displayed)."""
        if self._snapshot_id is None:
            return
        _behind.add(self)
        self._snapshot_due = time.monotonic() + IDLE_S
        loop = self._snapshot_loop
        if self._snapshot_timer is None and loop is not None:
            self._snapshot_timer = True  # (armed; the loop sets the timer)
            try:
                loop.call_soon_threadsafe(self._snapshot_wait)
            except RuntimeError:  # the kernel's loop is closed: cell ends still flush
                self._snapshot_timer = None

    # ------------------------------------------------------------------------------ display
    def _ipython_display_(self) -> None:
        from IPython.display import display

        repr_bundle = getattr(self, "_repr_mimebundle_", None)  # (None once ipywidgets closed the widget)
        bundle = repr_bundle() if callable(repr_bundle) else None
        data, metadata = bundle if isinstance(bundle, tuple) else (bundle or {"text/plain": repr(self)}, None)
        display(data, metadata=metadata, raw=True)  # the widget view, as IPython would show it
        shell = _kernel_shell()
        if shell is None or getattr(self, "closed", True):
            return
        if id(shell) not in _hooked:
            shell.events.register("post_execute", _flush_behind)
            _hooked.add(id(shell))
        if self._snapshot_id is None:
            self._snapshot_id = f"lw-snapshot-{uuid.uuid4().hex}"
        try:
            self._snapshot_loop = asyncio.get_running_loop()
        except RuntimeError:
            self._snapshot_loop = None  # (then the snapshot follows at cell ends only)
        display(self._snapshot_bundle(), raw=True, display_id=self._snapshot_id)

    def _snapshot_bundle(self) -> dict[str, str]:
        png = snapshot_png(self._snapshot_rows(), int(self.display_size))
        return {"image/png": base64.b64encode(png).decode("ascii"),
                "text/plain": f"[a picture of the {type(self).__name__} above, kept for saved notebooks]"}

    def _snapshot_wait(self) -> None:
        """On the kernel's loop: wait until the widget has been idle for IDLE_S, then update the snapshot."""
        left = self._snapshot_due - time.monotonic()
        if left > 0 and self._snapshot_loop is not None:
            self._snapshot_timer = self._snapshot_loop.call_later(left, self._snapshot_wait)
            return
        self._snapshot_timer = None
        self._snapshot_flush()

    def _snapshot_flush(self) -> None:
        """Send the current frame to every snapshot output of this widget (if it is behind)."""
        if self not in _behind:
            return
        _behind.discard(self)
        if getattr(self, "closed", True) or self._snapshot_id is None:
            return
        from IPython.display import update_display

        try:
            bundle = self._snapshot_bundle()
        except Exception:  # noqa: BLE001 - a picture for saved notebooks must never break the widget
            log.debug("snapshot of %s failed", type(self).__name__, exc_info=True)
            return
        update_display(bundle, raw=True, display_id=self._snapshot_id)
