"""Chai et al.'s random masks for the latent regressor, and the checks every projection runs on its inputs.

    masks = sample_masks(8, size=64, generator=torch.Generator().manual_seed(0))   # [8, 1, 64, 64], 1 = known
    images, mask = check_inputs(images, mask, resolution=64)    # float, on the images' device, or a clear error
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def sample_masks(n: int, size: int = 64, generator: torch.Generator | None = None, grid: int = 6,
                 cutoff: float | tuple[float, float] = (0.3, 1.0)) -> torch.Tensor:
    """Chai et al.'s random masks ``[n, 1, size, size]`` (float, 1 = known pixel).

    Uniform noise on a ``grid`` x ``grid`` lattice is bilinearly upsampled to ``size`` and a pixel is
    known where the noise lies below a cutoff drawn once per call from U(``cutoff``) (or fixed, if a
    float), so a batch shares one visible fraction and the masks are smooth blobs on the grid scale.

    >>> g = torch.Generator().manual_seed(0)
    >>> sample_masks(8, size=64, generator=g).shape      # torch.Size([8, 1, 64, 64])
    """
    if n < 0 or size < 1 or grid < 1:
        raise ValueError(f"sample_masks needs n >= 0, size >= 1 and grid >= 1; got n={n}, size={size}, grid={grid}")
    noise = torch.rand(n, 1, grid, grid, generator=generator)
    up = F.interpolate(noise, size=(size, size), mode="bilinear", align_corners=True)
    if isinstance(cutoff, (tuple, list)):
        lo, hi = float(cutoff[0]), float(cutoff[1])
        t = lo + (hi - lo) * float(torch.rand(1, generator=generator))
    else:
        t = float(cutoff)
    return (up < t).float()


def check_inputs(images: torch.Tensor, mask: torch.Tensor,
                 resolution: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate ``images [B, 3, H, W]`` and ``mask [B, 1, H, W]``; errors say how to fix them."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a float tensor [B, 3, H, W] in [0, 1]; got {shape} "
                         "(add a batch dimension with images[None] for a single image)")
    if resolution is not None and tuple(images.shape[2:]) != (resolution, resolution):
        raise ValueError(f"this regressor reads {resolution}x{resolution} images; got {tuple(images.shape[2:])} "
                         f"(resize with torch.nn.functional.interpolate(images, size={resolution}))")
    if not isinstance(mask, torch.Tensor):
        raise ValueError(f"mask must be a tensor [B, 1, H, W] with 1 = known pixel; got {type(mask).__name__}")
    if mask.dim() == 3:
        mask = mask.unsqueeze(1)
    want = (images.shape[0], 1, images.shape[2], images.shape[3])
    if tuple(mask.shape) != want:
        raise ValueError(f"mask must have shape {want} (one channel, same batch and size as the images; "
                         f"1 = known pixel); got {tuple(mask.shape)}")
    images = images.float()
    mask = mask.float()
    if not torch.isfinite(images).all():
        raise ValueError("images contain NaN or inf: replace them (e.g. torch.nan_to_num(images)) and mark "
                         "those pixels unknown in the mask")
    if not torch.isfinite(mask).all() or float(mask.min()) < 0 or float(mask.max()) > 1:
        raise ValueError("mask values must be finite and in [0, 1] (1 = known pixel, 0 = unknown)")
    return images, mask.to(images.device)
