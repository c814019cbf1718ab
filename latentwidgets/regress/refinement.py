"""Refining projected latents by optimisation on the masked loss (after the regressor's one pass)::

    lat = refine(model, reg.project(images, mask), images, mask, steps=50)
"""

from __future__ import annotations

import torch
from tqdm.auto import tqdm

from ..models.base import LatentModel, frozen
from .losses import masked_loss
from .masks import check_inputs
from .net import latent_stats


def refine(model: LatentModel, latents: torch.Tensor, images: torch.Tensor, mask: torch.Tensor, steps: int = 50,
           lr: float = 0.05, perceptual: float = 1.0, progress: bool = True) -> torch.Tensor:
    """Optimise per-layer ``latents [B, L, D]`` (e.g. from ``reg.project``) with Adam on
    :func:`masked_loss` against ``images`` where ``mask`` is 1; steps are in units of the latent's
    spread (``lr`` 0.05 moves each dimension by about 5% of its std per step). Each image's latent is
    optimised on its own loss. Returns the refined latents (no grad); Ctrl-C keeps the current ones.

    >>> lat = refine(model, reg.project(x, m), x, m, steps=50)
    """
    images, mask = check_inputs(images, mask, model.resolution)
    lat0 = model.broadcast(latents).detach().to(model.device).float()
    if lat0.shape[0] != images.shape[0]:
        raise ValueError(f"latents hold {lat0.shape[0]} samples but images hold {images.shape[0]}: "
                         "pass one latent per image")
    images, mask = images.to(model.device), mask.to(model.device)
    _, std = latent_stats(model, n=512)
    delta = torch.zeros_like(lat0, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=lr)
    with frozen(model.module):
        try:
            for _ in tqdm(range(steps), desc="refine", disable=not progress):
                out = model.synthesize_grad(lat0 + std * delta)
                loss = masked_loss(out, images, mask, perceptual).sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        except KeyboardInterrupt:
            pass
    return (lat0 + std * delta).detach()
