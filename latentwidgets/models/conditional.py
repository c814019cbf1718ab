"""Class conditioning shared by conditional adapters (BigGAN, class-conditional NVlabs StyleGANs).

The class is a setting of the model, not part of the latent: every sample of a batch is drawn with
``model.class_vector`` (a one-hot vector or any mixture of classes), so directions and edits stay in
the latent space while a widget's class picker calls ``set_class``::

    model.num_classes            # 1000 for an ImageNet BigGAN; 0 for unconditional models
    model.set_class(207)         # class index
    model.set_class({1: 0.5, 3: 0.5})   # a mixture of classes
    model.class_index            # 207, or None for a mixture
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Union

import torch

ClassLabel = Union[int, Sequence[float], torch.Tensor, Dict[int, float]]


class ClassConditional:
    """Mixin: holds the class vector ``[num_classes]`` and turns it into a batch ``[B, num_classes]``."""

    num_classes: int = 0
    _class_vector: Optional[torch.Tensor] = None

    def set_class(self, label: ClassLabel) -> None:
        """Condition every sample on ``label``: an index, a ``{index: weight}`` dict, or a vector of
        length ``num_classes`` (one-hot or a mixture).

        Example: ``model.set_class(3)``
        """
        n = self.num_classes
        if n <= 0:
            raise ValueError(f"{getattr(self, 'name', 'this model')} is not class-conditional")
        if isinstance(label, bool):
            raise TypeError("class label must be an int index, a dict or a vector, not a bool")
        if isinstance(label, int) or (isinstance(label, torch.Tensor) and label.dim() == 0):
            idx = int(label)
            if not 0 <= idx < n:
                raise ValueError(f"class index {idx} out of range: this model has {n} classes (0..{n - 1})")
            vec = torch.zeros(n)
            vec[idx] = 1.0
        elif isinstance(label, dict):
            vec = torch.zeros(n)
            for k, v in label.items():
                if not 0 <= int(k) < n:
                    raise ValueError(f"class index {k} out of range: this model has {n} classes (0..{n - 1})")
                vec[int(k)] = float(v)
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
        return self._class_vector

    @property
    def class_index(self) -> Optional[int]:
        """The current class when it is a single one-hot class, else ``None``."""
        v = self.class_vector
        nz = torch.nonzero(v).flatten()
        return int(nz[0]) if nz.numel() == 1 and float(v[nz[0]]) == 1.0 else None

    def _class_batch(self, batch: int, device: torch.device) -> torch.Tensor:
        return self.class_vector.to(device).unsqueeze(0).expand(batch, -1)
