"""What the widgets over a ``Directions`` record share (DirectionExplorer, LayerwiseEditor): the view
mode (edited / original / side by side) with its cached originals, renaming a direction from Python
or from the page, the names the directions had when the widget was made, and the Python that makes
the directions again (:func:`directions_code`, for ``code()``).

A subclass sets ``self.model`` and ``self.directions`` before ``super().__init__``, says in
``_renamed(k)`` how its page learns a new name, keeps the originals in ``_compute`` and draws
``_shown(image)`` in ``_frames``::

    class Editor(DirectionsWidget):
        def _compute(self):
            z = self._latents()
            self._latent, self._image = self._render_edits(z, self._edits(z))
            self._keep_original(z)

        def _frames(self, initial):
            return self._shown(self._image)

        def _renamed(self, k):
            self.controls = {**self.controls, "names": list(self.directions.names)}
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from typing import Any

import torch
import traitlets as t

from ..directions import METHODS
from ..directions.record import Directions
from .base import SampledFrameWidget, frame_state

__all__ = ["DirectionsWidget", "VIEW_MODES", "directions_code"]

#: what the page shows: the edited samples, the originals, or each sample's original then edited image
VIEW_MODES = ("edited", "original", "side by side")


class DirectionsWidget(SampledFrameWidget):
    """A :class:`~latentwidgets.widgets.base.SampledFrameWidget` that edits its samples along ``self.directions``."""

    view_mode = frame_state(t.Enum(VIEW_MODES, "edited"))
    directions: Directions

    def __init__(self, **kwargs: Any):
        self._original: torch.Tensor | None = None
        self._picked = list(self.directions.names)  # (for code(): the names the directions had when made)
        self._rename_error = ""
        super().__init__(**kwargs)
        self.on_msg(self._on_page_msg)

    # ------------------------------------------------------------------------------ public API
    @property
    def original(self) -> torch.Tensor:
        """The samples without edits ``[n, 3, H, W]`` (what ``view_mode = "original"`` shows)."""
        if self._original is None:
            with self._model_scope():
                self._original = self._render_edits(self._latents(), [])[1]
        return self._original.clone()

    def rename(self, direction: int | str, name: str) -> None:
        """Rename ``direction`` (index or name) in ``.directions``, the record the widget was given
        (:meth:`Directions.rename`: non-empty, unique): the page's labels follow, and
        ``w.directions.save(path)`` keeps the name. The page renames too (see the widget's docstring).

            ex.rename(0, "pose"); ex.directions.save("runs/pca-named")
        """
        k = self.directions.index(direction)
        self.directions.rename(k, name)
        self._renamed(k)
        self._update_code()  # (no new frame needed: the page's copy-code button learns the name here)

    # ------------------------------------------------------------------------------ subclass hooks
    def _renamed(self, k: int) -> None:
        """Direction ``k`` has a new name in ``self.directions``: update what the page shows."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------ compute
    def _on_new_samples(self) -> None:
        self._original = None

    def _keep_original(self, z: torch.Tensor) -> None:
        """Render the originals of ``z`` now if the view mode shows them and they are not cached."""
        if self.view_mode != "edited" and self._original is None:
            self._original = self._render_edits(z, [])[1]

    def _shown(self, image: torch.Tensor) -> torch.Tensor:
        """The samples the view mode shows: ``image`` (edited), the originals, or pairs [original, edited]."""
        if self.view_mode == "edited":
            return image
        original = self.original.to(image.device)
        if self.view_mode == "original":
            return original
        return torch.stack([original, image], dim=1).flatten(0, 1)

    def _on_page_msg(self, _widget: Any, content: Any, buffers: Sequence[Any]) -> None:
        """``{"type": "lw:rename", "index": k, "name": str}`` from the page: :meth:`rename`; a name it
        refuses shows as the widget's error (the label keeps the old name)."""
        if self.closed or not isinstance(content, dict) or content.get("type") != "lw:rename":
            return
        index: Any = content.get("index")
        name: Any = content.get("name")
        try:
            if isinstance(index, bool) or not isinstance(index, int):
                raise TypeError(f"a rename names the direction by its index; got {index!r}")
            self.rename(index, name)  # (a name that is no string: Directions.rename says so)
        except (IndexError, KeyError, TypeError, ValueError) as exc:
            self.error = self._rename_error = str(exc)
        else:
            if self.error and self.error == self._rename_error:  # (an error of a frame stays)
                self.error = ""


def _literal(value: Any) -> str | None:
    """``repr(value)`` when it reads back as the same Python literal, else None."""
    text = repr(value)
    try:
        return text if ast.literal_eval(text) == value else None
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _save_and_load(what: str) -> list[str]:
    """The lines that stand for a record the code cannot make again: save it here, load it there."""
    return [f"# {what}: save it in this kernel",
            "# (the directions you passed: d.save(\"directions\")) and load it in the new one",
            "d = lw.Directions.load(\"directions\", model)"]


def directions_code(d: Directions, picked: list[str]) -> list[str]:
    """Python lines that make ``d`` again as ``d``. A record saved or loaded (``d.source``) is loaded
    from its file, its directions picked by their names there, then renamed. Otherwise its
    ``find_directions`` call (method and the options the record stores), the directions picked
    (``picked``: their names when the explorer was made), then renames since. A record neither
    saved nor made by ``find_directions`` as it is (another method, or renamed before the widget was
    made) gets a note to save it and load it."""
    if d.source is not None:
        src = d.source
        lines = [f"d = lw.Directions.load({src['path']!r}, model)"]
        if src["names"] != src["all"]:
            lines.append(f"d = d[{src['names']!r}]")
        return lines + [f"d.rename({k}, {new!r})" for k, (old, new) in enumerate(zip(src["names"], d.names,
                                                                                      strict=True)) if old != new]
    if d.method not in METHODS or d.space.startswith("act:"):
        return _save_and_load(f"a {d.method!r} record in {d.space} that find_directions does not make")
    options = dict(d.options)
    if "seed" not in options and d.seed is not None:
        options["seed"] = d.seed
    args, skipped = [repr(d.method)], []
    for key, value in options.items():
        text = _literal(value)
        if text is None:
            skipped.append(key)
        else:
            args.append(f"{key}={text}")
    lines = [f"# options {skipped} are not plain values: pass them as you did"] if skipped else []
    lines.append(f"d = lw.find_directions(model, {', '.join(args)})")
    default = [f"{d.method} {i}" for i in range(len(picked))]
    index = [re.fullmatch(re.escape(d.method) + r" (\d+)", name) for name in picked]
    if picked == default:
        if options.get("n_components") != len(picked):
            lines[-1] += f"[:{len(picked)}]"
    elif all(index):
        lines[-1] += f"[{[int(m.group(1)) for m in index if m]}]"
    else:  # renamed before the widget was made: find_directions names them otherwise
        return _save_and_load("directions renamed before this widget was made (find_directions names them "
                              "otherwise)")
    lines += [f"d.rename({k}, {new!r})" for k, (old, new) in enumerate(zip(picked, d.names, strict=True)) if old != new]
    return lines
