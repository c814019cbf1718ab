"""Adapter for HF BigGAN-deep (``pytorch_pretrained_biggan.BigGAN``): class-conditional, truncated,
with one latent per block so layer-wise edits work.

BigGAN-deep feeds the same conditioning vector ``cat(z, embed(class))`` to its first linear layer
and to every ``GenBlock``. Here each of them may read its own ``z``: latent 0 goes to the first
linear layer and latent ``i`` (1..) to block ``i - 1``, through forward pre-hooks, so
``num_layers = 1 + number of GenBlocks`` and per-layer latents are ``[B, num_layers, z_dim]``::

    model = BigGANModel(BigGAN.from_pretrained("path/to/biggan-deep-128"), truncation=0.4)
    model.set_class(207)                  # the class picker (see .conditional)
    with model.using_classes(labels):     # or one class per sample, labels [B] or [B, num_classes]
        ...
    z = model.sample_z(4, seed=0)         # truncated normal in [-2, 2] times model.truncation
    img = model.synthesize(z)             # [4, 3, 128, 128] in [0, 1]
    model.layers()                        # ['block0', ..., 'attn']: each GenBlock's output

``truncation`` (0 < t <= 1) is a setting of the model: BigGAN's truncation trick both scales the
sampled noise and picks the batch-norm statistics for that truncation.
"""

from __future__ import annotations

import contextlib
from typing import Any

import torch
import torch.nn as nn

from .base import LatentModel
from .conditional import ClassConditional

_TRUNC_LIMIT = 2.0


def is_biggan(obj: Any) -> bool:
    """True when ``obj`` looks like ``pytorch_pretrained_biggan.BigGAN``."""
    return (isinstance(obj, nn.Module) and hasattr(obj, "embeddings") and hasattr(obj, "generator")
            and hasattr(getattr(obj, "config", None), "channel_width"))


def truncated_normal(z: torch.Tensor, limit: float = _TRUNC_LIMIT) -> torch.Tensor:
    """Map standard normal ``z`` to a normal truncated to ``[-limit, limit]`` by matching quantiles
    (deterministic and elementwise, so seeded latents stay reproducible)."""
    lo = torch.special.ndtr(torch.tensor(-limit, dtype=torch.float64))
    u = torch.special.ndtr(z.double())
    return torch.special.ndtri(lo + u * (1 - 2 * lo)).clamp(-limit, limit).to(z.dtype)


class BigGANModel(ClassConditional, LatentModel):
    """:class:`LatentModel` over a BigGAN-deep (see the module docstring).

    Example: ``model = BigGANModel(BigGAN(BigGANConfig(channel_width=16, num_classes=10)))``
    """

    has_mapping = False

    def __init__(self, net: nn.Module, truncation: float = 1.0, class_label: Any = 0, name: str = "biggan"):
        if not is_biggan(net):
            raise TypeError(f"{type(net).__name__} is not a pytorch_pretrained_biggan BigGAN")
        super().__init__(net)
        self.net = net
        self.name = name
        cfg = net.config
        self.z_dim = self.w_dim = int(cfg.z_dim)
        self.num_classes = int(cfg.num_classes)
        self._blocks = [m for m in net.generator.layers if type(m).__name__ == "GenBlock"]
        self._attn = [m for m in net.generator.layers if type(m).__name__ != "GenBlock"]
        self.num_layers = 1 + len(self._blocks)
        self.resolution = 4 * 2 ** sum(1 for layer in cfg.layers if layer[0])
        self.truncation = truncation
        self.set_class(class_label)

    @property
    def truncation(self) -> float:
        """BigGAN's truncation trick, in (0, 1]: it scales the sampled noise (a normal truncated to [-2, 2]) and
        picks the batch-norm statistics for that truncation. Settable: ``model.truncation = 0.4``."""
        return self._truncation

    @truncation.setter
    def truncation(self, value: float) -> None:
        value = float(value)
        if not 0 < value <= 1:
            raise ValueError(f"BigGAN truncation must be in (0, 1]; got {value}")
        self._truncation = value

    def sample_z(self, n: int, seed: int = 0) -> torch.Tensor:
        """BigGAN's latents: a truncated normal in [-2, 2] times ``self.truncation``, from ``seed``."""
        return truncated_normal(super().sample_z(n, seed)) * self.truncation

    # ------------------------------------------------------------------ synthesis
    def _synthesize(self, latents: torch.Tensor) -> torch.Tensor:
        b = latents.shape[0]
        embed = self.net.embeddings(self._class_batch(b, latents.device))
        cond0 = torch.cat([latents[:, 0], embed], dim=1)
        same = latents.stride(1) == 0 or bool((latents == latents[:, :1]).all())
        with contextlib.ExitStack() as stack:
            if not same:  # per-block latents: swap each block's conditioning vector
                for i, block in enumerate(self._blocks, start=1):
                    cond = torch.cat([latents[:, i], embed], dim=1)

                    def pre(_m, args, cond=cond):
                        return (args[0], cond) + tuple(args[2:])

                    handle = block.register_forward_pre_hook(pre)
                    stack.callback(handle.remove)
            img = self.net.generator(cond0, self.truncation)
        return (img.float() + 1) / 2

    # ------------------------------------------------------------------ layers
    def _hook_modules(self) -> dict[str, nn.Module]:
        out = {f"block{i}": m for i, m in enumerate(self._blocks)}
        out.update({("attn" if i == 0 else f"attn{i}"): m for i, m in enumerate(self._attn)})
        order = {id(m): k for k, m in enumerate(self.net.generator.layers)}
        return dict(sorted(out.items(), key=lambda kv: order[id(kv[1])]))

    def block_resolutions(self) -> list[int]:
        """Output resolution of each GenBlock, in order."""
        res, out = 4, []
        for layer in self.net.config.layers:
            res *= 2 if layer[0] else 1
            out.append(res)
        return out


def load_biggan(folder: str, **options: Any) -> BigGANModel:
    """``BigGAN.from_pretrained(folder)`` (a local folder with ``config.json`` and
    ``pytorch_model.bin``) wrapped in :class:`BigGANModel`; ``options`` go to the adapter.

    Example: ``load_biggan("biggan-deep-128", truncation=0.4)``
    """
    try:
        from pytorch_pretrained_biggan import BigGAN
    except ImportError as e:
        raise ImportError("BigGAN needs pytorch-pretrained-biggan: pip install pytorch-pretrained-biggan==0.1.1 "
                          "scipy boto3") from e
    return BigGANModel(BigGAN.from_pretrained(str(folder)), **options)
