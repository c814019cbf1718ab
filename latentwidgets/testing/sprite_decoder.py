"""A synthetic generator with planted directions, for testing direction methods against known truth.

``LinearSprites(z_dim)`` renders one sprite whose factors are affine (scale: log-affine) in a few
orthonormal directions of z, through ``sprites.render`` (differentiable), so the true direction of
each factor is known exactly: ``net.truth["x"]`` etc. Wrap it with ``DecoderModel(net, z_dim=...)``.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from latentwidgets.zoo import sprites

FACTOR_ORDER = ("x", "y", "scale", "hue", "bg_hue", "bg_value")


class LinearSprites(nn.Module):
    def __init__(self, z_dim: int = 8, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        q, _ = torch.linalg.qr(torch.randn(z_dim, z_dim, generator=g))
        self.z_dim = z_dim
        self.register_buffer("basis", q[:, : len(FACTOR_ORDER)].t().contiguous())  # [6, z_dim], orthonormal rows

    @property
    def truth(self):
        return {k: self.basis[i] for i, k in enumerate(FACTOR_ORDER)}

    def factors(self, z: torch.Tensor):
        c = z @ self.basis.t()
        n = z.shape[0]
        return {
            "shape": torch.zeros(n, dtype=torch.long),
            "rotation": torch.zeros(n),
            "x": 0.5 + 0.05 * c[:, 0],
            "y": 0.5 + 0.05 * c[:, 1],
            "scale": 0.22 * torch.exp(0.12 * c[:, 2]),
            "hue": torch.remainder(0.02 + 0.12 * c[:, 3], 1.0),  # straddles the wrap-around
            "bg_hue": torch.remainder(0.1 + 0.05 * c[:, 4], 1.0),
            "bg_value": 0.3 + 0.05 * torch.tanh(c[:, 5]),
        }

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return sprites.render(self.factors(z))
