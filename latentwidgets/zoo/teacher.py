"""The teacher that ``sprites-style`` is distilled from: a fixed, entangling map z -> scene factors.

``teacher_factors(z)`` turns a plain Gaussian latent ``z ~ N(0, I_16)`` into sprite factors whose
distribution is *exactly* the real-scene distribution of :mod:`sprites` (shapes aside, which blend
smoothly over a thin band at their borders). No latent axis is a factor:

1. ``z' = R(|z|) z``: a rotation whose angle depends only on the norm of z. An isotropic Gaussian is
   invariant under it, so z' is still N(0, I), but straight lines in z become curves in z'.
2. ``u = Q z'`` with a fixed random orthogonal Q (seeded): every factor reads a mix of all axes.
3. Scalars from the Gaussian CDF of one coordinate (uniform marginals); angles (rotation, hues)
   from ``atan2`` of two coordinates (uniform on the circle, continuous in z).

Finding these factors again from the trained generator is the task the directions methods do.
"""

from __future__ import annotations

import math

import torch

from . import sprites

Z_DIM = 16
TEACHER_SEED = 20261123
_SHAPE_BLEND = 0.06  # half-width, in shape-bin units, of the smooth blend between shapes


def _orthogonal(d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    return (q * torch.sign(torch.diagonal(r))).float()


_Q = _orthogonal(Z_DIM, TEACHER_SEED)
_P = _orthogonal(Z_DIM, TEACHER_SEED + 1)  # basis of the norm-dependent rotation's planes


def _norm_rotation(z: torch.Tensor) -> torch.Tensor:
    r = z.norm(dim=1, keepdim=True)
    theta = 0.9 * (r - math.sqrt(Z_DIM))  # about +-1 radian over the typical shell
    y = z @ _P.to(z)
    c, s = torch.cos(theta), torch.sin(theta)
    a, b = y[:, 0::2], y[:, 1::2]  # rotate all 8 planes by theta
    y = torch.stack([c * a - s * b, s * a + c * b], dim=2).flatten(1)
    return y @ _P.to(z).t()


def _phi(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * (1 + torch.erf(x / math.sqrt(2)))


def _angle01(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.remainder(torch.atan2(b, a) / (2 * math.pi), 1.0)


def shape_weights_from(t: torch.Tensor) -> torch.Tensor:
    """Uniform t in [0, 1] -> blend weights ``[N, 3]`` over the shapes: pure inside each third,
    smooth across a thin band at the two inner borders."""
    s = t * len(sprites.SHAPES)
    w = torch.zeros(t.shape[0], len(sprites.SHAPES), device=t.device)
    for k in range(len(sprites.SHAPES)):
        lo = torch.clamp((s - (k - _SHAPE_BLEND)) / (2 * _SHAPE_BLEND), 0, 1) if k > 0 else torch.ones_like(s)
        hi = torch.clamp(((k + 1 + _SHAPE_BLEND) - s) / (2 * _SHAPE_BLEND), 0, 1) if k < 2 else torch.ones_like(s)
        w[:, k] = torch.minimum(lo, hi)
    return w / w.sum(1, keepdim=True)


def teacher_factors(z: torch.Tensor) -> tuple[dict, torch.Tensor]:
    """Latents ``[N, 16]`` -> (factor dict of ``[N]`` tensors, shape blend weights ``[N, 3]``)."""
    if z.dim() != 2 or z.shape[1] != Z_DIM:
        raise ValueError(f"teacher latents must be [N, {Z_DIM}]; got {tuple(z.shape)}")
    u = _norm_rotation(z.float()) @ _Q.to(z).t()
    rng = sprites.RANGES
    lerp = lambda k, t: rng[k][0] + (rng[k][1] - rng[k][0]) * t  # noqa: E731
    shape_t = _phi(u[:, 0])
    weights = shape_weights_from(shape_t)
    f = {
        "shape": weights.argmax(1),
        "scale": lerp("scale", _phi(u[:, 1])),
        "x": lerp("x", _phi(u[:, 2])),
        "y": lerp("y", _phi(u[:, 3])),
        "bg_value": lerp("bg_value", _phi(u[:, 4])),
        "rotation": 2 * math.pi * _angle01(u[:, 5], u[:, 6]),
        "hue": _angle01(u[:, 7], u[:, 8]),
        "bg_hue": _angle01(u[:, 9], u[:, 10]),
    }
    return f, weights


def teacher_images(z: torch.Tensor) -> torch.Tensor:
    """Render the teacher's scenes for latents ``[N, 16]`` -> ``[N, 3, 64, 64]``."""
    f, w = teacher_factors(z.detach().cpu())
    return sprites.render(f, shape_weights=w).to(z.device)
