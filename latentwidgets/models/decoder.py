"""Adapter for any ``nn.Module`` that maps a latent vector to an image (DCGAN generators, VAE
decoders): no mapping network, one latent, activations addressed by module name.

    model = DecoderModel(my_generator, z_dim=100)            # output range guessed from the module
    model = DecoderModel(vae.decoder, z_dim=10, output_range=(0, 1))
    model = DecoderModel(dcgan_netG)     # z_dim and latent_shape (100, 1, 1) read from its first layer
    model.layers()                       # leaf module names, e.g. ['main.0', 'main.1', ...]

``layers=`` may restrict the hookable layers to a list of module names, or rename them with a
``{name: module_path}`` dict (the diffusers and pythae factories use that for their blocks).

The output range, when not given, follows a stated rule: a last Tanh means [-1, 1], a last Sigmoid
[0, 1]; otherwise a probe batch (4 seeded latents) decides: within [-0.05, 1.1] it is [0, 1], within
[-1.2, 1.2] (going below -0.05) it is [-1, 1], within [-0.05, 280] (going above 1.1) it is [0, 255];
anything else is refused with the probe's span, asking for ``output_range=``. The probe also checks
at load that the module returns one image tensor per latent with finite pixels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
import torch.nn as nn

from .base import LatentModel, whole_number


class DecoderModel(LatentModel):
    """An ``nn.Module`` from a latent vector to an image behind the ``LatentModel`` protocol (see the module).

        model = DecoderModel(my_generator, z_dim=100)
    """

    has_mapping = False
    num_layers = 1

    def __init__(self, module: nn.Module, z_dim: int | None = None, name: str | None = None,
                 output_range: tuple[float, float] | None = None, latent_shape: Sequence[int] | None = None,
                 layers: Sequence[str] | Mapping[str, str] | None = None):
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
        z_dim = whole_number(z_dim, f"{self.name}: z_dim")
        if z_dim <= 0:
            raise ValueError(f"{self.name}: z_dim must be a positive number of latent values; got {z_dim}")
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
            z = torch.randn(4, self.z_dim, generator=torch.Generator().manual_seed(0))
            probe = self._raw(z.to(self.device))
        if isinstance(probe, torch.Tensor) and probe.dim() == 4 and probe.shape[1] == 1:
            probe = probe.expand(-1, 3, -1, -1)
        self.check_frame(probe, 4, mapped=False)  # tuples, shape, batch size, NaN or inf: a clear error at load
        self.resolution = int(probe.shape[-1])
        if output_range is None:
            output_range = _guess_range(module) or _range_of_probe(probe, self.name)
        self.output_range = tuple(float(v) for v in output_range)

    def _raw(self, z: torch.Tensor) -> torch.Tensor:
        return self.module(z.reshape(z.shape[0], *self.latent_shape))

    def _synthesize(self, latents: torch.Tensor) -> torch.Tensor:
        img = self._raw(latents[:, 0])
        lo, hi = self.output_range
        img = (img - lo) / (hi - lo)
        return img.expand(-1, 3, -1, -1) if img.shape[1] == 1 else img

    def _hook_modules(self) -> dict[str, nn.Module]:
        named = dict(self.module.named_modules())
        if self._layer_paths is not None:
            return {k: named[p] for k, p in self._layer_paths.items()}
        return {k: m for k, m in named.items() if k and len(list(m.children())) == 0}


def _infer_latent(module: nn.Module) -> tuple[int | None, tuple[int, ...] | None]:
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


def _range_of_probe(probe: torch.Tensor, name: str) -> tuple[float, float]:
    """The output range a probe batch shows, by the rule of the module docstring, or a ValueError."""
    lo, hi = float(probe.min()), float(probe.max())
    if lo >= -0.05 and hi <= 1.1:
        return (0.0, 1.0)
    if lo >= -1.2 and hi <= 1.2:
        return (-1.0, 1.0)
    if lo >= -0.05 and hi <= 280:
        return (0.0, 255.0)
    raise ValueError(f"cannot tell the output range of {name}: a probe of 4 samples spans [{lo:.3g}, {hi:.3g}], "
                     "which is none of [0, 1], [-1, 1] or [0, 255]. Pass output_range=(low, high), the values that "
                     "map to black and white, e.g. latentwidgets.load(net, output_range=(-1, 1))")


def _guess_range(module: nn.Module) -> tuple[float, float] | None:
    """(-1, 1) when the last leaf module is a Tanh, (0, 1) for a Sigmoid, else None."""
    leaves = [m for m in module.modules() if len(list(m.children())) == 0]
    if leaves and isinstance(leaves[-1], nn.Tanh):
        return (-1.0, 1.0)
    if leaves and isinstance(leaves[-1], nn.Sigmoid):
        return (0.0, 1.0)
    return None
