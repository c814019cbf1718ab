"""Image transforms for continuous factors of variation: shift, zoom, brightness (or any callable), each
with the validity mask of the pixels it defines, and the Gaussian blur of the paper's loss.

A transform maps images ``[B, 3, H, W]`` and ``t`` (float) to ``(transformed images, validity mask
[B, 1, H, W])``; the pixels a transform shifts in from outside the frame are invalid::

    moved, mask = shift_x(images, 0.1)          # content 0.1 * width to the right
    fn = TRANSFORMS["zoom"]; UNITS["zoom"]      # built-ins by name, and their calibration units
    blurred = blur(images, sigma=1.5)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F

Transform = Callable[[torch.Tensor, float], tuple[torch.Tensor, torch.Tensor | None]]


# ----------------------------------------------------------------------------------------------
# transforms: images [B, 3, H, W], t (float) -> (transformed images, validity mask [B, 1, H, W])

def _warp(images: torch.Tensor, grid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    out = F.grid_sample(images, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    ones = torch.ones_like(images[:, :1])
    mask = F.grid_sample(ones, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out, (mask > 0.999).float()


def _base_grid(images: torch.Tensor) -> torch.Tensor:
    b, _, h, w = images.shape
    ys = (torch.arange(h, device=images.device, dtype=images.dtype) + 0.5) / h * 2 - 1
    xs = (torch.arange(w, device=images.device, dtype=images.dtype) + 0.5) / w * 2 - 1
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy], -1).unsqueeze(0).expand(b, h, w, 2)


def shift_x(images: torch.Tensor, t: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Move the content right by ``t * width`` pixels; the strip shifted in is masked out."""
    grid = _base_grid(images).clone()
    grid[..., 0] -= 2 * t
    return _warp(images, grid)


def shift_y(images: torch.Tensor, t: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Move the content down by ``t * height`` pixels; the strip shifted in is masked out."""
    grid = _base_grid(images).clone()
    grid[..., 1] -= 2 * t
    return _warp(images, grid)


def zoom(images: torch.Tensor, t: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Zoom about the centre by the factor ``1 / (1 + t)`` (t > 0 shrinks the content)."""
    if t <= -1:
        raise ValueError(f"zoom needs t > -1; got {t}")
    grid = _base_grid(images) * (1 + t)
    return _warp(images, grid)


def brightness(images: torch.Tensor, t: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Add ``t`` to every intensity; pixels that would leave [0, 1] are masked out."""
    out = images + t
    mask = ((out >= 0) & (out <= 1)).all(1, keepdim=True).float()
    return out.clamp(0, 1), mask


TRANSFORMS: dict[str, Transform] = {"shift_x": shift_x, "shift_y": shift_y, "zoom": zoom, "brightness": brightness}
UNITS = {"shift_x": "px", "shift_y": "px", "zoom": "x zoom", "brightness": "brightness"}


def resolve_transforms(transforms: Any) -> list[tuple[str, Transform]]:
    if isinstance(transforms, (str,)) or callable(transforms):
        transforms = [transforms]
    if isinstance(transforms, Mapping):
        items = list(transforms.items())
    else:
        items = []
        for i, t in enumerate(transforms):
            if isinstance(t, str):
                items.append((t, t))
            elif callable(t):
                items.append((getattr(t, "__name__", f"transform {i}"), t))
            else:
                raise TypeError(f"a transform must be a name or a callable T(images, t) -> (images, mask); got {t!r}")
    out = []
    for name, t in items:
        if isinstance(t, str):
            if t not in TRANSFORMS:
                raise ValueError(f"unknown transform {t!r}; built in: {sorted(TRANSFORMS)}, or pass a callable "
                                 "T(images, t) -> (images, validity_mask)")
            t = TRANSFORMS[t]
        out.append((str(name), t))
    if not out:
        raise ValueError("no transforms given; e.g. transforms=('shift_x', 'shift_y', 'zoom')")
    names = [n for n, _ in out]
    if len(set(names)) != len(names):
        raise ValueError(f"transform names must be unique; got {names}")
    return out


def apply_transform(fn: Transform, name: str, images: torch.Tensor, t: float) -> tuple[torch.Tensor, torch.Tensor]:
    res = fn(images, t)
    if isinstance(res, torch.Tensor):
        out, mask = res, None
    else:
        out, mask = res
    if out.shape != images.shape:
        raise ValueError(f"transform {name!r} returned images of shape {tuple(out.shape)} "
                         f"for input {tuple(images.shape)}")
    if mask is None:
        mask = torch.ones_like(images[:, :1])
    mask = mask.to(images.dtype)
    if mask.dim() == 3:
        mask = mask.unsqueeze(1)
    if mask.shape[1] != 1:
        mask = mask.amin(1, keepdim=True)
    return out, mask.expand(images.shape[0], 1, *images.shape[2:])


# ----------------------------------------------------------------------------------------------
# the blur of the loss

def _gauss_kernel(sigma: float, device, dtype) -> torch.Tensor:
    r = max(1, int(math.ceil(3 * sigma)))
    x = torch.arange(-r, r + 1, device=device, dtype=dtype)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur (zero padding) of ``[B, C, H, W]``; ``sigma`` in pixels."""
    if sigma <= 0:
        return images
    k = _gauss_kernel(sigma, images.device, images.dtype)
    c = images.shape[1]
    r = (k.numel() - 1) // 2
    x = F.conv2d(images, k.view(1, 1, 1, -1).expand(c, 1, 1, -1), padding=(0, r), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).expand(c, 1, -1, 1), padding=(r, 0), groups=c)
