"""The latent regressor's losses: perceptual distance on ``sprites-features`` activations, masked losses
on known pixels, and Chai et al.'s training loss (latent + pixel + perceptual; LPIPS weights cannot be
had offline, so the perceptual term reads the zoo's ``sprites-features`` net)::

    perceptual_distance(out, target).mean().backward()          # [B], differentiable
    masked_loss(out, target, mask)                              # MSE on known pixels + perceptual, [B]
    masked_l1(out, target, mask)                                # Chai et al.'s fidelity measure, [B]
    terms = regression_loss(model, reg, images, mask, latents)  # {'loss', 'latent', 'pixel', 'perceptual'}
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..models.base import LatentModel
from ..zoo.features_net import features_network
from .net import LatentRegressor

#: default weights of the training loss terms (latent in units of the latent's spread, pixel MSE on
#: [0, 1] images, perceptual distance of sprites-features activations); see :func:`regression_loss`.
#: Chai et al. weigh all three 1 with LPIPS on [-1, 1] images; here pixel MSE on [0, 1] is ~100x
#: smaller than the other terms, and at (latent 1, pixel 10) the held-out masked L1 after 500 steps
#: was 0.065 against 0.050 at these weights (training/regressor.log)
LOSS_WEIGHTS: dict[str, float] = {"latent": 0.3, "pixel": 100.0, "perceptual": 1.0}


def perceptual_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """LPIPS-style distance per image ``[B]`` between images ``[B, 3, H, W]`` in [0, 1], on the conv
    activations of ``sprites-features`` (each location's channel vector unit-normalised, squared
    differences summed over channels, averaged over locations and over the 4 stages). Differentiable;
    images of another size are resized to 64x64 first.

    >>> perceptual_distance(out, target).mean().backward()
    """
    device = a.device
    net = features_network(device)
    if tuple(a.shape[2:]) != (64, 64):
        a = F.interpolate(a, size=(64, 64), mode="bilinear", align_corners=False, antialias=True)
        b = F.interpolate(b, size=(64, 64), mode="bilinear", align_corners=False, antialias=True)
    x = torch.cat([a, b]) * 2 - 1
    total = torch.zeros(a.shape[0], device=device)
    stages = 0
    for layer in net.convs:
        x = layer(x)
        if isinstance(layer, nn.Conv2d):
            continue
        fa, fb = x.chunk(2)
        fa = fa / (fa.pow(2).sum(1, keepdim=True) + 1e-8).sqrt()
        fb = fb / (fb.pow(2).sum(1, keepdim=True) + 1e-8).sqrt()
        total = total + (fa - fb).pow(2).sum(1).mean((1, 2))
        stages += 1
    return total / max(stages, 1)


def masked_loss(out: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, perceptual: float = 1.0) -> torch.Tensor:
    """Per-image loss ``[B]`` on the known pixels only: MSE over ``mask`` + ``perceptual`` x
    :func:`perceptual_distance` of the two images with the unknown pixels zeroed. The loss of
    :func:`refine` and of the projection benchmark's optimisation baseline.

    >>> masked_loss(model.synthesize_grad(lat), collage, mask).sum().backward()
    """
    known = mask.sum((1, 2, 3)).clamp(min=1.0) * out.shape[1]
    mse = ((out - target).pow(2) * mask).sum((1, 2, 3)) / known
    if perceptual:
        mse = mse + perceptual * perceptual_distance(out * mask, target * mask)
    return mse


def masked_l1(out: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean absolute error per image ``[B]`` over the known pixels (``mask`` = 1): the fidelity
    measure of Chai et al.

    >>> masked_l1(model.synthesize(lat), collage, mask).mean()
    """
    known = mask.sum((1, 2, 3)).clamp(min=1.0) * out.shape[1]
    return ((out - target).abs() * mask).sum((1, 2, 3)) / known


def regression_loss(model: LatentModel, regressor: LatentRegressor, images: torch.Tensor, mask: torch.Tensor,
                    latents: torch.Tensor, weights: dict[str, float] | None = None) -> dict[str, torch.Tensor]:
    """Chai et al.'s training loss on one batch of generated ``images`` with their true per-layer
    ``latents``: the regressor sees the masked image and must recover the latent (squared error in
    units of the latent spread) and the whole image (pixel MSE + perceptual distance, through the
    frozen generator). Returns the weighted ``loss`` and each term.

    Collages (rows of ``latents`` that are NaN, see :func:`training_batch`) have no true latent and
    no true hidden pixels: they count in the pixel and perceptual terms on their known pixels only."""
    w = {**LOSS_WEIGHTS, **(weights or {})}
    pred = regressor(images, mask)
    known = torch.isfinite(latents).flatten(1).all(1)
    zero = torch.zeros((), device=images.device)
    lat = (((pred - latents) / regressor.latent_std)[known].pow(2).mean()) if bool(known.any()) else zero
    out = model.synthesize_grad(pred)
    m = torch.where(known.view(-1, 1, 1, 1), torch.ones_like(mask), mask)  # where each image is judged
    pix = (((out - images).pow(2) * m).sum((1, 2, 3)) / (m.sum((1, 2, 3)).clamp(min=1.0) * out.shape[1])).mean()
    per = perceptual_distance(out * m, images * m).mean() if w["perceptual"] else zero
    loss = w["latent"] * lat + w["pixel"] * pix + w["perceptual"] * per
    return {"loss": loss, "latent": lat.detach(), "pixel": pix.detach(), "perceptual": per.detach()}
