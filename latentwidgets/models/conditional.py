"""Class conditioning shared by every conditional adapter (generic ``forward(z, labels)`` modules,
BigGAN, class-conditional NVlabs StyleGANs): one class API.

The class is a setting of the model, not part of the latent: every sample of a batch is drawn with
``model.class_vector`` (a one-hot vector or any mixture of classes), so directions and edits stay in
the latent space while a widget's class picker calls ``set_class``::

    model.num_classes            # 1000 for an ImageNet BigGAN; 0 for unconditional models
    model.set_class(207)         # class index
    model.set_class({1: 0.5, 3: 0.5})   # a mixture of classes
    model.class_index            # 207, or None for a mixture
    model.class_vector           # [num_classes]

To draw each sample of a batch from its own class (fitting directions across classes), condition
the batches synthesised inside a block on one label per sample::

    labels = torch.tensor([0, 3, 3, 7])          # or float vectors [4, num_classes]
    with model.using_classes(labels):
        img = model.generate(model.sample_z(4, seed=0))   # sample b drawn with class labels[b]

Sharing: the current class (``set_class``) belongs to the model object, so two widgets on one model
share it: a class picked in one shows in the other's next frame. A ``using_classes`` block belongs to
the model and to the thread that opened it: frames rendered by other threads keep the current class.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Union

import torch

ClassLabel = Union[int, Sequence[float], torch.Tensor, dict[int, float]]  # noqa: UP007 - a runtime alias on 3.10
ClassLabels = Union[torch.Tensor, Sequence[int], Sequence[Sequence[float]]]  # noqa: UP007


class ClassConditional:
    """Mixin: holds the class vector ``[num_classes]`` and turns it into a batch ``[B, num_classes]``."""

    num_classes: int = 0
    _class_vector: torch.Tensor | None = None

    def _not_conditional(self) -> ValueError:
        return ValueError(f"{getattr(self, 'name', 'this model')} is not class-conditional (num_classes is 0)")

    def _check_index(self, idx: int) -> int:
        n = self.num_classes
        if not 0 <= idx < n:
            raise ValueError(f"class index {idx} out of range: this model has {n} classes (0..{n - 1})")
        return idx

    def set_class(self, label: ClassLabel) -> None:
        """Condition every sample on ``label``: an index, a ``{index: weight}`` dict, or a vector of
        length ``num_classes`` (one-hot or a mixture).

        Example: ``model.set_class(3)``
        """
        n = self.num_classes
        if n <= 0:
            raise self._not_conditional()
        if isinstance(label, bool):
            raise TypeError("class label must be an int index, a dict or a vector, not a bool")
        if isinstance(label, int) or (isinstance(label, torch.Tensor) and label.dim() == 0):
            vec = torch.zeros(n)
            vec[self._check_index(int(label))] = 1.0
        elif isinstance(label, dict):
            vec = torch.zeros(n)
            for k, v in label.items():
                vec[self._check_index(int(k))] = float(v)
        else:
            vec = torch.as_tensor(label, dtype=torch.float32).flatten()
            if vec.numel() != n:
                raise ValueError(f"class vector must have {n} entries (one per class); got {vec.numel()}")
        if not torch.isfinite(vec).all():
            raise ValueError("class vector contains NaN or inf")
        self._class_vector = vec.float()

    @property
    def class_vector(self) -> torch.Tensor:
        """The current class vector ``[num_classes]`` (class 0 until ``set_class`` is called)."""
        if self._class_vector is None:
            self.set_class(0)
        assert self._class_vector is not None
        return self._class_vector

    @property
    def class_index(self) -> int | None:
        """The current class when it is a single one-hot class, else ``None``."""
        v = self.class_vector
        nz = torch.nonzero(v).flatten()
        return int(nz[0]) if nz.numel() == 1 and float(v[nz[0]]) == 1.0 else None

    # ------------------------------------------------------------------ one class per sample
    def _per_sample(self) -> threading.local:
        local = self.__dict__.get("_per_sample_local")
        if local is None:
            local = self.__dict__.setdefault("_per_sample_local", threading.local())
        return local

    def class_batch_labels(self, labels: ClassLabels) -> torch.Tensor:
        """``labels`` (indices ``[B]`` or vectors ``[B, num_classes]``) as checked float vectors
        ``[B, num_classes]``.

        Example: ``model.class_batch_labels(torch.tensor([0, 2]))  # [[1, 0, 0, ...], [0, 0, 1, ...]]``
        """
        n = self.num_classes
        if n <= 0:
            raise self._not_conditional()
        t = labels if isinstance(labels, torch.Tensor) else torch.as_tensor(labels)
        if t.dim() == 1 and not t.is_floating_point() and t.dtype != torch.bool:
            bad = t[(t < 0) | (t >= n)]
            if bad.numel():
                raise ValueError(f"class indices {bad.tolist()[:5]} out of range: this model has {n} classes "
                                 f"(0..{n - 1})")
            return torch.nn.functional.one_hot(t.long().cpu(), n).float()
        if t.dim() == 2 and t.shape[1] == n:
            vec = t.detach().float().cpu()
            if not torch.isfinite(vec).all():
                raise ValueError("class vectors contain NaN or inf")
            return vec
        raise ValueError(f"labels must be class indices (an integer tensor [B]) or class vectors [B, {n}]; "
                         f"got a {t.dtype} tensor of shape {tuple(t.shape)}")

    @contextlib.contextmanager
    def using_classes(self, labels: ClassLabels) -> Iterator[torch.Tensor]:
        """Within the block, sample ``b`` of every batch synthesised is conditioned on ``labels[b]``
        (a LongTensor ``[B]`` of indices or vectors ``[B, num_classes]``); a batch of another size
        raises. Yields the labels as vectors ``[B, num_classes]``. Blocks nest; the current class
        (``set_class``) is untouched. See the module docstring for what threads and widgets share.

        Example::

            with model.using_classes(torch.tensor([0, 1, 2])):
                img = model.generate(model.sample_z(3, seed=0))   # one class per sample
        """
        vectors = self.class_batch_labels(labels)
        local = self._per_sample()
        previous = getattr(local, "labels", None)
        local.labels = vectors
        try:
            yield vectors
        finally:
            local.labels = previous

    def _class_batch(self, batch: int, device: torch.device) -> torch.Tensor:
        """The class vectors ``[batch, num_classes]`` of a batch about to be synthesised."""
        per_sample = getattr(self._per_sample(), "labels", None)
        if per_sample is None:
            return self.class_vector.to(device).unsqueeze(0).expand(batch, -1)
        if per_sample.shape[0] != batch:
            raise ValueError(
                f"{getattr(self, 'name', 'model')}: using_classes holds {per_sample.shape[0]} labels (one per "
                f"sample) but a batch of {batch} was synthesised inside it; synthesise batches of "
                f"{per_sample.shape[0]} there, or open one using_classes block per batch")
        return per_sample.to(device)
