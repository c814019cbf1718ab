"""Adapter for any ``nn.Module`` that maps a latent vector to an image (DCGAN generators, VAE
decoders): no mapping network, one latent, activations addressed by module name.

    model = DecoderModel(my_generator, z_dim=100)            # output range guessed from the module
    model = DecoderModel(vae.decoder, z_dim=10, output_range=(0, 1))
    model = DecoderModel(dcgan_netG)     # z_dim and latent_shape (100, 1, 1) read from its first layer
    model.layers()                       # leaf module names, e.g. ['main.0', 'main.1', ...]

``layers=`` may restrict the hookable layers to a list of module names, or rename them with a
``{name: module_path}`` dict (the diffusers and pythae factories use that for their blocks).
"""

from __future__ import annotations

import math
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from .base import LatentModel


class DecoderModel(LatentModel):
    has_mapping = False
    num_layers = 1

    def __init__(self, module: nn.Module, z_dim: Optional[int] = None, name: Optional[str] = None,
                 output_range: Optional[Tuple[float, float]] = None, latent_shape: Optional[Sequence[int]] = None,
                 layers: Optional[Union[Sequence[str], Mapping[str, str]]] = None):
        super().__init__(module)
        self.name = name or type(module).__name__
        if z_dim is None:
            z_dim = getattr(module, "z_dim", None) or getattr(module, "latent_dim", None)
        if z_dim is None and latent_shape is not None:
            z_dim = math.prod(int(v) for v in latent_shape)
        if z_dim is None:
            z_dim, latent_shape = _infer_latent(module)
        if z_dim is None:
            raise ValueError(f"cannot infer the latent size of {type(module).__name__}: pass z_dim=... "
                             "(and latent_shape=... if it takes e.g. [B, z, 1, 1])")
        if latent_shape is None:
            inferred_z, inferred_shape = _infer_latent(module)
            if inferred_z == int(z_dim):
                latent_shape = inferred_shape
        self.z_dim = self.w_dim = int(z_dim)
        self.latent_shape = tuple(int(v) for v in latent_shape) if latent_shape else (self.z_dim,)
        if math.prod(self.latent_shape) != self.z_dim:
            raise ValueError(f"latent_shape {self.latent_shape} does not hold z_dim={self.z_dim} values")
        if layers is None:
            self._layer_paths = None
        elif isinstance(layers, Mapping):
            self._layer_paths = dict(layers)
        else:
            self._layer_paths = {k: k for k in layers}
        named = dict(module.named_modules())
        if self._layer_paths is not None:
            bad = [p for p in self._layer_paths.values() if p not in named]
            if bad:
                raise KeyError(f"{self.name} has no modules {bad}; module names look like "
                               f"{[k for k in named if k][:8]}")
        with torch.no_grad():
            probe = self._raw(torch.zeros(1, self.z_dim, device=self.device))
        if probe.dim() != 4 or probe.shape[1] not in (1, 3):
            raise ValueError(f"{self.name} must map [B, {self.z_dim}] to images [B, 1|3, H, W]; "
                             f"got {tuple(probe.shape)}")
        self.resolution = int(probe.shape[-1])
        if output_range is None:
            output_range = _guess_range(module)
        if output_range is None:
            with torch.no_grad():
                z = torch.randn(4, self.z_dim, generator=torch.Generator().manual_seed(0))
                probe = self._raw(z.to(self.device))
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
        if self._layer_paths is not None:
            return {k: named[p] for k, p in self._layer_paths.items()}
        return {k: m for k, m in named.items() if k and len(list(m.children())) == 0}


def _infer_latent(module: nn.Module) -> Tuple[Optional[int], Optional[Tuple[int, ...]]]:
    """(z_dim, latent_shape) read from the first layer with weights: a Linear reads ``[B, z]``, a
    (transposed) convolution reads ``[B, z, 1, 1]`` (the DCGAN layout)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            return m.in_features, (m.in_features,)
        if isinstance(m, (nn.ConvTranspose2d, nn.Conv2d)):
            return m.in_channels, (m.in_channels, 1, 1)
        if len(list(m.children())) == 0 and any(True for _ in m.parameters(recurse=False)):
            break
    return None, None


def _guess_range(module: nn.Module) -> Optional[Tuple[float, float]]:
    """(-1, 1) when the last leaf module is a Tanh, (0, 1) for a Sigmoid, else None."""
    leaves = [m for m in module.modules() if len(list(m.children())) == 0]
    if leaves and isinstance(leaves[-1], nn.Tanh):
        return (-1.0, 1.0)
    if leaves and isinstance(leaves[-1], nn.Sigmoid):
        return (0.0, 1.0)
    return None
