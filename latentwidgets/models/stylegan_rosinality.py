"""Adapter for rosinality's StyleGAN2 ``Generator(size, style_dim, n_mlp)`` and its ``.pt``
checkpoints (``{"g_ema": state_dict, "latent_avg": tensor, ...}``), read with ``weights_only=True``.

    from model import Generator                       # the user's copy of rosinality's code
    model = load_rosinality("550000.pt", generator_class=Generator)   # arch read from the weights
    model = RosinalityStyleGAN(g, latent_avg=ckpt["latent_avg"])      # or wrap a built generator
    model.layers()      # ['b4', 'b8', ...]: each resolution's last styled conv, before toRGB

Synthesis uses the generator's stored constant noise (``randomize_noise=False``). This module
contains no rosinality code: it drives the generator the user brings.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from .affine import effective_linear
from .base import LatentModel
from .files import read_weights

_REQUIRED = ("style", "convs", "to_rgbs", "conv1", "to_rgb1", "n_latent", "style_dim", "size")


def is_rosinality_generator(obj: Any) -> bool:
    """True when ``obj`` looks like rosinality's StyleGAN2 ``Generator``."""
    return isinstance(obj, nn.Module) and all(hasattr(obj, a) for a in _REQUIRED)


def _eq(layer: nn.Module) -> nn.Linear:
    """rosinality ``EqualLinear`` -> the linear map it applies."""
    lr_mul = float(getattr(layer, "lr_mul", 1.0))
    return effective_linear(layer.weight, getattr(layer, "bias", None), float(layer.scale), lr_mul)


class RosinalityStyleGAN(LatentModel):
    """:class:`LatentModel` over a rosinality StyleGAN2 generator (see the module docstring).

    Example: ``model = RosinalityStyleGAN(Generator(256, 512, 8)); model.generate(model.sample_z(1))``
    """

    has_mapping = True

    def __init__(self, g: nn.Module, latent_avg: torch.Tensor | None = None,
                 name: str = "stylegan2-rosinality", randomize_noise: bool = False):
        missing = [a for a in _REQUIRED if not hasattr(g, a)]
        if missing:
            raise TypeError(f"{type(g).__name__} is not a rosinality StyleGAN2 Generator: it lacks {missing}")
        super().__init__(g)
        self.g = g
        self.name = name
        self.randomize_noise = bool(randomize_noise)
        self.z_dim = self.w_dim = int(g.style_dim)
        self.num_layers = int(g.n_latent)
        self.resolution = int(g.size)
        self._latent_avg = None if latent_avg is None else latent_avg.detach().float().reshape(-1)

    def _map(self, z: torch.Tensor) -> torch.Tensor:
        return self.g.style(z.to(self.device))

    @torch.no_grad()
    def w_avg(self) -> torch.Tensor:
        """The checkpoint's ``latent_avg``; without one, the mean of w over 4096 latents of seed 0
        (computed once)."""
        if self._latent_avg is None:
            self._latent_avg = self._map(self.sample_z(4096, seed=0)).mean(0).cpu()
        return self._latent_avg.to(self.device)

    def _synthesize(self, latents: torch.Tensor) -> torch.Tensor:
        img, _ = self.g([latents], input_is_latent=True, randomize_noise=self.randomize_noise)
        return (img.float() + 1) / 2

    def _hook_modules(self) -> dict[str, nn.Module]:
        out = {"b4": self.g.conv1}
        for k in range(len(self.g.to_rgbs)):
            out[f"b{2 ** (k + 3)}"] = self.g.convs[2 * k + 1]
        return out

    def style_affines(self) -> list[list[nn.Linear]]:
        """For each latent index, the modulation layers reading it (effective ``nn.Linear`` copies)."""
        g = self.g
        out: list[list[nn.Linear]] = [[] for _ in range(self.num_layers)]
        out[0].append(_eq(g.conv1.conv.modulation))
        out[1].append(_eq(g.to_rgb1.conv.modulation))
        for k, rgb in enumerate(g.to_rgbs):
            i = 1 + 2 * k
            out[i].append(_eq(g.convs[2 * k].conv.modulation))
            out[i + 1].append(_eq(g.convs[2 * k + 1].conv.modulation))
            out[i + 2].append(_eq(rgb.conv.modulation))
        return out


def read_rosinality_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """``torch.load(path, weights_only=True)`` of a rosinality checkpoint (``argparse.Namespace``
    entries such as ``args`` are allowed; nothing else that needs unpickling code is)."""
    ckpt = read_weights(path)
    if not isinstance(ckpt, dict) or "g_ema" not in ckpt:
        keys = sorted(ckpt) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValueError(f"{Path(path).name} is not a rosinality StyleGAN2 checkpoint (no 'g_ema'; holds {keys})")
    return ckpt


def rosinality_arch(state: dict[str, torch.Tensor]) -> dict[str, int]:
    """``size``, ``style_dim``, ``n_mlp`` and ``channel_multiplier`` read from a ``g_ema`` state dict."""
    mlp = sorted({int(m.group(1)) for k in state for m in [re.match(r"style\.(\d+)\.weight$", k)] if m})
    rgbs = {int(m.group(1)) for k in state for m in [re.match(r"to_rgbs\.(\d+)\.", k)] if m}
    if not mlp:
        raise ValueError("state dict has no 'style.N.weight' keys: not a rosinality g_ema")
    size = 2 ** (len(rgbs) + 2)
    arch = {"size": size, "style_dim": int(state[f"style.{mlp[0]}.weight"].shape[1]), "n_mlp": len(mlp),
            "channel_multiplier": 2}
    if size >= 64:  # channels at 64 px are 256 * channel_multiplier
        w = state["convs.6.conv.weight"]
        arch["channel_multiplier"] = int(w.shape[1]) // 256
    return arch


def load_rosinality(path: str | os.PathLike, generator_class: Callable[..., nn.Module] | None = None,
                    generator: nn.Module | None = None, name: str | None = None,
                    **arch: Any) -> RosinalityStyleGAN:
    """Load a rosinality ``.pt`` checkpoint into ``generator`` (a built ``Generator``) or into
    ``generator_class(size, style_dim, n_mlp, channel_multiplier=...)`` built with the architecture
    read from the weights (override with ``size=``, ``style_dim=``, ``n_mlp=``,
    ``channel_multiplier=``). The checkpoint holds weights only; the class is rosinality's code,
    which this package does not ship.

    Example: ``load_rosinality("550000.pt", generator_class=Generator)``
    """
    ckpt = read_rosinality_checkpoint(path)
    state = ckpt["g_ema"]
    if generator is None:
        if generator_class is None:
            raise ValueError(
                f"{Path(path).name} holds rosinality StyleGAN2 weights; pass generator_class=Generator (from "
                "rosinality's model.py) or generator=Generator(size, style_dim, n_mlp) to build the network")
        spec = {**rosinality_arch(state), **arch}
        generator = generator_class(spec.pop("size"), spec.pop("style_dim"), spec.pop("n_mlp"), **spec)
    missing, unexpected = generator.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("noises.")]
    if missing or unexpected:
        raise ValueError(f"{Path(path).name} does not fit this generator: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]} (check size/style_dim/n_mlp/channel_multiplier)")
    return RosinalityStyleGAN(generator, latent_avg=ckpt.get("latent_avg"), name=name or Path(path).stem)
