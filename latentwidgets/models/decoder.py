"""Adapter for any ``nn.Module`` that maps a latent vector to an image (DCGAN generators, VAE
decoders): no mapping network, one latent, activations addressed by module name.

    model = DecoderModel(my_generator, z_dim=100)            # output range guessed from the module
    model = DecoderModel(vae.decoder, z_dim=10, output_range=(0, 1))
"""

from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from .base import LatentModel


class DecoderModel(LatentModel):
    has_mapping = False
    num_layers = 1

    def __init__(self, module: nn.Module, z_dim: Optional[int] = None, name: Optional[str] = None,
                 output_range: Optional[Tuple[float, float]] = None, latent_shape: Optional[Sequence[int]] = None,
                 layers: Optional[Sequence[str]] = None):
        super().__init__(module)
        self.name = name or type(module).__name__
        if z_dim is None:
            z_dim = getattr(module, "z_dim", None) or getattr(module, "latent_dim", None)
        if z_dim is None:
            raise ValueError(f"cannot infer the latent size of {type(module).__name__}: pass z_dim=...")
        self.z_dim = self.w_dim = int(z_dim)
        self.latent_shape = tuple(latent_shape) if latent_shape else (self.z_dim,)
        self._layer_names = list(layers) if layers else None
        with torch.no_grad():
            probe = self._raw(torch.zeros(1, self.z_dim, device=self.device))
        if probe.dim() != 4 or probe.shape[1] not in (1, 3):
            raise ValueError(f"{self.name} must map [B, {self.z_dim}] to images [B, 1|3, H, W]; got {tuple(probe.shape)}")
        self.resolution = int(probe.shape[-1])
        if output_range is None:
            output_range = (-1.0, 1.0) if float(probe.min()) < -0.05 else (0.0, 1.0)
        self.output_range = tuple(float(v) for v in output_range)

    def _raw(self, z: torch.Tensor) -> torch.Tensor:
        return self.module(z.reshape(z.shape[0], *self.latent_shape))

    def _synthesize(self, latents: torch.Tensor) -> torch.Tensor:
        img = self._raw(latents[:, 0])
        lo, hi = self.output_range
        img = (img - lo) / (hi - lo)
        return img.expand(-1, 3, -1, -1) if img.shape[1] == 1 else img

    def _hook_modules(self) -> Dict[str, nn.Module]:
        named = dict(self.module.named_modules())
        if self._layer_names is not None:
            return {k: named[k] for k in self._layer_names}
        return {k: m for k, m in named.items() if k and len(list(m.children())) == 0}
