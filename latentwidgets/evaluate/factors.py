"""Fidelity of calibrated factor directions (Plumerault et al.) on a sprites model: the paper's
traversals measured with ``sprites.measure`` (spread, monotonicity, r2 against the calibration, drift).

    res = evaluate_factors(latentwidgets.load("sprites-style"), quick=True)
    res["factors_spread"]["x"]                  # std of x over traversals at fixed alpha, in image widths
    stats = traversal_stats(model, d)           # per factor, everything one record's traversals show
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import torch
from tqdm.auto import tqdm

from ..directions.factors import factor_directions
from ..directions.record import Directions
from ..directions.sampling import sample_latents
from ..edit import Edit, render_edits
from ..models.base import LatentModel
from ..zoo import sprites

#: which sprites factor each built-in transform controls
FACTOR_OF = {"shift_x": "x", "shift_y": "y", "zoom": "scale"}
#: the fitting budget evaluate_factors uses when it fits directions itself (full, quick)
EVAL_FIT = {"n_samples": 32, "steps": (0.04, 0.08, 0.12), "adam_steps": 30, "lr": 0.05}
EVAL_FIT_QUICK = {"n_samples": 12, "steps": (0.05, 0.1), "adam_steps": 20, "lr": 0.05}


def factor_value(meas: dict[str, torch.Tensor], f: str) -> torch.Tensor:
    """The measured factor ``f`` as traversals compare it: x, y in image widths; scale as log(scale), so
    that differences are relative changes."""
    return meas["scale"].clamp(min=1e-4).log() if f == "scale" else meas[f]


def _requested(d: Directions, k: int, alpha: torch.Tensor, resolution: int) -> torch.Tensor:
    t = d.factor_of(k, alpha)
    unit = d.calibration[k]["unit"]  # type: ignore[index]
    if unit == "px":
        return t / resolution
    if unit == "x zoom":
        return t.clamp(min=1e-4).log()
    return t


def alpha_population(model: LatentModel, space: str, seed: int = 0) -> torch.Tensor:
    """The 2048 sampled latents (in ``space``) whose coordinates set the default traversal range."""
    z, lat = sample_latents(model, 2048, seed=seed + 4242)
    return z if space == "z" else lat


def coordinate_alphas(latents: torch.Tensor, u: torch.Tensor, n: int = 9) -> torch.Tensor:
    """``n`` coordinates along unit ``u`` spanning the 5th to 95th percentile of ``latents @ u``."""
    return torch.quantile((latents @ u.to(latents.device)).cpu(), torch.linspace(0.05, 0.95, n))


def traversal_z(model: LatentModel, n_traversals: int, seed: int = 0) -> torch.Tensor:
    """The samples :func:`traversal_stats` traverses."""
    return model.sample_z(n_traversals, seed=seed + 101)


def default_alphas(model: LatentModel, d: Directions, k: int, n: int = 9, seed: int = 0) -> torch.Tensor:
    """``n`` coordinates along direction k spanning the 5th to 95th percentile of sampled latents."""
    return coordinate_alphas(alpha_population(model, d.space, seed), d.vectors[k], n)


@torch.no_grad()
def traversal_stats(model: LatentModel, d: Directions, n_traversals: int = 50, alphas: Sequence[float] | None = None,
                    seed: int = 0, progress: bool = False) -> dict[str, dict[str, Any]]:
    """Measure the paper's traversals (``Edit(d, k, alpha, mode='set')`` on ``n_traversals`` samples
    at each alpha) for every direction of ``d`` named after a built-in geometric transform.

    Per factor (x, y, scale): ``spread`` (mean over alpha of the std over traversals; x, y in image
    widths, scale as log, i.e. relative), ``monotone`` (medians increase with alpha), ``r2`` (measured
    vs calibrated request over every traversal, slope fixed at 1, offset free since g is relative),
    ``r2_linear`` (free slope), ``r2_medians`` (as ``r2`` on the per-alpha medians: the calibration
    without the spread), ``drift`` (mean |change| of the other two factors from the unedited sample), ``clean``
    (fraction of clean renders), ``medians`` and ``alphas``.
    """
    z = traversal_z(model, n_traversals, seed)
    base = sprites.measure(model.generate(z))
    out: dict[str, dict[str, Any]] = {}
    names = [n for n in d.names if n in FACTOR_OF]
    for name in tqdm(names, desc="traversals", disable=not progress, leave=False):
        k = d.index(name)
        f = FACTOR_OF[name]
        al = (torch.as_tensor(alphas, dtype=torch.float32) if alphas is not None
              else default_alphas(model, d, k, seed=seed))
        others: dict[str, list[torch.Tensor]] = {o: [] for o in ("x", "y", "scale") if o != f}
        vals, clean = [], []
        for a in al:
            _, img = render_edits(model, z, [Edit(d, k, float(a), mode="set")])
            m = sprites.measure(img)
            vals.append(factor_value(m, f))
            clean.append(m["clean"])
            for o in others:
                others[o].append((factor_value(m, o) - factor_value(base, o)).abs())
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
            "slope": float(sol[0]),
            "drift": float(torch.stack([torch.stack(v).mean() for v in others.values()]).mean()),
            "clean": float(torch.stack(clean).mean()), "medians": [float(v) for v in med],
            "requested": [float(v) for v in R], "alphas": [float(v) for v in al],
        }
    return out


def evaluate_factors(model: LatentModel, directions: Directions | None = None, n_traversals: int = 50,
                     alphas: Sequence[float] | None = None, seed: int = 0, quick: bool = False,
                     directions_mse: Directions | None = None, fit_options: dict[str, Any] | None = None,
                     progress: bool = True) -> dict[str, Any]:
    """Fidelity of calibrated factor directions on a sprites model (x, y, scale measured by ``sprites.measure``).

    Fits shift_x / shift_y / zoom directions when ``directions`` is None (budget :data:`EVAL_FIT`,
    or :data:`EVAL_FIT_QUICK` with ``quick``; override with ``fit_options``), and the same with the
    pixel-MSE loss for the baseline unless ``directions_mse`` is given. Returns dicts keyed by
    factor: ``factors_spread``, ``factors_monotone``, ``factors_r2``, ``factors_drift``,
    ``factors_spread_mse``, plus ``factors_details`` (everything :func:`traversal_stats` measures)::

        res = evaluate_factors(latentwidgets.load("sprites-style"), quick=True)
        res["factors_spread"]["x"]      # std of x over traversals at fixed alpha, in image widths
    """
    if n_traversals < 2:
        raise ValueError(f"n_traversals must be >= 2 (a spread needs samples); got {n_traversals}")
    if quick:
        n_traversals = min(n_traversals, 16)
    fit: dict[str, Any] = dict(EVAL_FIT_QUICK if quick else EVAL_FIT)
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
        "factors_details": {"blur": main, "mse": mse,
                            "fit": {k: list(v) if isinstance(v, tuple) else v for k, v in fit.items()},
                            "n_traversals": n_traversals, **timings},
    }
