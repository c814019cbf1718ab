"""What every latentwidgets widget shares: frame-server wiring, frame state, errors, callbacks, close.

A widget subclasses :class:`FrameWidget` (or :class:`SampledFrameWidget`, for widgets on ``n``
samples drawn from ``seed``), declares its frame state once, as traits tagged by :func:`frame_state`
(their trait type and ``@validate`` check every value, from Python or from the page), and writes only:

- ``_compute()``: recompute ``self._image`` (and ``self._latent``, ...) from the traits;
- ``_frames(initial)``: the images ``[B, 3, H, W]`` a view draws (``initial``: a view just opened).

From the tags, :class:`FrameWidget` derives which trait changes recompute and push a frame to every
view, the :meth:`~FrameWidget.state` dict each frame carries, and which fields a front-end request
may set (any other field, or a value its trait refuses, is an error shown in the widget; nothing
is coerced: ``"1234"`` is no list of floats). On a conditional model (``model.num_classes > 0``) the
frame state also holds ``class_index`` (the page's class picker): every frame is drawn with that class
(:meth:`FrameWidget._model_scope`), whatever class the model or another widget has. On a model with
a truncation trick (a mapping network, or a ``truncation`` setting as BigGAN's) the frame state also
holds ``truncation`` (the page's truncation slider; subclasses render samples through
:meth:`FrameWidget._render_edits` or :meth:`FrameWidget._generate`). A compute that
fails rolls its values back (the last good frame stays, the error shows in the widget and, for a
change from Python, is raised). The synced ``_code`` carries :meth:`FrameWidget.code` (the Python that
makes the view again, from the subclass hook ``_code_lines()``) to the page's "copy code" button,
refreshed once the frames rest for :data:`CODE_IDLE_S` (never per frame: a long collage stroke's code
grows with it); ``debug=True`` shows developer timings in the readouts. After its first
``self._refresh()``, ``self._serve()`` starts answering the front end (the shared ``static/base.js``
is its browser half: undo/redo, busy indicator, toolbar, keyboard steps)::

    class Sketch(SampledFrameWidget):
        gain = frame_state(t.Float(1.0))

        def __init__(self, model, **kwargs):
            self.model = model
            super().__init__(**kwargs)
            self._refresh()
            self._serve()

        def _compute(self):
            self._latent, image = self._render_edits(self._latents(), [])   # (with the truncation)
            self._image = image * self.gain

        def _frames(self, initial):
            return self._image

        def _code_lines(self):
            args = ", ".join(self._state_code_args())
            return self._model_code_lines() + [f"Sketch(model, {args}, gain={self.gain!r})"]

    Sketch(model).state()      # {'gain': 1.0, 'n': 1, 'seed': 0, 'truncation': 1.0} on a mapping model;
                               # a request may set gain, seed and truncation
    print(Sketch(model).code())
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import threading
import time
import uuid
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import anywidget
import torch
import traitlets as t

from .. import zoo
from ..directions.record import Directions
from ..edit import Edit, apply_latent_edits, render_edits
from ..models.base import LatentModel
from ..models.faces import NAME as FACES
from .snapshot import Snapshots
from .transport import FORMATS, FrameServer

__all__ = ["FrameWidget", "SampledFrameWidget", "frame_state", "check_model", "check_directions", "check_encoding",
           "model_lock", "has_truncation", "MAX_SEED", "CODE_IDLE_S"]

#: seeds are 0 <= seed <= MAX_SEED (torch's generators take 64-bit seeds; the page's seed box stops there too)
MAX_SEED = 2**63 - 1
#: seconds without a new frame before the page's copy of ``code()`` (the synced ``_code``) is refreshed
CODE_IDLE_S = 0.25

ChangeCallback = Callable[[Any], None]
Trait = TypeVar("Trait", bound=t.TraitType)


def frame_state(trait: Trait, *, sync: bool = True, from_front: bool = True) -> Trait:
    """Tag ``trait`` as frame state of a :class:`FrameWidget`: a change recomputes the frame, every frame
    carries it, and (``from_front``) a front-end request may set it, checked by the trait.

    ``sync=False`` keeps it out of the widget model (it travels only with the frames and requests).
    A value that arrives from the page is not echoed back (``echo_update=False``): the page has it.

        strengths = frame_state(t.List(t.Float()))
        n = frame_state(t.Int(1), from_front=False)     # Python sets it, the page only shows it
    """
    return trait.tag(sync=sync, frame_state=True, from_front=from_front, echo_update=False)



def has_truncation(model: Any) -> bool:
    """True when ``model`` has a truncation trick a widget can offer: a mapping network (w pulled towards
    the average latent) or a ``truncation`` setting of its own (BigGAN's).

        has_truncation(lw.load("sprites-style"))    # True: it has a mapping network
    """
    return bool(getattr(model, "has_mapping", False)) or _own_truncation(model)


def _own_truncation(model: Any) -> bool:
    """True when the model keeps its own ``truncation`` setting (BigGAN: noise scale and batch-norm stats)."""
    return not getattr(model, "has_mapping", False) and isinstance(getattr(model, "truncation", None), (int, float))


def check_encoding(encoding: str) -> str:
    """``encoding`` if it is a frame format the transport knows, else a ValueError naming them.

        check_encoding("jpeg")   # 'jpeg'
    """
    if encoding not in FORMATS:
        raise ValueError(f"encoding must be one of {FORMATS}; got {encoding!r}")
    return encoding


def check_model(model: Any, widget: str) -> LatentModel:
    """``model`` if it is a :class:`LatentModel`, else a TypeError naming the fix (a name string: load it).

        check_model(lw.load("sprites-style"), "DirectionExplorer")
    """
    if isinstance(model, str):
        raise TypeError(f"{widget} takes a loaded model, not its name: model = latentwidgets.load({model!r}); "
                        f"{widget}(model, ...)")
    if not isinstance(model, LatentModel):
        raise TypeError(f"{widget} takes a LatentModel (latentwidgets.load(...)); got {type(model).__name__}")
    return model


_MODEL_LOCKS: weakref.WeakKeyDictionary[LatentModel, threading.RLock] = weakref.WeakKeyDictionary()
_LOCKS_LOCK = threading.Lock()


def model_lock(model: LatentModel) -> threading.RLock:
    """The lock every widget on ``model`` holds while it renders a frame.

    A model's activation offsets (``model.offset``, the hooks of activation-space edits) are forward
    hooks on its modules, seen by every thread that runs them; holding this lock keeps one widget's
    offsets out of another's frames when widgets on one model render from several threads.

        with model_lock(model):
            latent, image = render_edits(model, z, edits)
    """
    with _LOCKS_LOCK:
        lock = _MODEL_LOCKS.get(model)
        if lock is None:
            lock = _MODEL_LOCKS[model] = threading.RLock()
        return lock


def check_directions(model: LatentModel, directions: Any) -> Directions:
    """``directions`` if it is a :class:`Directions` record that fits ``model``, else a clear error.

        d = check_directions(model, lw.find_directions(model, "pca"))
    """
    if not isinstance(directions, Directions):
        raise TypeError(f"directions must be a Directions record (from find_directions); got "
                        f"{type(directions).__name__}")
    directions.check(model)
    return directions


class FrameWidget(Snapshots, anywidget.AnyWidget):
    """An anywidget whose views draw frames computed in Python (see the module docstring)."""

    error = t.Unicode("").tag(sync=True)
    encoding = t.Unicode("auto").tag(sync=True)
    display_size = t.Int(192).tag(sync=True)
    title = t.Unicode("").tag(sync=True)
    _uid = t.Unicode("").tag(sync=True)
    #: the fields of :meth:`state` a front-end request may set (derived from the tags; the page reads it)
    _front_fields = t.List(t.Unicode()).tag(sync=True)
    #: classes of a conditional model (0: unconditional, no class picker)
    num_classes = t.Int(0).tag(sync=True)
    #: the class this widget's frames are drawn with (conditional models only; the page's class picker)
    class_index = frame_state(t.Int(0)).tag(needs_classes=True)
    #: the truncation trick, 0..1 (1: none): w pulled towards the model's average latent, or BigGAN's
    #: own truncation; frame state only on a model that has one (:func:`has_truncation`)
    truncation = frame_state(t.Float(1.0)).tag(needs_truncation=True)
    #: True: the page's readouts show developer timings (frame and model ms, frame size and format)
    debug = t.Bool(False).tag(sync=True)
    #: :meth:`code` of the current view, refreshed after each frame (the page's "copy code" button)
    _code = t.Unicode("").tag(sync=True)

    def __init__(self, *, encoding: str = "auto", **kwargs: Any):
        check_encoding(encoding)
        self._callbacks: list[ChangeCallback] = []
        self._front_depth = 0
        self._image: torch.Tensor | None = None
        self._latent: torch.Tensor | None = None
        self.last_compute_ms = 0.0
        self._code_timer: asyncio.TimerHandle | None = None
        self._code_loop: asyncio.AbstractEventLoop | None = None
        self._code_due = 0.0
        model = getattr(self, "model", None)
        classes = int(getattr(model, "num_classes", 0) or 0)
        truncation = has_truncation(model)
        #: the frame state of this widget: the tagged traits (``class_index`` only on a conditional model,
        #: ``truncation`` only on a model with a truncation trick)
        self._state_names = [name for name, tr in self.frame_state_traits().items()
                             if (classes > 0 or not tr.metadata.get("needs_classes", False))
                             and (truncation or not tr.metadata.get("needs_truncation", False))]
        front = [name for name in self._state_names if self.traits()[name].metadata.get("from_front", True)]
        if classes > 0:
            current = self.model.class_index  # type: ignore[attr-defined]
            kwargs.setdefault("class_index", 0 if current is None else int(current))
        if _own_truncation(model):  # BigGAN: the model's setting is where the widget starts
            kwargs.setdefault("truncation", float(model.truncation))  # type: ignore[union-attr]
        super().__init__(encoding=encoding, _uid=uuid.uuid4().hex, _front_fields=front, num_classes=classes,
                         **kwargs)

    @classmethod
    def frame_state_traits(cls) -> dict[str, t.TraitType]:
        """The traits tagged by :func:`frame_state`, by name (sorted)."""
        return dict(sorted(cls.class_traits(frame_state=True).items()))

    # ------------------------------------------------------------------------------ subclass hooks
    def _compute(self) -> None:
        raise NotImplementedError

    def _frames(self, initial: bool) -> torch.Tensor:
        raise NotImplementedError

    def _code_lines(self) -> list[str]:
        """The lines of :meth:`code` (a widget that cannot say how to make itself again raises
        NotImplementedError: its page shows no "copy code" button)."""
        raise NotImplementedError(f"{type(self).__name__} cannot write its code")

    # ------------------------------------------------------------------------------ public API
    def code(self) -> str:
        """Python that makes this view again in a fresh kernel (the model by name, the directions, the
        widget and its current values): what the page's "copy code" button puts on the clipboard.

            print(ex.code())      # import latentwidgets as lw / model = lw.load(...) / ... / ex
        """
        return "\n".join(self._code_lines()) + "\n"

    def _model_code_lines(self) -> list[str]:
        """The first lines of a :meth:`code`: ``import latentwidgets as lw`` and ``model = lw.load(name)`` for a
        model latentwidgets loads by name (the zoo's, ``"dcgan-faces"``); for any other model a comment
        saying to load it as ``model`` (its file or object is not known here).

            lines = self._model_code_lines() + ["ex = lw.DirectionExplorer(model, d)", "ex"]
        """
        name = str(getattr(getattr(self, "model", None), "name", "model"))
        if name in zoo.generative() or name == FACES:
            return ["import latentwidgets as lw", f"model = lw.load({name!r})"]
        return ["import latentwidgets as lw",
                f"# {name!r} is not a model latentwidgets loads by name: load it as you did here, as `model`"]

    def _state_code_args(self) -> list[str]:
        """Keyword arguments (``"seed=3"``, ...) that make the frame state this base class keeps again:
        ``seed`` and ``n`` (sampled widgets, ``n`` when not 1), ``class_index`` (conditional models) and
        ``truncation`` (when not 1), for a subclass's :meth:`_code_lines`.

            f"lw.DirectionExplorer(model, d, {', '.join(self._state_code_args())})"
        """
        args = []
        if "seed" in self._state_names:
            args.append(f"seed={int(self.seed)}")  # type: ignore[attr-defined]
        if "n" in self._state_names and int(self.n) != 1:  # type: ignore[attr-defined]
            args.append(f"n={int(self.n)}")  # type: ignore[attr-defined]
        if "class_index" in self._state_names:
            args.append(f"class_index={int(self.class_index)}")
        if "truncation" in self._state_names and float(self.truncation) != 1.0:
            args.append(f"truncation={float(self.truncation)!r}")
        return args

    def state(self) -> dict[str, Any]:
        """The frame state as the front end sees it (a copy): every :func:`frame_state` trait, by name."""
        return {name: copy.deepcopy(getattr(self, name)) for name in self._state_names}

    def _sent_state(self) -> dict[str, Any]:
        """:meth:`state` without the copy, for a frame that is encoded at once (trait values are replaced,
        never changed in place, so no copy is needed; copying a long stroke would cost every frame)."""
        return {name: getattr(self, name) for name in self._state_names}

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
                self.unobserve(self._on_state_change, names=list(self._state_names))
            with contextlib.suppress(ValueError):
                self.unobserve(self._on_encoding, names=["encoding"])
        getattr(self, "_callbacks", []).clear()  # (absent when __init__ failed)
        if getattr(self, "_code_timer", None) is not None:
            self._code_timer.cancel()  # type: ignore[union-attr]
            self._code_timer = None
        super().close()
        if server is not None:  # its frames would go stale: refuse new state (the value is not applied)
            self._register_validator(FrameWidget._refuse_closed, tuple(self._state_names))

    def _refuse_closed(self, proposal: Any) -> Any:
        raise RuntimeError(f"this {type(self).__name__} is closed: it no longer computes frames, so "
                           f"{proposal['trait'].name} cannot change; make a new widget")

    def refresh(self) -> None:
        """Recompute and send the frame (e.g. after the model changed in place); errors show in the
        widget and are raised.

            model.set_class(2); ex.refresh()
        """
        if self.closed:
            raise RuntimeError(f"this {type(self).__name__} is closed: make a new widget")
        self._on_state_change({})

    @property
    def closed(self) -> bool:
        """True once :meth:`close` ran (or before the widget started serving frames)."""
        server = getattr(self, "_server", None)
        return server is None or server.closed

    # ------------------------------------------------------------------------------ plumbing
    @t.validate("class_index")
    def _check_class_index(self, proposal: Any) -> int:
        value, n = int(proposal["value"]), int(self.num_classes)
        if n and not 0 <= value < n:
            raise t.TraitError(f"class_index must be a class of the model, 0..{n - 1}; got {value}")
        return value

    @t.validate("truncation")
    def _check_truncation(self, proposal: Any) -> float:
        value = float(proposal["value"])
        model = getattr(self, "model", None)
        if not has_truncation(model):
            raise t.TraitError(f"{getattr(model, 'name', 'this model')} has no truncation trick (no mapping network, "
                               "no truncation setting): truncation stays 1")
        own = _own_truncation(model)
        if not (0 < value <= 1 if own else 0 <= value <= 1):
            raise t.TraitError(f"truncation must be in {'(0, 1]' if own else '[0, 1]'} (1: no truncation); "
                               f"got {proposal['value']}")
        return value

    @t.validate("encoding")
    def _check_encoding(self, proposal: Any) -> str:
        try:
            return check_encoding(proposal["value"])
        except ValueError as exc:
            raise t.TraitError(str(exc)) from None

    def _serve(self) -> None:
        """Start answering the front end (call once, after the first :meth:`_refresh`)."""
        self._server = FrameServer(self, self._render_request, encoding=self.encoding, on_error=self._show_error)
        self.observe(self._on_state_change, names=list(self._state_names))
        self.observe(self._on_encoding, names=["encoding"])
        self._update_code()

    @contextlib.contextmanager
    def _model_scope(self) -> Iterator[None]:
        """Hold :func:`model_lock` and, on a conditional model, condition on this widget's ``class_index``;
        on a model with its own truncation setting (BigGAN), set it to this widget's (the model's own class
        and truncation are put back after): every frame and figure renders inside it."""
        with self._class_scope(), self._truncation_scope():
            yield

    @contextlib.contextmanager
    def _class_scope(self) -> Iterator[None]:
        """Hold :func:`model_lock` and, on a conditional model, set its class to this widget's ``class_index``."""
        model = getattr(self, "model", None)
        if model is None:
            yield
            return
        with model_lock(model):
            if not self.num_classes:
                yield
                return
            previous = model.class_vector.clone()
            model.set_class(int(self.class_index))
            try:
                yield
            finally:
                model.set_class(previous)

    @contextlib.contextmanager
    def _truncation_scope(self) -> Iterator[None]:
        """On a model with its own ``truncation`` setting (BigGAN), hold :func:`model_lock` and set it to
        this widget's (the model's own is put back after); elsewhere nothing."""
        model = getattr(self, "model", None)
        if not _own_truncation(model) or "truncation" not in self._state_names:
            yield
            return
        with model_lock(model):  # type: ignore[arg-type]
            previous = model.truncation  # type: ignore[union-attr]
            model.truncation = float(self.truncation)  # type: ignore[union-attr]
            try:
                yield
            finally:
                model.truncation = previous  # type: ignore[union-attr]

    def _synthesis(self, z: torch.Tensor) -> torch.Tensor:
        """The per-layer synthesis latents ``[n, L, D]`` of ``z`` with this widget's truncation applied
        (w pulled towards the average latent on a model with a mapping network; as is elsewhere, where
        BigGAN's truncation acts in its generator): what ``render_edits(model, z, edits, ws=...)`` takes
        when no edit is in z space (:meth:`_render_edits` handles those too).

            ws, images = render_edits(self.model, z, edits, ws=self._synthesis(z))
        """
        model = self.model  # type: ignore[attr-defined]
        return model.broadcast(model.to_synthesis(z.to(model.device).float(), self._w_truncation()))

    def _w_truncation(self) -> float:
        """The truncation this widget applies to w: its ``truncation`` on a model with a mapping network,
        1 elsewhere (no truncation trick; or BigGAN's, which acts in its generator: :meth:`_model_scope`)."""
        if "truncation" not in self._state_names or not self.model.has_mapping:  # type: ignore[attr-defined]
            return 1.0
        return float(self.truncation)

    def _generate(self, z: torch.Tensor) -> torch.Tensor:
        """Images ``[n, 3, H, W]`` of the samples ``z`` with this widget's truncation, no edits:
        ``model.generate(z)`` itself at truncation 1. Call it inside :meth:`_model_scope` (BigGAN's
        truncation is set there).

            with self._model_scope():
                images = self._generate(self.model.sample_z(1, seed=s))
        """
        return self.model.generate(z, truncation=self._w_truncation())  # type: ignore[attr-defined]

    def _render_edits(self, z: torch.Tensor, edits: Sequence[Edit]) -> tuple[torch.Tensor, torch.Tensor]:
        """``render_edits(model, z, edits)`` with this widget's truncation: z-space edits move z, the
        mapped latents are truncated, then the other edits apply (as GANSpace does). Call it inside
        :meth:`_model_scope` (``_compute`` runs there). With no truncation it is ``render_edits`` itself.

            self._latent, self._image = self._render_edits(self._latents(), self.edits)
        """
        model = self.model  # type: ignore[attr-defined]
        psi = self._w_truncation()
        if psi == 1.0:
            return render_edits(model, z, edits)
        z_edits = [e for e in edits if e.space == "z"]
        rest = [e for e in edits if e.space != "z"]
        ws = model.truncate(apply_latent_edits(model, z, z_edits), psi) if z_edits else self._synthesis(z)
        return render_edits(model, z, rest, ws=ws)

    def _refresh(self) -> None:
        """Run :meth:`_compute` (in :meth:`_model_scope`) and time it (``last_compute_ms``)."""
        t0 = time.perf_counter()
        with self._model_scope():
            self._compute()
        self.last_compute_ms = (time.perf_counter() - t0) * 1e3

    def _notify(self) -> None:
        if self.error:
            self.error = ""
        self._code_changed()
        self._snapshot_changed()  # the picture a saved notebook keeps follows (snapshot.py)
        for cb in list(self._callbacks):
            cb(self)

    def _code_changed(self) -> None:
        """A new frame: refresh ``_code`` once the frames rest for CODE_IDLE_S, on the kernel's event loop
        (frames from the page and cells run there). Without a running loop (a script) nothing is sent: no
        page is listening, and :meth:`code` is always current."""
        self._code_due = time.monotonic() + CODE_IDLE_S
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._code_timer is not None and self._code_loop is loop:
            return  # (armed: it waits on while frames keep coming)
        self._code_loop = loop
        self._code_timer = loop.call_later(CODE_IDLE_S, self._code_wait)

    def _code_wait(self) -> None:
        left = self._code_due - time.monotonic()
        if left > 0 and self._code_loop is not None:
            self._code_timer = self._code_loop.call_later(left, self._code_wait)
            return
        self._code_timer = None
        if not self.closed:
            self._update_code()

    def _update_code(self) -> None:
        """Refresh the synced ``_code`` (empty when the widget cannot write its code)."""
        try:
            text = self.code()
        except NotImplementedError:
            text = ""
        if text != self._code:
            self._code = text

    def _show_error(self, message: str) -> None:
        self.error = message

    @contextlib.contextmanager
    def _from_front(self) -> Iterator[None]:
        self._front_depth += 1
        try:
            yield
        finally:
            self._front_depth -= 1

    def _set_from_front(self, state: Any) -> None:
        """Apply a front-end request's fields, each checked by its trait (nothing is coerced).

        Synced traits go through ipywidgets' ``set_state`` (its entry for values from the page: all
        or none are set, and with ``echo_update=False`` nothing is echoed back); the others are set
        together under ``hold_trait_notifications`` (all or none, too).
        """
        if not isinstance(state, dict):
            raise TypeError(f"a frame request's state must be a dict of {self._front_fields}; "
                            f"got {type(state).__name__}")
        unknown = sorted(set(state) - set(self._front_fields))
        if unknown:
            raise ValueError(f"a frame request may set only {self._front_fields}; got {unknown}")
        synced = {k: v for k, v in state.items() if k in self.keys}
        with self._from_front(), self.hold_sync():
            with self.hold_trait_notifications():
                for key, value in state.items():
                    if key not in synced:
                        setattr(self, key, value)
            self.set_state(synced)

    def _render_request(self, state: dict[str, Any] | None) -> tuple[torch.Tensor, dict[str, Any]]:
        """A request from the front end: apply its state, compute once, return the frame to send."""
        if state is None:  # a view asks for the current frame
            return self._frames(True), self._sent_state()
        before = {k: getattr(self, k) for k in state if k in self._state_names}  # (values are replaced, not mutated)
        self._set_from_front(state)
        try:
            self._refresh()
        except Exception:
            self._roll_back(before)  # the page's next good request starts from here
            raise
        self._notify()
        return self._frames(False), self._sent_state()

    def _roll_back(self, old: dict[str, Any]) -> None:
        """Put frame-state values back after a failed compute (without recomputing per value), then
        recompute the last good frame's caches; the failure stays the error shown."""
        self._front_depth += 1  # (the observers skip while it is set)
        try:
            with self.hold_trait_notifications():
                for name, value in old.items():
                    self.set_trait(name, value)
        finally:
            self._front_depth -= 1
        with contextlib.suppress(Exception):
            self._refresh()

    def _on_state_change(self, change: dict[str, Any]) -> None:
        if self._front_depth:
            return  # a front-end request computes once after applying all of its values
        try:
            self._refresh()
        except Exception as exc:  # noqa: BLE001 - rolled back, shown in the widget, then raised to the caller
            if "name" in change:
                self._roll_back({change["name"]: change["old"]})
            self._server.send_error(None, exc)
            raise
        self._server.push(self._frames(False), self._sent_state(), compute_ms=self.last_compute_ms)
        self._notify()

    def _on_encoding(self, change: dict[str, Any]) -> None:
        self._server.encoding = change["new"]


class SampledFrameWidget(FrameWidget):
    """A :class:`FrameWidget` on ``n`` samples of ``self.model`` drawn from ``seed``."""

    seed = frame_state(t.Int(0))
    n = frame_state(t.Int(1), from_front=False)

    def __init__(self, **kwargs: Any):
        self._z: torch.Tensor | None = None
        self._z_key: tuple[int, int, int, float] | None = None
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
        if not 0 <= int(proposal["value"]) <= MAX_SEED:
            raise t.TraitError(f"seed must be a whole number from 0 to 2**63 - 1; got {proposal['value']}")
        return int(proposal["value"])

    def _latents(self) -> torch.Tensor:
        """``model.sample_z(n, seed)``, drawn again only when seed, n, the class or the truncation changed."""
        # (a new class or truncation: the caches of images go too)
        key = (int(self.seed), int(self.n), int(self.class_index), float(self.truncation))
        if self._z is None or self._z_key != key:
            with self._truncation_scope():  # (BigGAN scales its samples by its truncation)
                self._z = self.model.sample_z(key[1], seed=key[0])  # type: ignore[attr-defined]
            self._z_key = key
            self._on_new_samples()
        return self._z

    def _on_new_samples(self) -> None:
        """Hook: the samples changed (drop caches of the old ones)."""

