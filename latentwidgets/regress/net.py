"""The latent regressor's network (Chai et al., ICLR 2021): a masked image -> per-layer latents in one pass.

A small conv encoder reads RGB plus a mask channel (1 = known pixel; hidden pixels are zeroed) and
predicts per-layer synthesis latents ``[B, L, D]`` (``w+`` for style-based models, as an offset from
the mean latent in units of its per-dimension spread; ``z`` for models without a mapping network).
Files are safetensors with the architecture in the JSON metadata, written temp-then-rename::

    reg = LatentRegressor.for_model(model)              # untrained, sized for any LatentModel
    lat = reg.project(images, mask)                     # [B, L, D] in model.synthesis_space, no grad
    reg.save("reg.safetensors"); reg = LatentRegressor.load("reg.safetensors")
    out = model.synthesize(project(model, reg, images, mask))   # checks that reg fits model
"""

from __future__ import annotations

import math
import os
from typing import Any

import torch
import torch.nn as nn

from .._checkpoint import load_modules, read_meta, save_modules
from ..models.base import LatentModel
from .masks import check_inputs


@torch.no_grad()
def latent_stats(model: LatentModel, n: int = 2048, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean ``[D]`` (the model's ``w_avg`` where it keeps one) and per-dimension std ``[D]`` of the
    synthesis latents of ``n`` seeded samples.

    >>> mean, std = latent_stats(model)
    """
    lat = model.to_synthesis(model.sample_z(n, seed=seed)).float()
    mean = lat.mean(0)
    if model.has_mapping:
        avg = model.w_avg().float()
        if float(avg.abs().sum()) > 0:
            mean = avg.to(lat.device)
    return mean, lat.std(0).clamp(min=1e-6)


class LatentRegressor(nn.Module):
    """Conv encoder: RGB + mask ``[B, 4, R, R]`` -> per-layer latents ``[B, L, D]``.

    The output is ``latent_mean + latent_std * net(x)``: the net predicts an offset from the
    model's mean latent (``w_avg``) in units of each dimension's spread. Build one sized for a model
    with :meth:`for_model`; train it with :func:`train_regressor`.

    >>> reg = LatentRegressor.for_model(lw.load("sprites-style"))
    >>> reg.project(images, mask).shape                  # [B, 10, 32]
    """

    latent_mean: torch.Tensor   # buffers [D]
    latent_std: torch.Tensor
    #: the metadata of the file it was loaded from (set by :meth:`load`)
    meta: dict[str, Any]

    def __init__(self, num_layers: int, latent_dim: int, resolution: int, space: str = "w",
                 width: int = 24, hidden: int = 256, model_name: str = "model"):
        super().__init__()
        if resolution < 4:
            raise ValueError(f"resolution must be at least 4 pixels; got {resolution}")
        self.num_layers, self.latent_dim, self.resolution = int(num_layers), int(latent_dim), int(resolution)
        self.space, self.width, self.hidden, self.model_name = space, int(width), int(hidden), model_name
        act = nn.SiLU
        layers = [nn.Conv2d(4, width, 3, 1, 1), act()]
        size, c = resolution, width
        while size > 4:  # halve until 4x4 (or less); channels grow to 4 * width
            c_out = min(c * 2, 4 * width) if size < resolution else c
            layers += [nn.Conv2d(c, c_out, 4, 2, 1), nn.GroupNorm(math.gcd(8, c_out), c_out), act(),
                       nn.Conv2d(c_out, c_out, 3, 1, 1), act()]
            size, c = (size + 1) // 2, c_out
        layers.append(nn.AdaptiveAvgPool2d(4))
        self.convs = nn.Sequential(*layers)
        fc, out = nn.Linear(c * 16, hidden), nn.Linear(hidden, self.num_layers * self.latent_dim)
        nn.init.zeros_(out.weight)   # start at the mean latent
        nn.init.zeros_(out.bias)
        self.head = nn.Sequential(nn.Flatten(), fc, act(), out)
        self.register_buffer("latent_mean", torch.zeros(self.latent_dim))
        self.register_buffer("latent_std", torch.ones(self.latent_dim))

    # ------------------------------------------------------------------------------ construction
    @classmethod
    def for_model(cls, model: LatentModel, width: int = 24, hidden: int = 256, seed: int = 0) -> LatentRegressor:
        """An untrained regressor sized for ``model`` (any :class:`LatentModel`), seeded, on its device.

        >>> reg = LatentRegressor.for_model(model)       # then train_regressor(model, steps, regressor=reg)
        """
        if not isinstance(model, LatentModel):
            raise TypeError(f"for_model needs a LatentModel (wrap your generator with latentwidgets.load(G)); "
                            f"got {type(model).__name__}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            reg = cls(model.num_layers, model.w_dim, model.resolution, space=model.synthesis_space,
                      width=width, hidden=hidden, model_name=getattr(model, "name", "model"))
        mean, std = latent_stats(model)
        reg.latent_mean.copy_(mean.cpu())
        reg.latent_std.copy_(std.cpu())
        return reg.to(model.device)

    def config(self) -> dict:
        """What :meth:`from_config` needs to rebuild this architecture (stored in saved files)."""
        return {"num_layers": self.num_layers, "latent_dim": self.latent_dim, "resolution": self.resolution,
                "space": self.space, "width": self.width, "hidden": self.hidden, "model_name": self.model_name}

    @classmethod
    def from_config(cls, config: dict) -> LatentRegressor:
        return cls(**config)

    def check_model(self, model: LatentModel) -> None:
        """Raise if this regressor does not fit ``model``'s latent layout and image size."""
        got = (model.num_layers, model.w_dim, model.resolution, model.synthesis_space)
        want = (self.num_layers, self.latent_dim, self.resolution, self.space)
        if got != want:
            raise ValueError(f"this regressor predicts {self.space} latents [B, {self.num_layers}, {self.latent_dim}] "
                             f"from {self.resolution}px images, but the model has {got[3]} latents "
                             f"[B, {got[0]}, {got[1]}] at {got[2]}px: build one with LatentRegressor.for_model(model) "
                             "and train it with train_regressor(model, steps)")

    # ------------------------------------------------------------------------------ forward
    def forward(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Differentiable ``[B, 3, R, R]`` + ``[B, 1, R, R]`` -> ``[B, L, D]`` (no input checks)."""
        x = torch.cat([(images * 2 - 1) * mask, mask], dim=1)
        offset = self.head(self.convs(x)).view(-1, self.num_layers, self.latent_dim)
        return self.latent_mean + self.latent_std * offset

    @torch.no_grad()
    def project(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Per-layer latents ``[B, L, D]`` for images ``[B, 3, H, W]`` in [0, 1] whose known pixels are
        ``mask [B, 1, H, W]`` (1 = known): one forward pass, no gradients, on the regressor's device.

        >>> lat = reg.project(collage, mask); out = model.synthesize(lat)
        """
        images, mask = check_inputs(images, mask, self.resolution)
        device = self.latent_mean.device
        was_training = self.training
        self.eval()
        try:
            return self(images.to(device), mask.to(device))
        finally:
            self.train(was_training)

    # ------------------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike, meta: dict | None = None) -> None:
        """Write the weights (prefix ``g``) and the config as safetensors + JSON metadata (no pickle)."""
        save_modules(path, {"g": self}, {**(meta or {}), "regressor": self.config()})

    @classmethod
    def load(cls, path: str | os.PathLike, map_location: str | torch.device = "cpu") -> LatentRegressor:
        """Read a file written by :meth:`save` or by the regressor recipe."""
        meta = read_meta(path)
        if "regressor" not in meta:
            raise ValueError(f"{path} holds no regressor config: write it with LatentRegressor.save or train_regressor")
        reg = cls.from_config(meta["regressor"])
        load_modules(path, {"g": reg})
        reg.meta = meta
        return reg.to(map_location).eval()


def project(model: LatentModel, regressor: LatentRegressor, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``regressor.project(images, mask)`` after checking that the regressor fits ``model``.

    >>> out = model.synthesize(project(model, reg, images, mask))
    """
    regressor.check_model(model)
    return regressor.project(images, mask).to(model.device)
