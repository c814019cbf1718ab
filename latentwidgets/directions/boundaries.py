"""InterFaceGAN boundaries: a linear SVM per attribute on the top and bottom percent of samples, its
unit normal the direction, optionally conditioned on (projected off) other attributes' normals, and
the binned-median calibration of a coordinate to attribute values::

    names, normals, intercepts = fit_boundaries(lat, {"x": x_values, "hue": hues}, circular=["hue"],
                                                percent=2.0, condition_on=["x"])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from tqdm.auto import tqdm


def linear_svm(x: torch.Tensor, y: torch.Tensor, c: float = 1.0, iters: int = 300) -> tuple[torch.Tensor, float]:
    """Linear SVM (squared hinge, L2 penalty ``1 / (2 c n)``) on features ``x [N, D]``, labels 0/1.
    Features are standardised inside; returns ``(normal [D] in x's coordinates, intercept)`` with
    decision ``x @ normal + intercept`` (positive = label 1), the normal of unit length."""
    mu, sd = x.mean(0), x.std(0).clamp(min=1e-6)
    xs = ((x - mu) / sd).double()
    s = (2 * y.double() - 1)
    w = torch.zeros(x.shape[1], dtype=torch.float64, requires_grad=True)
    b = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], lr=1, max_iter=iters, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        margin = (1 - s * (xs @ w + b)).clamp(min=0)
        loss = margin.pow(2).mean() + 0.5 / (c * x.shape[0]) * w.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        wr = (w / sd.double())
        br = float(b) - float((wr * mu.double()).sum())
        nrm = float(wr.norm()) or 1.0
        return (wr / nrm).float(), br / nrm


def median_calibration(coord: torch.Tensor, values: torch.Tensor, bins: int = 20) -> dict[str, Any] | None:
    """Calibration knots ``{"alpha", "t"}`` from a boundary coordinate to attribute values: the medians of
    both in ``bins`` quantile bins, ``t`` made increasing (None when fewer than 3 bins hold 3 samples)."""
    qs = torch.quantile(coord, torch.linspace(0, 1, bins + 1))
    a, t = [], []
    for i in range(bins):
        sel = (coord >= qs[i]) & (coord <= qs[i + 1])
        if int(sel.sum()) >= 3:
            a.append(float(coord[sel].median()))
            t.append(float(values[sel].median()))
    if len(a) < 3:
        return None
    tt = torch.cummax(torch.tensor(t), 0).values
    tt = tt + torch.arange(len(tt)) * 1e-7 * max(1.0, float(tt.abs().max()))
    return {"alpha": a, "t": [float(v) for v in tt]}


def _base(name: str) -> str:
    """The attribute a boundary belongs to (``hue_cos`` -> ``hue``)."""
    return name[:-4] if name.endswith(("_cos", "_sin")) else name


def boundary_columns(targets: dict[str, torch.Tensor], circular: Sequence[str]) -> dict[str, torch.Tensor]:
    """The scores each boundary separates: the attribute's values, or ``cos`` and ``sin`` of a circular one's
    angle (``<name>_cos``, ``<name>_sin``), in the order of ``targets``."""
    cols: dict[str, torch.Tensor] = {}
    for name, v in targets.items():
        if name in circular:
            cols[f"{name}_cos"], cols[f"{name}_sin"] = torch.cos(2 * math.pi * v), torch.sin(2 * math.pi * v)
        else:
            cols[name] = v
    return cols


def extreme_count(n: int, percent: float) -> int:
    """How many samples make the top (and the bottom) ``percent`` % of ``n``: ``max(2, round(n percent / 100))``."""
    return max(2, int(round(n * percent / 100.0)))


def fit_boundaries(lat: torch.Tensor, targets: dict[str, torch.Tensor], circular: Sequence[str], percent: float,
                   condition_on: Sequence[str], progress: bool = False,
                   selections: dict[str, torch.Tensor] | None = None
                   ) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """One SVM boundary per attribute of ``targets`` (two, ``<name>_cos`` and ``<name>_sin``, for a
    ``circular`` one) on the top and bottom ``percent`` % of latents ``lat [N, D]``; with
    ``condition_on``, each normal projected off the normals of the other listed attributes.
    ``selections`` (column name -> rows of ``lat``: the bottom k, then the top k, as a stream selected them)
    replaces the selection from ``targets``. Returns ``(names, unit normals [K, D], intercepts [K])``."""
    names, normals, intercepts = [], [], []
    cols = boundary_columns(targets, circular)
    for cname in tqdm(list(cols), desc="boundaries", disable=not progress, leave=False):
        if selections is not None:
            idx = selections[cname]
            k = idx.numel() // 2
        else:
            col = cols[cname]
            k = extreme_count(col.shape[0], percent)
            order = col.argsort()
            idx = torch.cat([order[:k], order[-k:]])
        y = torch.cat([torch.zeros(k), torch.ones(k)])
        normal, b = linear_svm(lat[idx].cpu(), y)
        names.append(cname)
        normals.append(normal)
        intercepts.append(b)
    N = torch.stack(normals)
    if condition_on:
        cond = []
        for c in condition_on:
            hits = [i for i, nm in enumerate(names) if nm == c or nm in (f"{c}_cos", f"{c}_sin")]
            if not hits:
                raise ValueError(f"condition_on: no boundary named {c!r}; boundaries: {names}")
            cond += hits
        out = N.clone()
        for i in range(len(names)):
            others = [j for j in cond if _base(names[j]) != _base(names[i])]
            if others:
                B = N[others].double().t()  # [D, m]
                proj = B @ torch.linalg.lstsq(B, N[i].double().unsqueeze(1)).solution
                r = N[i].double() - proj.squeeze(1)
                if float(r.norm()) < 1e-6:
                    raise ValueError(f"{names[i]!r} lies in the span of the boundaries it is conditioned on")
                out[i] = (r / r.norm()).float()
        N = out
    return names, N, torch.tensor(intercepts)
