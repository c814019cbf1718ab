"""Calibration of continuous factors: the unit direction ``u`` the inversions follow and the monotone
curve ``g`` from the coordinate along ``u`` to the factor value, fitted to the free inversions or to
line searches along ``u`` alone, and tabulated as the record's knots::

    u, g, rmse = fit_direction(traj["lat"], traj["lat0"], traj["t"], sp.center, sp.scale)
    g, rmse, info = line_calibration(sp, u, lat0, shift_x, "shift_x", steps, reach)
    u, entry = calibration_entry(sp, u, g, lat0, "shift_x", model.resolution)   # {"unit": "px", "alpha", "t"}
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .inversion import InversionSpace, MaskedLoss
from .transforms import Transform, apply_transform

N_KNOTS = 101
KNOT_RANGE = 5.0


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
              u_fit: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
              ) -> tuple[torch.Tensor, ScaledCurve, float]:
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
    return u, ScaledCurve(g, t_scale), rmse


def fit_direction(lat: torch.Tensor, lat0: torch.Tensor, t: torch.Tensor, center: torch.Tensor, scale: float,
                  iters: int = 600, lr: float = 0.02, smooth: float = 1e-3, ridge: float = 1e-3,
                  fit_u: bool = False) -> tuple[torch.Tensor, ScaledCurve, float]:
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
def register_along(space: InversionSpace, u: torch.Tensor, lat0: torch.Tensor, transform: Transform, name: str,
                   steps: Sequence[float], reach: float, loss: str = "blur", sigma: float = 1.0, n_grid: int = 41,
                   batch_size: int = 64, progress: bool = False) -> dict[str, torch.Tensor]:
    """Line-search inversions along ``u``: for each sample and each ``t`` in ``+-steps``, the move
    ``delta`` along ``u`` alone whose render ``G(lat0 + delta u)`` best matches ``T_t(G(lat0))`` under the
    same masked loss as the inversions.

    A traversal moves along ``u`` only, so ``g`` is fitted to these pairs rather than to the free
    inversions, each of which also moves off ``u``, where part of its change is made (what that did to
    the calibration, measured: ``docs/measurements.md``). ``delta`` is searched on ``n_grid``
    points over ``[-reach, reach]`` (raw latent units), refined by a parabola through the best three;
    a minimum on the grid's edge counts as failed (``err`` = inf). Returns ``{"t", "delta", "err",
    "sample"}`` over all (sample, t) pairs.
    """
    deltas = torch.linspace(-reach, reach, n_grid, device=lat0.device)
    ts = [s * sign for s in sorted(float(v) for v in steps) for sign in (1.0, -1.0)]
    out: dict[str, list[torch.Tensor]] = {"t": [], "delta": [], "err": [], "sample": []}
    n_batches = (lat0.shape[0] + batch_size - 1) // batch_size
    bar = tqdm(total=n_batches * n_grid, desc=f"calibrating {name} along u", disable=not progress, leave=False)
    for b0 in range(0, lat0.shape[0], batch_size):
        base = lat0[b0:b0 + batch_size]
        n = base.shape[0]
        x0 = space.render(base)
        losses = []
        for tv in ts:
            target, mask = apply_transform(transform, name, x0, tv)
            losses.append(MaskedLoss(target, mask, loss, sigma))
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


class ScaledCurve(torch.nn.Module):
    """``t_scale * g(p)``: a fitted curve mapped back to t units."""

    def __init__(self, g: MonotoneCurve, t_scale: float):
        super().__init__()
        self.g, self.t_scale = g, t_scale
        self.knots = g.knots

    def forward(self, p: torch.Tensor) -> torch.Tensor:
        return self.g(p) * self.t_scale


def _to_units(name: str, t: torch.Tensor, resolution: int) -> tuple[torch.Tensor, str]:
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


def line_calibration(space: InversionSpace, u: torch.Tensor, lat0: torch.Tensor, transform: Transform, name: str,
                     steps: Sequence[float], reach: float, loss: str = "blur", sigma: float = 1.0,
                     drop_worst: float = 0.1, fit_iters: int = 600, batch_size: int = 64, progress: bool = False,
                     ) -> tuple[ScaledCurve, float, dict[str, Any]]:
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


def calibration_entry(space: InversionSpace, u: torch.Tensor, g: torch.nn.Module, lat0: torch.Tensor, name: str,
                      resolution: int) -> tuple[torch.Tensor, dict[str, Any]]:
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
