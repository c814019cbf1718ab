"""What every latentwidgets widget shares: frame-server wiring, errors, callbacks, close, state sync.

A widget subclasses :class:`FrameWidget` (or :class:`SampledFrameWidget`, for widgets on ``n``
samples drawn from ``seed``) and writes only its own parts:

- ``_compute()``: recompute ``self._image`` (and ``self._latent``, ...) from the traits;
- ``_frames(initial)``: the images ``[B, 3, H, W]`` a view draws (``initial``: a view just opened);
- ``state()``: the JSON-able state the front end holds;
- ``_front_values(state)``: the trait values ``{name: value}`` a front-end request sets;
- ``_state_traits``: the traits whose change from Python recomputes and pushes a frame.

Then, after its first ``self._refresh()``, ``self._serve()`` starts answering the front end (the
shared ``static/base.js`` is its browser half)::

    class Sketch(SampledFrameWidget):
        _state_traits = ("seed", "n", "gain")
        gain = t.Float(1.0).tag(sync=True)

        def __init__(self, model, **kwargs):
            self.model = model
            super().__init__(**kwargs)
            self._refresh()
            self._serve()

        def _compute(self):
            self._image = self.model.generate(self._latents()) * self.gain

        def _frames(self, initial):
            return self._image

        def state(self):
            return {"seed": self.seed, "gain": self.gain}

        def _front_values(self, state):
            return {"gain": float(state["gain"])} if "gain" in state else {}
"""

from __future__ import annotations

import contextlib
import time
import uuid
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

import anywidget
import torch
import traitlets as t

from ..directions.record import Directions
from ..models.base import LatentModel
from .transport import FORMATS, FrameServer

__all__ = ["FrameWidget", "SampledFrameWidget", "check_directions", "check_encoding"]

ChangeCallback = Callable[[Any], None]


def check_encoding(encoding: str) -> str:
    """``encoding`` if it is a frame format the transport knows, else a ValueError naming them.

        check_encoding("jpeg")   # 'jpeg'
    """
    if encoding not in FORMATS:
        raise ValueError(f"encoding must be one of {FORMATS}; got {encoding!r}")
    return encoding


def check_directions(model: LatentModel, directions: Any) -> Directions:
    """``directions`` if it is a :class:`Directions` record that fits ``model``, else a clear error.

        d = check_directions(model, lw.find_directions(model, "pca"))
    """
    if not isinstance(directions, Directions):
        raise TypeError(f"directions must be a Directions record (from find_directions); got "
                        f"{type(directions).__name__}")
    directions.check(model)
    return directions


class FrameWidget(anywidget.AnyWidget):
    """An anywidget whose views draw frames computed in Python (see the module docstring)."""

    error = t.Unicode("").tag(sync=True)
    encoding = t.Unicode("auto").tag(sync=True)
    display_size = t.Int(192).tag(sync=True)
    title = t.Unicode("").tag(sync=True)
    _uid = t.Unicode("").tag(sync=True)

    #: traits whose change from Python recomputes and pushes a frame to every view
    _state_traits: Tuple[str, ...] = ()

    def __init__(self, *, encoding: str = "auto", **kwargs: Any):
        check_encoding(encoding)
        self._callbacks: List[ChangeCallback] = []
        self._front_depth = 0
        self._image: Optional[torch.Tensor] = None
        self._latent: Optional[torch.Tensor] = None
        self.last_compute_ms = 0.0
        super().__init__(encoding=encoding, _uid=uuid.uuid4().hex, **kwargs)

    # ------------------------------------------------------------------------------ subclass hooks
    def _compute(self) -> None:
        raise NotImplementedError

    def _frames(self, initial: bool) -> torch.Tensor:
        raise NotImplementedError

    def state(self) -> Dict[str, Any]:
        """The widget's state as the front end sees it."""
        raise NotImplementedError

    def _front_values(self, state: Dict[str, Any]) -> Dict[str, Any]:
        raise NotImplementedError

    # ------------------------------------------------------------------------------ public API
    @property
    def latent(self) -> torch.Tensor:
        """The per-layer synthesis latents ``[n, L, D]`` of the shown images."""
        if self._latent is None:
            raise RuntimeError(f"{type(self).__name__} has no latent yet: it is computed on construction")
        return self._latent.clone()

    @property
    def image(self) -> torch.Tensor:
        """The shown images ``[n, 3, H, W]`` in [0, 1]."""
        if self._image is None:
            raise RuntimeError(f"{type(self).__name__} has no image yet: it is computed on construction")
        return self._image.clone()

    def on_change(self, callback: ChangeCallback, remove: bool = False) -> None:
        """Call ``callback(widget)`` after every new frame (whatever changed it: the UI or Python).

            w.on_change(lambda w: print(w.image.mean()))
        """
        if remove:
            if callback in self._callbacks:
                self._callbacks.remove(callback)
        elif callback not in self._callbacks:
            self._callbacks.append(callback)

    def close(self) -> None:
        """Detach from the front end: stop answering frames, drop observers and callbacks."""
        server = getattr(self, "_server", None)
        if server is not None:
            server.close()
            with contextlib.suppress(ValueError):
                self.unobserve(self._on_state_change, names=list(self._state_traits))
            with contextlib.suppress(ValueError):
                self.unobserve(self._on_encoding, names=["encoding"])
        getattr(self, "_callbacks", []).clear()  # (absent when __init__ failed)
        super().close()

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran (or before the widget started serving frames)."""
        server = getattr(self, "_server", None)
        return server is None or server.closed

    # ------------------------------------------------------------------------------ plumbing
    @t.validate("encoding")
    def _check_encoding(self, proposal: Any) -> str:
        try:
            return check_encoding(proposal["value"])
        except ValueError as exc:
            raise t.TraitError(str(exc)) from None

    def _serve(self) -> None:
        """Start answering the front end (call once, after the first :meth:`_refresh`)."""
        self._server = FrameServer(self, self._render_request, encoding=self.encoding, on_error=self._show_error)
        self.observe(self._on_state_change, names=list(self._state_traits))
        self.observe(self._on_encoding, names=["encoding"])

    def _refresh(self) -> None:
        """Run :meth:`_compute` and time it (``last_compute_ms``)."""
        t0 = time.perf_counter()
        self._compute()
        self.last_compute_ms = (time.perf_counter() - t0) * 1e3

    def _notify(self) -> None:
        if self.error:
            self.error = ""
        for cb in list(self._callbacks):
            cb(self)

    def _show_error(self, message: str) -> None:
        self.error = message

    @contextlib.contextmanager
    def _from_front(self) -> Iterator[None]:
        self._front_depth += 1
        try:
            yield
        finally:
            self._front_depth -= 1

    def _render_request(self, state: Optional[Dict[str, Any]]) -> Tuple[torch.Tensor, Dict[str, Any]]:
        """A request from the front end: apply its state, compute once, return the frame to send."""
        if state is None:  # a view asks for the current frame
            return self._frames(True), self.state()
        new = self._front_values(state)
        # the front end knows these values already: lock them so they are not echoed back (one
        # message less per frame), as ipywidgets does for values that arrive from the front end
        lock = getattr(self, "_lock_property", None)
        with self._from_front(), (lock(**new) if lock else contextlib.nullcontext()), self.hold_sync():
            for key, value in new.items():
                setattr(self, key, value)
        self._refresh()
        self._notify()
        return self._frames(False), self.state()

    def _on_state_change(self, change: Dict[str, Any]) -> None:
        if self._front_depth:
            return  # a front-end request computes once after applying all of its values
        try:
            self._refresh()
        except Exception as exc:  # noqa: BLE001 - shown in the widget, then raised to the caller
            self._server.send_error(None, exc)
            raise
        self._server.push(self._frames(False), self.state(), compute_ms=self.last_compute_ms)
        self._notify()

    def _on_encoding(self, change: Dict[str, Any]) -> None:
        self._server.encoding = change["new"]


class SampledFrameWidget(FrameWidget):
    """A :class:`FrameWidget` on ``n`` samples of ``self.model`` drawn from ``seed``."""

    seed = t.Int(0).tag(sync=True)
    n = t.Int(1).tag(sync=True)

    def __init__(self, **kwargs: Any):
        self._z: Optional[torch.Tensor] = None
        self._z_key: Optional[Tuple[int, int]] = None
        super().__init__(**kwargs)

    @property
    def z(self) -> torch.Tensor:
        """The sampled latents ``[n, z_dim]`` (before edits)."""
        return self._latents().clone()

    @t.validate("n")
    def _check_n(self, proposal: Any) -> int:
        if int(proposal["value"]) < 1:
            raise t.TraitError(f"n (samples in the grid) must be >= 1; got {proposal['value']}")
        return int(proposal["value"])

    @t.validate("seed")
    def _check_seed(self, proposal: Any) -> int:
        if int(proposal["value"]) < 0:
            raise t.TraitError(f"seed must be >= 0; got {proposal['value']}")
        return int(proposal["value"])

    def _latents(self) -> torch.Tensor:
        """``model.sample_z(n, seed)``, drawn again only when seed or n changed."""
        key = (int(self.seed), int(self.n))
        if self._z is None or self._z_key != key:
            self._z = self.model.sample_z(key[1], seed=key[0])  # type: ignore[attr-defined]
            self._z_key = key
            self._on_new_samples()
        return self._z

    def _on_new_samples(self) -> None:
        """Hook: the samples changed (drop caches of the old ones)."""

