"""Continuous factors of variation (Plumerault et al., ICLR 2020): calibrated directions from image transforms.

For each sample latent ``z0`` with image ``x0 = G(z0)`` and a transform ``T_t`` (shift by ``t * size``
pixels, zoom by ``1 / (1 + t)``, brightness ``+ t``, or any callable), the method walks ``t`` in small
steps (0.1, 0.2, ..., 0.5 each sign by default), warm-starting each step from the previous latent, and
at each step runs Adam (50 steps, lr 0.01) on the *blurred, masked* squared error between ``G(z)`` and
``T_t(x0)`` (the pixels the transform shifts in from outside the frame do not count), clipping the
latent's norm after every step. The worst 10% of inversions are dropped; then a unit direction ``u``
and a monotone piecewise-linear ``g`` (101 knots on [-5, 5]) are fitted on the differences
``g(<u, z_t>) - g(<u, z_0>) = t``. Because ``g`` is known, a requested factor change maps to a latent
coordinate: calibrated control::

    d = factor_directions(model, transforms=("shift_x", "zoom"), n_samples=64)
    k = d.index("shift_x")
    alpha = d.to_strength(k, 8.0)            # coordinate giving +8 px relative to the typical sample
    ws, img = render_edits(model, z, [Edit(d, k, alpha, mode="set")])   # the paper's traversal

Latent space and norm clipping: in a Gaussian ``z`` space (models without a mapping network, or
``space="z"``) the norm is clipped to ``sqrt(d)`` as in the paper. In ``w`` (style-based models), which is
not Gaussian, ``||w - c||`` is clipped to the 99th percentile of that norm over 2048 mapped samples
(``c`` = their mean): the analogue "stay where the generator has been trained". Coordinates along
``u`` are standardised by the typical spread ``r`` of the latents (1 for z) before the knots [-5, 5]
apply; the record stores raw coordinates (``alpha`` knots ready for ``Edit(..., mode="set")``).

Optimiser: the paper uses Adam, whose per-coordinate step normalisation is not rotation-invariant:
early steps move every coordinate by about ``lr`` whatever its effect, so latents drift along
directions that barely change the image, the drift is the same for every sample moving the same way,
and it leaks into ``u``. ``optimizer="adam_iso"`` (the default) keeps Adam's step sizes but uses one
second-moment scalar per sample, so moves stay in the span of the gradients; ``optimizer="adam"`` is
the paper's. On a synthetic model with planted directions (tests/sprite_decoder.py, z_dim 16) the
recovered |cos| rose from about 0.55-0.75 (adam) to 0.65-0.95 (adam_iso). The fit of ``u`` adds a
small ridge penalty on the slope of ``g`` (see :func:`fit_direction`).

Fitting ``u`` and ``g``: the paper fits both jointly on the inverted latents. Here ``u`` is the mean
move per unit ``t`` (a joint fit is ill-posed with CPU-sized budgets, see :func:`fit_direction`), and
``g`` is fitted, by default (``calibrate="line"``), to line-search inversions along ``u`` alone
(:func:`register_along`): the traversal moves along ``u`` only, while each free inversion also moves
off ``u`` and makes part of its change there, so a ``g`` fitted to the free inversions promised 15-20%
more than the traversals delivered on sprites-style (step 12,897,
before its centre hint). ``calibrate="free"`` is the paper's fit.

Calibration units (per direction, ``t`` increases with ``alpha``): shifts in ``"px"``, zoom as the
multiplicative ``"x zoom"`` factor relative to the typical sample (the direction is oriented so that
larger alpha = larger object), brightness in ``"brightness"`` (added intensity), callables in ``"t"``.
"""

from __future__ import annotations

import math
from contextlib import closing as _closing
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..models.base import frozen
from .record import Directions

Transform = Callable[[torch.Tensor, float], Tuple[torch.Tensor, Optional[torch.Tensor]]]

DEFAULT_STEPS = (0.1, 0.2, 0.3, 0.4, 0.5)
N_KNOTS = 101
KNOT_RANGE = 5.0


# ----------------------------------------------------------------------------------------------
# transforms: images [B, 3, H, W], t (float) -> (transformed images, validity mask [B, 1, H, W])

def _warp(images: torch.Tensor, grid: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
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


def shift_x(images: torch.Tensor, t: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """Move the content right by ``t * width`` pixels; the strip shifted in is masked out."""
    grid = _base_grid(images).clone()
    grid[..., 0] -= 2 * t
    return _warp(images, grid)


def shift_y(images: torch.Tensor, t: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """Move the content down by ``t * height`` pixels; the strip shifted in is masked out."""
    grid = _base_grid(images).clone()
    grid[..., 1] -= 2 * t
    return _warp(images, grid)


def zoom(images: torch.Tensor, t: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """Zoom about the centre by the factor ``1 / (1 + t)`` (t > 0 shrinks the content)."""
    if t <= -1:
        raise ValueError(f"zoom needs t > -1; got {t}")
    grid = _base_grid(images) * (1 + t)
    return _warp(images, grid)


def brightness(images: torch.Tensor, t: float) -> Tuple[torch.Tensor, torch.Tensor]:
    """Add ``t`` to every intensity; pixels that would leave [0, 1] are masked out."""
    out = images + t
    mask = ((out >= 0) & (out <= 1)).all(1, keepdim=True).float()
    return out.clamp(0, 1), mask


TRANSFORMS: Dict[str, Transform] = {"shift_x": shift_x, "shift_y": shift_y, "zoom": zoom, "brightness": brightness}
UNITS = {"shift_x": "px", "shift_y": "px", "zoom": "x zoom", "brightness": "brightness"}


def _resolve_transforms(transforms: Any) -> List[Tuple[str, Transform]]:
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


def _apply_transform(fn: Transform, name: str, images: torch.Tensor, t: float) -> Tuple[torch.Tensor, torch.Tensor]:
    res = fn(images, t)
    if isinstance(res, torch.Tensor):
        out, mask = res, None
    else:
        out, mask = res
    if out.shape != images.shape:
        raise ValueError(f"transform {name!r} returned images of shape {tuple(out.shape)} for input {tuple(images.shape)}")
    if mask is None:
        mask = torch.ones_like(images[:, :1])
    mask = mask.to(images.dtype)
    if mask.dim() == 3:
        mask = mask.unsqueeze(1)
    if mask.shape[1] != 1:
        mask = mask.amin(1, keepdim=True)
    return out, mask.expand(images.shape[0], 1, *images.shape[2:])


# ----------------------------------------------------------------------------------------------
# the loss

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


class _Loss:
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

class _Space:
    """Generator access, centre, scale and norm clipping for the latent space being optimised."""

    def __init__(self, model: Any, space: str, seed: int, clip: Union[str, float, None] = "auto"):
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

class _IsoAdam:
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


def _invert_step(space: _Space, start: torch.Tensor, loss_fn: _Loss, adam_steps: int, lr: float,
                 optimizer: str = "adam") -> Tuple[torch.Tensor, torch.Tensor]:
    lat = start.detach().clone().requires_grad_(True)
    opt = torch.optim.Adam([lat], lr=lr) if optimizer == "adam" else _IsoAdam(lat, lr)
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


def invert_trajectories(model: Any, transform: Transform, lat0: torch.Tensor, steps: Sequence[float],
                        space: str = "z", adam_steps: int = 50, lr: float = 0.01, loss: str = "blur",
                        blur_sigma: Optional[float] = None, batch_size: int = 64, name: str = "transform",
                        progress: bool = True, optimizer: str = "adam",
                        _space: Optional[_Space] = None) -> Dict[str, torch.Tensor]:
    """Invert ``T_t(G(lat0))`` for every t in ``+-steps``, walking outwards from 0 with warm starts.

    Returns ``{"t": [P], "lat": [P, D], "lat0": [P, D], "err": [P], "sample": [P]}`` over all
    (sample, t) pairs. ``lat0`` must already lie in the clipped region of ``space``.
    """
    sp = _space or _Space(model, space, 0)
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
                    target, mask = _apply_transform(transform, name, x0, t)
                    cur, err = _invert_step(sp, cur, _Loss(target, mask, loss, sigma), adam_steps, lr, optimizer)
                    ts.append(torch.full((base.shape[0],), t, device=base.device))
                    lats.append(cur)
                    lat0s.append(base)
                    errs.append(err)
                    idx.append(torch.arange(b0, b0 + base.shape[0], device=base.device))
                    bar.update(1)
                    bar.set_postfix(t=f"{t:+.2f}", err=f"{float(err.mean()):.4f}")
    return {"t": torch.cat(ts), "lat": torch.cat(lats), "lat0": torch.cat(lat0s), "err": torch.cat(errs),
            "sample": torch.cat(idx)}


# ----------------------------------------------------------------------------------------------
# fitting u and the monotone g

class MonotoneCurve(torch.nn.Module):
    """Monotone increasing piecewise-linear g on fixed knots: increments are softplus of free parameters."""

    def __init__(self, n_knots: int = N_KNOTS, lo: float = -KNOT_RANGE, hi: float = KNOT_RANGE, slope: float = 1.0):
        super().__init__()
        self.register_buffer("knots", torch.linspace(lo, hi, n_knots))
        step = (hi - lo) / (n_knots - 1)
        inc = max(slope * step, 1e-6)
        init = math.log(math.expm1(inc)) if inc < 20 else inc
        self.raw = torch.nn.Parameter(torch.full((n_knots - 1,), init))

    def values(self) -> torch.Tensor:
        inc = F.softplus(self.raw)
        return torch.cat([inc.new_zeros(1), inc.cumsum(0)])

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        v, k = self.values(), self.knots
        pc = p.clamp(k[0], k[-1])
        step = k[1] - k[0]
        pos = (pc - k[0]) / step
        i = pos.floor().clamp(0, len(k) - 2).long()
        frac = pos - i
        return v[i] + frac * (v[i + 1] - v[i])


def mean_move_direction(lat: torch.Tensor, lat0: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Unit vector along the mean latent move per unit t, ``sum_i t_i (lat_i - lat0_i) / sum_i t_i^2``:
    the direction the inversions actually follow."""
    delta = (lat - lat0).double()
    tt = t.double()
    move = delta.t() @ tt / tt.pow(2).sum().clamp(min=1e-12)
    if not torch.isfinite(move).all() or move.norm() < 1e-12:
        raise FloatingPointError("the inverted latents did not move: the transform changes nothing the "
                                 "generator can follow (try larger steps or more adam_steps)")
    return (move / move.norm()).to(lat.dtype)


def fit_curve(p: torch.Tensor, p0: torch.Tensor, t: torch.Tensor, iters: int = 600, lr: float = 0.02,
              smooth: float = 1e-3, ridge: float = 1e-3,
              u_fit: Optional[Tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = None,
              ) -> Tuple[torch.Tensor, "_ScaledCurve", float]:
    """Fit a monotone piecewise-linear ``g`` with ``g(p_i) - g(p0_i) = t_i`` on standardised coordinates.

    ``ridge`` (relative to the squared moves) damps the slopes and ``smooth`` penalises changes between
    neighbouring slopes. ``u_fit = (a, a0, u)`` (standardised latents ``[P, D]`` and the unit direction the
    coordinates were taken along) refines that direction jointly (the paper's joint descent); the
    coordinates are then ``a @ u``. Returns ``(u or None, g in t units, rmse in t units)``::

        g = fit_curve(coords_after, coords_before, t)[1]
    """
    t_scale = float(t.double().std()) if t.numel() > 1 and float(t.double().std()) > 0 else 1.0
    tt = (t.double() / t_scale).float()
    dp = (p - p0).double()
    slope = float((dp @ tt.double()) / dp.pow(2).sum().clamp(min=1e-12))  # t per unit coordinate, linear fit
    if not math.isfinite(slope) or dp.abs().max() < 1e-12:
        raise FloatingPointError("the coordinates did not move: nothing to calibrate")
    g = MonotoneCurve(slope=max(slope, 1e-6)).to(p.device)
    step = float(g.knots[1] - g.knots[0])
    if u_fit is not None:
        a, a0 = u_fit[0].float(), u_fit[1].float()
        lam = ridge * float((a - a0).pow(2).sum()) / a.shape[1] + 1e-12
        u_raw = torch.nn.Parameter(u_fit[2].float().clone())
        params = [u_raw, *g.parameters()]
    else:
        lam = ridge * float(dp.pow(2).sum()) + 1e-12
        u_raw, params = None, list(g.parameters())
    pf, p0f = p.float(), p0.float()
    lam_slope = lam / max(1, p.shape[0])  # the ridge weight per unit slope^2, as in a linear fit
    opt = torch.optim.Adam(params, lr=lr)

    def pred() -> torch.Tensor:
        if u_raw is None:
            return g(pf) - g(p0f)
        u = u_raw / u_raw.norm()
        return g(a @ u) - g(a0 @ u)

    for _ in range(iters):
        opt.zero_grad(set_to_none=True)
        slopes = F.softplus(g.raw) / step
        loss = ((pred() - tt).pow(2).mean() + lam_slope * slopes.pow(2).mean()
                + smooth * (slopes[1:] - slopes[:-1]).pow(2).mean())
        loss.backward()
        opt.step()
    with torch.no_grad():
        rmse = float((pred() - tt).pow(2).mean().sqrt()) * t_scale
        u = None if u_raw is None else (u_raw / u_raw.norm()).detach()
    return u, _ScaledCurve(g, t_scale), rmse


def fit_direction(lat: torch.Tensor, lat0: torch.Tensor, t: torch.Tensor, center: torch.Tensor, scale: float,
                  iters: int = 600, lr: float = 0.02, smooth: float = 1e-3, ridge: float = 1e-3,
                  fit_u: bool = False) -> Tuple[torch.Tensor, "_ScaledCurve", float]:
    """Fit unit ``u`` and monotone ``g`` with ``g(<u, lat - c>/r) - g(<u, lat0 - c>/r) = t`` on free moves.

    ``u`` is :func:`mean_move_direction`. Fitting ``u`` freely (the paper's joint gradient descent) is
    ill-posed with the few dozen trajectories a CPU budget allows: with fewer pairs than ~10x the latent
    size, it interpolates each sample's own small corrections and finds a direction with tiny moves and a
    huge slope, whose calibration is off by two orders of magnitude when used alone (measured on
    sprites-style with 12 samples: requested 430 px over the knot range, measured 6 px). ``fit_u=True``
    refines ``u`` jointly with ``g`` from that start, for large budgets. ``g`` (:func:`fit_curve`) is then
    fitted to the moves projected on ``u``. Returns ``(u [D], g, rmse)``; ``g`` acts on standardised
    coordinates ``<u, lat - c> / r`` and rmse is in t units. (:func:`factor_directions` recalibrates ``g``
    along ``u`` alone by default: see :func:`register_along`.)
    """
    a = (lat - center) / scale
    a0 = (lat0 - center) / scale
    u = mean_move_direction(a, a0, t)
    u_new, g, rmse = fit_curve(a @ u, a0 @ u, t, iters=iters, lr=lr, smooth=smooth, ridge=ridge,
                               u_fit=(a, a0, u) if fit_u else None)
    return (u if u_new is None else u_new), g, rmse


@torch.no_grad()
def register_along(space: "_Space", u: torch.Tensor, lat0: torch.Tensor, transform: Transform, name: str,
                   steps: Sequence[float], reach: float, loss: str = "blur", sigma: float = 1.0, n_grid: int = 41,
                   batch_size: int = 64, progress: bool = False) -> Dict[str, torch.Tensor]:
    """Line-search inversions along ``u``: for each sample and each ``t`` in ``+-steps``, the move
    ``delta`` along ``u`` alone whose render ``G(lat0 + delta u)`` best matches ``T_t(G(lat0))`` under the
    same masked loss as the inversions.

    A traversal moves along ``u`` only, so ``g`` is fitted to these pairs rather than to the free
    inversions, each of which also moves off ``u``, where part of its change is made (on sprites-style at
    step 12,897 the parts along ``u`` delivered 0.76 of the requested shift). Measured there on the 50-sample
    traversals (``benchmarks/fidelity.py``), the slope of measured against requested change went from
    0.85 / 0.81 (x / y, free) to 1.07 / 1.04 (line); the line searches' own moves, measured, deliver
    0.78-0.90 of ``t``, so what remains is not the calibration's alone. ``delta`` is searched on ``n_grid``
    points over ``[-reach, reach]`` (raw latent units), refined by a parabola through the best three;
    a minimum on the grid's edge counts as failed (``err`` = inf). Returns ``{"t", "delta", "err",
    "sample"}`` over all (sample, t) pairs.
    """
    deltas = torch.linspace(-reach, reach, n_grid, device=lat0.device)
    ts = [s * sign for s in sorted(float(v) for v in steps) for sign in (1.0, -1.0)]
    out: Dict[str, List[torch.Tensor]] = {"t": [], "delta": [], "err": [], "sample": []}
    n_batches = (lat0.shape[0] + batch_size - 1) // batch_size
    bar = tqdm(total=n_batches * n_grid, desc=f"calibrating {name} along u", disable=not progress, leave=False)
    for b0 in range(0, lat0.shape[0], batch_size):
        base = lat0[b0:b0 + batch_size]
        n = base.shape[0]
        x0 = space.render(base)
        losses = []
        for tv in ts:
            target, mask = _apply_transform(transform, name, x0, tv)
            losses.append(_Loss(target, mask, loss, sigma))
        E = torch.empty(n_grid, len(ts), n, device=lat0.device)
        for j, d in enumerate(deltas):
            img = space.render(base + d * u)
            for k, L in enumerate(losses):
                E[j, k] = L(img)
            bar.update(1)
        E = torch.where(torch.isfinite(E), E, torch.full_like(E, float("inf")))
        best = E.argmin(0)  # [T, N]
        j = best.clamp(1, n_grid - 2)
        em, e0, ep = (E.gather(0, (j + o)[None]).squeeze(0) for o in (-1, 0, 1))
        den = em - 2 * e0 + ep
        off = torch.where(den > 1e-12, 0.5 * (em - ep) / den.clamp(min=1e-12), torch.zeros_like(den)).clamp(-1, 1)
        delta = deltas[j] + off * float(deltas[1] - deltas[0])
        err = torch.where((best == 0) | (best == n_grid - 1), torch.full_like(e0, float("inf")),
                          E.gather(0, best[None]).squeeze(0))
        for k, tv in enumerate(ts):
            out["t"].append(torch.full((n,), tv, device=lat0.device))
            out["delta"].append(delta[k])
            out["err"].append(err[k])
            out["sample"].append(torch.arange(b0, b0 + n, device=lat0.device))
    bar.close()
    return {k: torch.cat(v) for k, v in out.items()}


class _ScaledCurve(torch.nn.Module):
    """``t_scale * g(p)``: a fitted curve mapped back to t units."""

    def __init__(self, g: MonotoneCurve, t_scale: float):
        super().__init__()
        self.g, self.t_scale = g, t_scale
        self.knots = g.knots

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        return self.g(p) * self.t_scale


def _to_units(name: str, t: torch.Tensor, resolution: int) -> Tuple[torch.Tensor, str]:
    if name in ("shift_x", "shift_y"):
        return t * resolution, "px"
    if name == "zoom":
        return 1.0 / (1.0 + t.clamp(min=-0.95)), "x zoom"
    if name == "brightness":
        return t, "brightness"
    return t, "t"


def _strictly_increasing(v: torch.Tensor) -> torch.Tensor:
    ramp = torch.arange(v.numel(), dtype=v.dtype) * 1e-7 * max(1.0, float(v.abs().max()))
    return torch.cummax(v, 0).values + ramp


def line_calibration(space: "_Space", u: torch.Tensor, lat0: torch.Tensor, transform: Transform, name: str,
                     steps: Sequence[float], reach: float, loss: str = "blur", sigma: float = 1.0,
                     drop_worst: float = 0.1, fit_iters: int = 600, batch_size: int = 64, progress: bool = False,
                     ) -> Tuple["_ScaledCurve", float, Dict[str, Any]]:
    """``g`` for direction ``u`` from :func:`register_along` (widening ``reach`` while most best moves
    sit on its edge), dropping the worst ``drop_worst`` of the line searches. Returns ``(g, rmse in t
    units, info)``."""
    for _ in range(4):
        reg = register_along(space, u, lat0, transform, name, steps, reach, loss, sigma, batch_size=batch_size,
                             progress=progress)
        e = reg["err"]
        if float(torch.isfinite(e).float().mean()) >= 0.5:
            break
        reach *= 2.5
    if not torch.isfinite(e).any():
        raise FloatingPointError(f"no line-search inversion along u matched {name!r} (every best move "
                                 "lies on the edge of the searched range)")
    k = e.argsort()[:max(2, int(round(e.numel() * (1 - drop_worst))))]
    k = k[torch.isfinite(e[k])]
    c0 = ((lat0 - space.center) / space.scale @ u)[reg["sample"][k]]
    _, g, rmse = fit_curve(c0 + reg["delta"][k] / space.scale, c0, reg["t"][k], iters=fit_iters)
    return g, rmse, {"line_pairs": int(e.numel()), "line_kept": int(k.numel()), "line_reach": reach,
                     "line_on_edge": int((~torch.isfinite(e)).sum())}


def calibration_entry(space: "_Space", u: torch.Tensor, g: torch.nn.Module, lat0: torch.Tensor, name: str,
                      resolution: int) -> Tuple[torch.Tensor, Dict[str, Any]]:
    """The record's calibration of one direction: ``g`` tabulated at its knots as raw coordinates
    ``alpha`` and factor values ``t`` in the transform's unit, relative to the median sample of
    ``lat0``, with ``u`` oriented so that the factor grows with alpha. Returns ``(u, entry)``."""
    with torch.no_grad():
        p_ref = ((lat0 - space.center) / space.scale @ u).median()
        knots = g.knots.cpu()
        t_knots = (g(g.knots) - g(p_ref.reshape(1))).cpu()
    t_user, unit = _to_units(name, t_knots, resolution)
    alpha = float(space.center @ u) + space.scale * knots
    if t_user[-1] < t_user[0]:
        u, alpha, t_user = -u, -alpha.flip(0), t_user.flip(0)
    t_user = _strictly_increasing(t_user)
    return u, {"unit": unit, "alpha": [float(a) for a in alpha], "t": [float(v) for v in t_user]}


# ----------------------------------------------------------------------------------------------
# the method

def factor_directions(model: Any, transforms: Union[Sequence[Union[str, Transform]], Mapping[str, Union[str, Transform]]] = (
        "shift_x", "shift_y", "zoom", "brightness"), n_samples: int = 64, steps: Sequence[float] = DEFAULT_STEPS,
        adam_steps: int = 50, lr: float = 0.01, loss: str = "blur", blur_sigma: Optional[float] = None,
        drop_worst: float = 0.1, space: Optional[str] = None, clip: Union[str, float, None] = "auto",
        optimizer: str = "adam_iso", calibrate: str = "line", seed: int = 0, batch_size: int = 64,
        fit_iters: int = 600, progress: bool = True) -> Directions:
    """Calibrated directions for image transforms, the way Plumerault et al. find them.

    ``transforms``: names among ``shift_x, shift_y, zoom, brightness``, callables
    ``T(images [B,3,H,W], t: float) -> (images, validity mask [B,1,H,W] or None)``, or a dict
    name -> either. ``steps``: the |t| walked each sign (shift t = fraction of the width). ``loss``:
    ``"blur"`` (the paper's texture-insensitive loss, Gaussian sigma ``3 * res / 128`` px) or ``"mse"``
    (plain pixel MSE, the baseline). Returns one calibrated direction per transform in ``space``
    (default the model's synthesis space). ``clip``: ``"auto"`` (``sqrt(d)`` in z as in the paper; the
    99th-percentile radius around the mean in w), ``None`` (no clipping) or a radius. ``calibrate``:
    ``"line"`` (default) fits ``g`` to line-search inversions along ``u`` alone (:func:`register_along`),
    the way a traversal moves; ``"free"`` fits it to the free inversions projected on ``u``, as the paper
    does, which over-promises when the inversions also move off ``u``::

        d = factor_directions(model, ("shift_x", "shift_y", "zoom"), n_samples=32, steps=(0.05, 0.1, 0.15))
        alpha = d.to_strength(d.index("shift_x"), 5.0)      # +5 px
        ws, img = render_edits(model, z, [Edit(d, "shift_x", alpha, mode="set")])
    """
    from .sampling import check_count

    check_count(n_samples, "n_samples", minimum=2)
    items = _resolve_transforms(transforms)
    if loss not in ("blur", "mse"):
        raise ValueError(f"loss must be 'blur' (the paper's blurred masked loss) or 'mse' (pixel baseline); got {loss!r}")
    steps = [float(s) for s in steps]
    if not steps or any(not math.isfinite(s) or s <= 0 for s in steps):
        raise ValueError(f"steps must be positive finite |t| values such as (0.1, 0.2, 0.3); got {steps}")
    if optimizer not in ("adam", "adam_iso"):
        raise ValueError(f"optimizer must be 'adam' (the paper's) or 'adam_iso' (rotation-invariant); got {optimizer!r}")
    if not 0 <= drop_worst < 1:
        raise ValueError(f"drop_worst must be in [0, 1); got {drop_worst}")
    if calibrate not in ("line", "free"):
        raise ValueError(f"calibrate must be 'line' (g fitted along u alone) or 'free' (the paper's: on the free "
                         f"inversions); got {calibrate!r}")
    if adam_steps < 1 or not (lr > 0):
        raise ValueError(f"adam_steps must be >= 1 and lr > 0; got {adam_steps}, {lr}")
    space = space or model.synthesis_space
    if space not in ("z", "w"):
        raise ValueError(f"space must be 'z' or 'w'; got {space!r}")
    if space == "w" and not model.has_mapping:
        space = "z"
    sp = _Space(model, space, seed, clip)
    sigma_px = blur_sigma if blur_sigma is not None else 3.0 * model.resolution / 128.0
    z0 = model.sample_z(n_samples, seed=seed)
    lat0 = sp.clip(sp.from_z(z0))

    vectors, sigmas, cals, per = [], [], [], {}
    for name, fn in items:
        traj = invert_trajectories(model, fn, lat0, steps, space=space, adam_steps=adam_steps, lr=lr, loss=loss,
                                   blur_sigma=sigma_px, batch_size=batch_size, name=name, progress=progress,
                                   optimizer=optimizer, _space=sp)
        err = traj["err"]
        if not torch.isfinite(err).any():
            raise FloatingPointError(f"every inversion for {name!r} diverged (check the transform and the model)")
        n_keep = max(2, int(round(err.numel() * (1 - drop_worst))))
        keep = err.argsort()[:n_keep]
        keep = keep[torch.isfinite(err[keep])]
        u, g, rmse = fit_direction(traj["lat"][keep], traj["lat0"][keep], traj["t"][keep], sp.center, sp.scale,
                                   iters=fit_iters)
        info_cal: Dict[str, Any] = {"fit_rmse_t_free": rmse}
        if calibrate == "line":
            reach = 1.6 * float(((traj["lat"][keep] - traj["lat0"][keep]) @ u).abs().max())
            g, rmse, line_info = line_calibration(sp, u, lat0, fn, name, steps, reach, loss, sigma_px, drop_worst,
                                                  fit_iters, batch_size, progress)
            info_cal.update(line_info)
        u, cal = calibration_entry(sp, u, g, lat0, name, model.resolution)
        vectors.append(u)
        raw = lat0 @ u
        sigmas.append(float(raw.std()))
        cals.append(cal)
        per[name] = {"pairs": int(err.numel()), "kept": int(n_keep), "err_kept_mean": float(err[keep].mean()),
                     "err_all_mean": float(err.mean()), "fit_rmse_t": rmse,
                     "coord_range": [float(raw.min()), float(raw.max())], **info_cal}

    options = {"transforms": [n for n, _ in items], "steps": steps, "adam_steps": adam_steps, "lr": lr, "loss": loss,
               "blur_sigma": sigma_px, "drop_worst": drop_worst, "space": space, "clip": clip, "optimizer": optimizer, "n_samples": n_samples,
               "fit_iters": fit_iters, "calibrate": calibrate}
    info = {"per_direction": per, "clip_radius": sp.radius, "center_norm": float(sp.center.norm()),
            "coordinate_scale": sp.scale, "knots": [-KNOT_RANGE, KNOT_RANGE, N_KNOTS],
            "traversal": "Edit(d, k, alpha, mode='set'): remove the component along u, set it to alpha; "
                         "alpha = d.to_strength(k, t) for a factor value t in the direction's unit"}
    return Directions(vectors=torch.stack(vectors).cpu(), space=space, sigma=torch.tensor(sigmas),
                      names=[n for n, _ in items], method="factors", options=options, samples=n_samples, seed=seed,
                      model_id=getattr(model, "name", ""), state={"center": sp.center.detach().cpu()}, info=info,
                      calibration=cals)


# ----------------------------------------------------------------------------------------------
# evaluation against the sprites world's ground truth

#: which sprites factor each built-in transform controls
FACTOR_OF = {"shift_x": "x", "shift_y": "y", "zoom": "scale"}
#: the fitting budget evaluate_factors uses when it fits directions itself (full, quick)
EVAL_FIT = {"n_samples": 32, "steps": (0.04, 0.08, 0.12), "adam_steps": 30, "lr": 0.05}
EVAL_FIT_QUICK = {"n_samples": 12, "steps": (0.05, 0.1), "adam_steps": 20, "lr": 0.05}


def _factor_value(meas: Dict[str, torch.Tensor], f: str) -> torch.Tensor:
    """x, y in image widths; scale as log(scale), so that differences are relative changes."""
    return meas["scale"].clamp(min=1e-4).log() if f == "scale" else meas[f]


def _requested(d: Directions, k: int, alpha: torch.Tensor, resolution: int) -> torch.Tensor:
    t = d.factor_of(k, alpha)
    unit = d.calibration[k]["unit"]  # type: ignore[index]
    if unit == "px":
        return t / resolution
    if unit == "x zoom":
        return t.clamp(min=1e-4).log()
    return t


def alpha_population(model: Any, space: str, seed: int = 0) -> torch.Tensor:
    """The 2048 sampled latents (in ``space``) whose coordinates set the default traversal range."""
    from .sampling import sample_latents

    z, lat = sample_latents(model, 2048, seed=seed + 4242)
    return z if space == "z" else lat


def coordinate_alphas(latents: torch.Tensor, u: torch.Tensor, n: int = 9) -> torch.Tensor:
    """``n`` coordinates along unit ``u`` spanning the 5th to 95th percentile of ``latents @ u``."""
    return torch.quantile((latents @ u.to(latents.device)).cpu(), torch.linspace(0.05, 0.95, n))


def traversal_z(model: Any, n_traversals: int, seed: int = 0) -> torch.Tensor:
    """The samples :func:`traversal_stats` traverses."""
    return model.sample_z(n_traversals, seed=seed + 101)


def default_alphas(model: Any, d: Directions, k: int, n: int = 9, seed: int = 0) -> torch.Tensor:
    """``n`` coordinates along direction k spanning the 5th to 95th percentile of sampled latents."""
    return coordinate_alphas(alpha_population(model, d.space, seed), d.vectors[k], n)


@torch.no_grad()
def traversal_stats(model: Any, d: Directions, n_traversals: int = 50, alphas: Optional[Sequence[float]] = None,
                    seed: int = 0, progress: bool = False) -> Dict[str, Dict[str, Any]]:
    """Measure the paper's traversals (``Edit(d, k, alpha, mode='set')`` on ``n_traversals`` samples
    at each alpha) for every direction of ``d`` named after a built-in geometric transform.

    Per factor (x, y, scale): ``spread`` (mean over alpha of the std over traversals; x, y in image
    widths, scale as log, i.e. relative), ``monotone`` (medians increase with alpha), ``r2`` (measured
    vs calibrated request over every traversal, slope fixed at 1, offset free since g is relative),
    ``r2_linear`` (free slope), ``r2_medians`` (as ``r2`` on the per-alpha medians: the calibration
    without the spread), ``drift`` (mean |change| of the other two factors from the unedited sample), ``clean``
    (fraction of clean renders), ``medians`` and ``alphas``.
    """
    from ..edit import Edit, render_edits
    from ..zoo import sprites

    z = traversal_z(model, n_traversals, seed)
    base = sprites.measure(model.generate(z))
    out: Dict[str, Dict[str, Any]] = {}
    names = [n for n in d.names if n in FACTOR_OF]
    for name in tqdm(names, desc="traversals", disable=not progress, leave=False):
        k = d.index(name)
        f = FACTOR_OF[name]
        al = torch.as_tensor(alphas, dtype=torch.float32) if alphas is not None else default_alphas(model, d, k, seed=seed)
        vals, others, clean = [], {o: [] for o in ("x", "y", "scale") if o != f}, []
        for a in al:
            _, img = render_edits(model, z, [Edit(d, k, float(a), mode="set")])
            m = sprites.measure(img)
            vals.append(_factor_value(m, f))
            clean.append(m["clean"])
            for o in others:
                others[o].append((_factor_value(m, o) - _factor_value(base, o)).abs())
        V = torch.stack(vals)  # [A, N]
        R = _requested(d, k, al, model.resolution)  # [A]
        med = V.median(1).values
        resid = V - R[:, None]
        resid = resid - resid.mean()
        tot = ((V - V.mean()) ** 2).sum().clamp(min=1e-12)
        Rb = R[:, None].expand_as(V).reshape(-1)
        A = torch.stack([Rb, torch.ones_like(Rb)], 1)
        sol = torch.linalg.lstsq(A.double(), V.reshape(-1, 1).double()).solution
        lin_res = V.reshape(-1).double() - (A.double() @ sol).squeeze(1)
        mres = med - R
        mres = mres - mres.mean()
        out[f] = {
            "direction": name, "spread": float(V.std(1).mean()), "monotone": bool((med[1:] >= med[:-1]).all()),
            "r2": float(1 - (resid ** 2).sum() / tot), "r2_linear": float(1 - (lin_res ** 2).sum() / tot.double()),
            "r2_medians": float(1 - (mres ** 2).sum() / ((med - med.mean()) ** 2).sum().clamp(min=1e-12)),
            "slope": float(sol[0]), "drift": float(torch.stack([torch.stack(v).mean() for v in others.values()]).mean()),
            "clean": float(torch.stack(clean).mean()), "medians": [float(v) for v in med],
            "requested": [float(v) for v in R], "alphas": [float(v) for v in al],
        }
    return out


def evaluate_factors(model: Any, directions: Optional[Directions] = None, n_traversals: int = 50,
                     alphas: Optional[Sequence[float]] = None, seed: int = 0, quick: bool = False,
                     directions_mse: Optional[Directions] = None, fit_options: Optional[Dict[str, Any]] = None,
                     progress: bool = True) -> Dict[str, Any]:
    """Fidelity of calibrated factor directions on a sprites model (x, y, scale measured by ``sprites.measure``).

    Fits shift_x / shift_y / zoom directions when ``directions`` is None (budget :data:`EVAL_FIT`,
    or :data:`EVAL_FIT_QUICK` with ``quick``; override with ``fit_options``), and the same with the
    pixel-MSE loss for the baseline unless ``directions_mse`` is given. Returns dicts keyed by
    factor: ``factors_spread``, ``factors_monotone``, ``factors_r2``, ``factors_drift``,
    ``factors_spread_mse``, plus ``factors_details`` (everything :func:`traversal_stats` measures)::

        res = evaluate_factors(latentwidgets.load("sprites-style"), quick=True)
        res["factors_spread"]["x"]      # std of x over traversals at fixed alpha, in image widths
    """
    import time

    if n_traversals < 2:
        raise ValueError(f"n_traversals must be >= 2 (a spread needs samples); got {n_traversals}")
    if quick:
        n_traversals = min(n_traversals, 16)
    fit = dict(EVAL_FIT_QUICK if quick else EVAL_FIT)
    fit.update(fit_options or {})
    timings = {}
    if directions is None:
        t0 = time.time()
        directions = factor_directions(model, ("shift_x", "shift_y", "zoom"), seed=seed, progress=progress, **fit)
        timings["fit_seconds"] = time.time() - t0
    if directions_mse is None:
        t0 = time.time()
        directions_mse = factor_directions(model, ("shift_x", "shift_y", "zoom"), seed=seed, progress=progress,
                                           **{**fit, "loss": "mse"})
        timings["fit_mse_seconds"] = time.time() - t0
    main = traversal_stats(model, directions, n_traversals, alphas, seed, progress)
    mse = traversal_stats(model, directions_mse, n_traversals, alphas, seed, progress)
    return {
        "factors_spread": {f: v["spread"] for f, v in main.items()},
        "factors_monotone": {f: v["monotone"] for f, v in main.items()},
        "factors_r2": {f: v["r2"] for f, v in main.items()},
        "factors_drift": {f: v["drift"] for f, v in main.items()},
        "factors_spread_mse": {f: v["spread"] for f, v in mse.items()},
        "factors_details": {"blur": main, "mse": mse, "fit": {k: list(v) if isinstance(v, tuple) else v for k, v in fit.items()},
                            "n_traversals": n_traversals, **timings},
    }
