"""Adapter for any class-conditional ``nn.Module`` generator ``forward(z, labels)`` (conditional
DCGANs, cGAN decoders): how it takes its labels is found by probing, and ``z_dim`` counts z only.

    model = ConditionalDecoderModel(net)                 # labels as indices [B] (an nn.Embedding) or
                                                         # one-hot [B, C]: found by trial calls
    model = ConditionalDecoderModel(net, n_classes=10)   # one-hot concatenated to z: say how many classes
    model.z_dim, model.num_classes                       # 100, 10 (not 110: the label channels are not z)
    model.set_class(3); model.using_classes(labels)      # the class API of every conditional model

``latentwidgets.load(net)`` picks this adapter when ``forward`` needs a second argument, takes an
optional one named like a label (``labels=None``, ``y=None``), or when ``n_classes=`` is given.
Probing: trial calls on two samples, first with class indices (the ``nn.Embedding`` that receives
them gives the number of classes), then with one-hot vectors, for each plausible z width (the first
layer's input, less an embedding's or the labels' width when they are concatenated to z). A module
whose second argument is not a class label gets an error that says so. Mixtures of classes
(``set_class({1: .5, 2: .5})``) reach index-taking modules through their embedding (the mixture of
its rows).
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn

from .base import whole_number
from .conditional import ClassConditional
from .decoder import DecoderModel

_CLASS_COUNT_ATTRS = ("n_classes", "num_classes", "nclasses", "n_class", "num_labels", "c_dim")
_Z_ATTRS = ("z_dim", "latent_dim", "nz")
_LABEL_NAMES = ("y", "c", "cls", "cond", "condition", "target", "targets")
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _label_like(name: str) -> bool:
    low = name.lower()
    return low in _LABEL_NAMES or "label" in low or "class" in low


def label_parameter(module: nn.Module, n_classes_given: bool = False) -> str | None:
    """The name of ``module.forward``'s second argument when the module should be treated as
    conditional: the argument is required, or optional but named like a label (``labels=None``,
    ``y=None``, ``class_idx=None``), or ``n_classes`` was given; else ``None``.

    Example: ``label_parameter(net)  # 'labels' for forward(self, z, labels)``
    """
    try:
        params = list(inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError):
        return None
    positional = [p for p in params if p.kind in _POSITIONAL]
    if len(positional) >= 2 and (positional[1].default is inspect.Parameter.empty or n_classes_given
                                 or _label_like(positional[1].name)):
        return positional[1].name
    if n_classes_given and any(p.kind == inspect.Parameter.VAR_POSITIONAL for p in params):
        return "*args"
    return None


@dataclass
class LabelSpec:
    """How a conditional module takes its labels, as found by :func:`probe_labels`."""

    form: str                              # "index" ([B] LongTensor) or "onehot" ([B, C] float)
    n_classes: int
    z_dim: int
    latent_shape: tuple[int, ...]
    embedding: nn.Embedding | None      # the embedding that reads index labels, when one does


def _first_layer(module: nn.Module) -> tuple[int | None, bool]:
    """(input width, is a convolution) of the first weighted layer that is not an embedding."""
    for m in module.modules():
        if isinstance(m, nn.Embedding):
            continue
        if isinstance(m, nn.Linear):
            return m.in_features, False
        if isinstance(m, (nn.ConvTranspose2d, nn.Conv2d)):
            return m.in_channels, True
    return None, False


def _attr(module: nn.Module, names: Sequence[str]) -> int | None:
    for a in names:
        v = getattr(module, a, None)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v
    return None


def _positive(value: Any, what: str) -> int | None:
    """``value`` (None or a whole number) as an int, refusing numbers below 1."""
    if value is None:
        return None
    value = whole_number(value, what)
    if value <= 0:
        raise ValueError(f"{what} must be a positive number; got {value}")
    return value


def _is_image(out: Any, batch: int) -> bool:
    return isinstance(out, torch.Tensor) and out.dim() == 4 and out.shape[0] == batch and out.shape[1] in (1, 3)


def _device(module: nn.Module) -> torch.device:
    for p in module.parameters():
        return p.device
    return torch.device("cpu")


def _trial(module: nn.Module, z_shape: tuple[int, ...], labels: torch.Tensor,
           embeddings: list[nn.Embedding]) -> tuple[str | None, nn.Embedding | None]:
    """Call ``module`` on two zero latents of ``z_shape`` and ``labels``: (None, the embedding that
    read the labels) when it returns images, else (the reason, None)."""
    seen: list[nn.Embedding] = []
    labels_read = labels.long()

    def hook(m, inp, _out):
        got = inp[0] if inp else None
        if isinstance(got, torch.Tensor) and got.shape == labels.shape and torch.equal(got.long(), labels_read):
            seen.append(m)

    handles = [e.register_forward_hook(hook) for e in embeddings]
    try:
        with torch.no_grad():
            out = module(torch.zeros(labels.shape[0], *z_shape, device=labels.device), labels)
    except Exception as e:  # noqa: BLE001 - a failed trial is an answer, reported if no trial works
        return f"{type(e).__name__}: {str(e).splitlines()[0][:160] if str(e) else ''}", None
    finally:
        for h in handles:
            h.remove()
    if not _is_image(out, labels.shape[0]):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        return f"returned {shape}, not images [B, 1|3, H, W]", None
    return None, (seen[0] if seen else None)


def probe_labels(module: nn.Module, z_dim: int | None = None, n_classes: int | None = None,
                 latent_shape: Sequence[int] | None = None, name: str | None = None) -> LabelSpec:
    """Find how ``module.forward(z, labels)`` takes its labels, how many classes it has and how wide
    z is, by trial calls (see the module docstring). Raises a ``TypeError`` naming the fix when the
    second argument is not a class label or the number of classes cannot be inferred.

    Example: ``spec = probe_labels(net); spec.form, spec.n_classes, spec.z_dim  # 'index', 10, 100``
    """
    name = name or type(module).__name__
    z_dim, n_classes = (_positive(v, f"{name}: {arg}") for arg, v in (("z_dim", z_dim), ("n_classes", n_classes)))
    param = label_parameter(module, n_classes_given=n_classes is not None) or "labels"
    was_training = module.training
    module.eval()
    device = _device(module)
    embeddings = [m for m in module.modules() if isinstance(m, nn.Embedding)]
    width, conv = _first_layer(module)
    n_known = n_classes if n_classes is not None else _attr(module, _CLASS_COUNT_ATTRS)
    z_known = z_dim if z_dim is not None else _attr(module, _Z_ATTRS)

    def shapes(z: int) -> list[tuple[int, ...]]:
        if latent_shape is not None:
            return [tuple(int(v) for v in latent_shape)]
        return [(z,), (z, 1, 1)] if conv else [(z,)]

    def z_candidates(label_width: int | None) -> list[int]:
        if z_known is not None:
            return [z_known]
        out = [] if width is None else [width] + [width - e.embedding_dim for e in embeddings]
        if width is not None and label_width:
            out.append(width - label_width)
        return list(dict.fromkeys(z for z in out if z > 0))

    failures: dict[str, str] = {}
    try:
        # 1. class indices [B]
        index_n = n_known if n_known is not None else (embeddings[0].num_embeddings if embeddings else None)
        labels = torch.tensor([0, max((index_n or 2) - 1, 0)], device=device)
        for z in z_candidates(None):
            for shape in shapes(z):
                err, emb = _trial(module, shape, labels, embeddings)
                if err is None:
                    n = n_known if n_known is not None else (emb.num_embeddings if emb is not None else None)
                    if n is None:
                        raise TypeError(
                            f"{name}.forward(z, {param}) takes class indices, but the number of classes cannot be "
                            f"inferred (no nn.Embedding reads them): pass n_classes=, e.g. "
                            f"latentwidgets.load(module, n_classes=10)")
                    return LabelSpec("index", int(n), z, shape, emb)
                failures.setdefault("class indices [B]", err)
        # 2. one-hot vectors [B, C]
        label_counts = [n_known] if n_known is not None else (
            [width - z_known] if width is not None and z_known is not None and width > z_known else [])
        for c in label_counts:
            onehot = torch.eye(c, device=device)[[0, c - 1]]
            for z in z_candidates(c):
                for shape in shapes(z):
                    err, _ = _trial(module, shape, onehot, embeddings)
                    if err is None:
                        return LabelSpec("onehot", int(c), z, shape, None)
                    failures.setdefault(f"one-hot vectors [B, {c}]", err)
    finally:
        module.train(was_training)
    tried = "; ".join(f"{k}: {v}" for k, v in failures.items()) or "no latent width to try"
    if not label_counts:
        raise TypeError(
            f"{name}.forward(z, {param}) needs a second argument. As class indices [B] it did not run ({tried}); "
            f"one-hot labels [B, C] need the number of classes, which cannot be inferred: pass n_classes= "
            f"(and z_dim= if z and the labels share the first layer), e.g. latentwidgets.load(module, n_classes=10). "
            f"If {param!r} is not a class label, wrap the module in an nn.Module whose forward(z) supplies it.")
    raise TypeError(
        f"{name}.forward(z, {param}) needs a second argument, and neither class indices [B] nor one-hot vectors "
        f"[B, C] make it draw images ({tried}). If {param!r} is not a class label, wrap the module in an "
        f"nn.Module whose forward(z) supplies it; if it is, pass n_classes= and z_dim= (and latent_shape=).")


class ConditionalDecoderModel(ClassConditional, DecoderModel):
    """:class:`DecoderModel` over a class-conditional ``forward(z, labels)`` with the class API of
    :mod:`.conditional` (see the module docstring).

    Example: ``model = ConditionalDecoderModel(net); model.set_class(2); img = model.generate(z)``
    """

    def __init__(self, module: nn.Module, z_dim: int | None = None, n_classes: int | None = None,
                 name: str | None = None, output_range: tuple[float, float] | None = None,
                 latent_shape: Sequence[int] | None = None, layers: Any | None = None,
                 class_label: Any = 0):
        spec = probe_labels(module, z_dim=z_dim, n_classes=n_classes, latent_shape=latent_shape,
                            name=name or type(module).__name__)
        self.label_form = spec.form
        self.num_classes = spec.n_classes
        self._embedding = spec.embedding
        super().__init__(module, z_dim=spec.z_dim, name=name, output_range=output_range,
                         latent_shape=spec.latent_shape, layers=layers)
        self.set_class(class_label)

    def _raw(self, z: torch.Tensor) -> torch.Tensor:
        vectors = self._class_batch(z.shape[0], z.device)
        with self._labels(vectors) as labels:
            return self.module(z.reshape(z.shape[0], *self.latent_shape), labels)

    @contextlib.contextmanager
    def _labels(self, vectors: torch.Tensor) -> Iterator[torch.Tensor]:
        """The module's labels for class vectors ``[B, C]``; a mixture reaches an index-taking module
        as the same mixture of its embedding's rows (a forward hook)."""
        if self.label_form == "onehot":
            yield vectors
            return
        index = vectors.argmax(dim=1)
        if bool((vectors == nn.functional.one_hot(index, self.num_classes).to(vectors)).all()):
            yield index
            return
        if self._embedding is None:
            raise ValueError(f"{self.name} takes class indices and no nn.Embedding reads them, so a mixture of "
                             "classes cannot reach it: set_class to a single class")
        emb = self._embedding

        def mix(_m, _inp, out):
            return (vectors.to(emb.weight) @ emb.weight).to(out.dtype)

        handle = emb.register_forward_hook(mix)
        try:
            yield index
        finally:
            handle.remove()

    def _hook_modules(self) -> dict[str, nn.Module]:
        mods = super()._hook_modules()
        if self._layer_paths is None and self._embedding is not None:  # reads the label, not z
            mods = {k: m for k, m in mods.items() if m is not self._embedding}
        return mods
