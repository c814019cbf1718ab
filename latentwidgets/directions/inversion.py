"""Trajectory inversion for continuous factors: walk ``t`` outwards from 0 and invert ``T_t(G(lat0))``
at each step with Adam on the blurred, masked loss, warm-started from the previous step.

:class:`InversionSpace` is the latent space being optimised (z or w: centre, scale, norm clipping,
rendering with gradients); :class:`MaskedLoss` the per-sample error; :class:`IsoAdam` the
rotation-invariant Adam (see :mod:`~latentwidgets.directions.factors`)::

    sp = InversionSpace(model, "w", seed=0)
    traj = invert_trajectories(model, shift_x, sp.clip(sp.from_z(z0)), (0.05, 0.1), space="w", _space=sp)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from contextlib import closing as _closing

import torch
from tqdm.auto import tqdm

from ..models.base import LatentModel, frozen
from .transforms import Transform, apply_transform, blur


class MaskedLoss:
    """Per-sample masked error between generated images and targets (blurred, or plain pixel MSE)."""

    def __init__(self, target: torch.Tensor, mask: torch.Tensor, kind: str, sigma: float):
        self.kind, self.sigma = kind, sigma
        if kind == "blur":
            self.target = blur(target * mask, sigma)
            # only pixels whose whole blur footprint is valid count
            self.weight = (blur(mask, sigma) > 0.995).float()
        else:
            self.target, self.weight = target, mask
        self.norm = (self.weight.sum((1, 2, 3)) * target.shape[1]).clamp(min=1.0)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        x = blur(images, self.sigma) if self.kind == "blur" else images
        return (((x - self.target) ** 2) * self.weight).sum((1, 2, 3)) / self.norm


# ----------------------------------------------------------------------------------------------
# latent space helpers

class InversionSpace:
    """Generator access, centre, scale and norm clipping for the latent space being optimised."""

    def __init__(self, model: LatentModel, space: str, seed: int, clip: str | float | None = "auto"):
        self.model, self.space = model, space
        if space == "z":
            self.dim = model.z_dim
            self.center = torch.zeros(self.dim, device=model.device)
            self.radius = math.sqrt(self.dim)
            self.scale = 1.0
        else:
            from .sampling import sample_latents
            _, lat = sample_latents(model, 2048, seed=seed + 7919)
            self.dim = model.w_dim
            self.center = lat.mean(0)
            dev = lat - self.center
            self.radius = float(dev.norm(dim=1).quantile(0.99))
            self.scale = float(dev.pow(2).mean().sqrt())
        if clip is None:
            self.radius = math.inf
        elif not isinstance(clip, str):
            if not (float(clip) > 0):
                raise ValueError(f"clip must be 'auto', None or a positive radius; got {clip!r}")
            self.radius = float(clip)
        elif clip != "auto":
            raise ValueError(f"clip must be 'auto', None or a positive radius; got {clip!r}")

    def from_z(self, z: torch.Tensor) -> torch.Tensor:
        return z if self.space == "z" else self.model.to_synthesis(z)

    def clip(self, lat: torch.Tensor) -> torch.Tensor:
        d = lat - self.center
        n = d.norm(dim=1, keepdim=True).clamp(min=1e-12)
        return self.center + d * torch.clamp(self.radius / n, max=1.0)

    def render_grad(self, lat: torch.Tensor) -> torch.Tensor:
        m = self.model
        if self.space == "z" and m.has_mapping:
            return m.synthesize_grad(m.map_grad(lat))
        return m.synthesize_grad(lat)

    @torch.no_grad()
    def render(self, lat: torch.Tensor) -> torch.Tensor:
        return self.render_grad(lat).clamp(0, 1)


# ----------------------------------------------------------------------------------------------
# trajectory inversion

class IsoAdam:
    """Adam whose second moment is one scalar per sample (the mean over coordinates) instead of one
    per coordinate: the same step sizes, but rotation-invariant, so a latent moves only within the
    span of its gradients and never drifts along directions that leave the image unchanged."""

    def __init__(self, param: torch.Tensor, lr: float, betas=(0.9, 0.999), eps: float = 1e-8):
        self.p, self.lr, (self.b1, self.b2), self.eps = param, lr, betas, eps
        self.m = torch.zeros_like(param)
        self.v = torch.zeros(param.shape[0], 1, device=param.device, dtype=param.dtype)
        self.k = 0

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        g = self.p.grad
        self.k += 1
        self.m.mul_(self.b1).add_(g, alpha=1 - self.b1)
        self.v.mul_(self.b2).add_(g.pow(2).mean(1, keepdim=True), alpha=1 - self.b2)
        mh = self.m / (1 - self.b1 ** self.k)
        vh = self.v / (1 - self.b2 ** self.k)
        self.p.sub_(self.lr * mh / (vh.sqrt() + self.eps))


def _invert_step(space: InversionSpace, start: torch.Tensor, loss_fn: MaskedLoss, adam_steps: int, lr: float,
                 optimizer: str = "adam") -> tuple[torch.Tensor, torch.Tensor]:
    lat = start.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([lat], lr=lr) if optimizer == "adam" else IsoAdam(lat, lr)
    for _ in range(adam_steps):
        opt.zero_grad(set_to_none=True)
        err = loss_fn(space.render_grad(lat))
        err.sum().backward()
        opt.step()
        with torch.no_grad():
            bad = ~torch.isfinite(lat).all(1, keepdim=True)
            lat.copy_(space.clip(torch.where(bad, start, lat)))
    with torch.no_grad():
        err = loss_fn(space.render_grad(lat))
        err = torch.where(torch.isfinite(err), err, torch.full_like(err, float("inf")))
    return lat.detach(), err.detach()


def invert_trajectories(model: LatentModel, transform: Transform, lat0: torch.Tensor, steps: Sequence[float],
                        space: str = "z", adam_steps: int = 50, lr: float = 0.01, loss: str = "blur",
                        blur_sigma: float | None = None, batch_size: int = 64, name: str = "transform",
                        progress: bool = True, optimizer: str = "adam",
                        _space: InversionSpace | None = None) -> dict[str, torch.Tensor]:
    """Invert ``T_t(G(lat0))`` for every t in ``+-steps``, walking outwards from 0 with warm starts.

    Returns ``{"t": [P], "lat": [P, D], "lat0": [P, D], "err": [P], "sample": [P]}`` over all
    (sample, t) pairs. ``lat0`` must already lie in the clipped region of ``space``.
    """
    sp = _space or InversionSpace(model, space, 0)
    sigma = blur_sigma if blur_sigma is not None else 3.0 * model.resolution / 128.0
    steps = sorted(float(s) for s in steps)
    ts, lats, lat0s, errs, idx = [], [], [], [], []
    n = lat0.shape[0]
    total = ((n + batch_size - 1) // batch_size) * 2 * len(steps)
    bar = tqdm(total=total, desc=f"inverting {name}", disable=not progress, leave=False)
    with frozen(model.module), _closing(bar):
        for b0 in range(0, n, batch_size):
            base = lat0[b0:b0 + batch_size]
            x0 = sp.render(base)
            for sign in (1.0, -1.0):
                cur = base
                for s in steps:
                    t = sign * s
                    target, mask = apply_transform(transform, name, x0, t)
                    cur, err = _invert_step(sp, cur, MaskedLoss(target, mask, loss, sigma), adam_steps, lr, optimizer)
                    ts.append(torch.full((base.shape[0],), t, device=base.device))
                    lats.append(cur)
                    lat0s.append(base)
                    errs.append(err)
                    idx.append(torch.arange(b0, b0 + base.shape[0], device=base.device))
                    bar.update(1)
                    bar.set_postfix(t=f"{t:+.2f}", err=f"{float(err.mean()):.4f}")
    return {"t": torch.cat(ts), "lat": torch.cat(lats), "lat0": torch.cat(lat0s), "err": torch.cat(errs),
            "sample": torch.cat(idx)}
