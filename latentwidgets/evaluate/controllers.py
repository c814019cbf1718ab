"""Explicit control by attribute controllers on a sprites model: request x, y, scale or hue, apply the
controller (``edit.edits_for``, i.e. ``set_attribute``'s offsets), measure with ``sprites.measure``
(error to the request, drift of the others)::

    res = evaluate_controllers(latentwidgets.load("sprites-style"), quick=True)
    res["control_error"]["x"]          # mean |measured - requested| x, in image widths
"""

from __future__ import annotations

import time
from typing import Any

import torch

from ..directions.attribute import attribute_directions, measure_attributes
from ..directions.record import Directions
from ..directions.sampling import sample_latents
from ..edit import edits_for, render_edits
from ..models.base import LatentModel
from ..zoo import sprites
from ..zoo.sprites import CIRCULAR_FACTORS

CONTROL_ATTRIBUTES = ("x", "y", "scale", "hue")
EVAL_CONTROLLER_FIT = {"n_samples": 6000}
EVAL_CONTROLLER_FIT_QUICK = {"n_samples": 1500, "pred_iters": 800, "ctrl_iters": 400}


def _attr_error(name: str, measured: torch.Tensor, wanted: torch.Tensor) -> torch.Tensor:
    """x, y in image widths; scale relative (|m / w - 1|); hue circular distance."""
    if name in CIRCULAR_FACTORS:
        return sprites.hue_distance(measured, wanted)
    if name == "scale":
        return (measured / wanted.clamp(min=1e-4) - 1).abs()
    return (measured - wanted).abs()


@torch.no_grad()
def _controls(model, d, n, seed, attrs):
    z, w = sample_latents(model, n, seed=seed + 555)
    base = measure_attributes(model, (z if d.space == "z" else w).cpu(), d.space, "sprites")
    g = torch.Generator().manual_seed(seed + 556)
    err, drift, details = {}, {}, {}
    for a in attrs:
        wanted = base[a][torch.randperm(n, generator=g)]  # requests drawn from the model's own range
        got = sprites.measure(render_edits(model, z, edits_for(model, d, a, wanted, z))[1])
        e = _attr_error(a, got[a], wanted)
        others = [o for o in CONTROL_ATTRIBUTES if o != a]
        dr = torch.stack([_attr_error(o, got[o], base[o]) for o in others])  # [O, N]
        err[a], drift[a] = float(e.mean()), float(dr.mean())
        details[a] = {"median_error": float(e.median()),
                      "drift_by": {o: float(dr[i].mean()) for i, o in enumerate(others)},
                      "clean": float(got["clean"].mean()),
                      "baseline_error": float(_attr_error(a, base[a], wanted).mean())}
    return err, drift, details


def evaluate_controllers(model: LatentModel, directions: Directions | None = None, n: int = 200, seed: int = 0,
                         quick: bool = False, fit_options: dict[str, Any] | None = None,
                         progress: bool = True) -> dict[str, Any]:
    """Explicit control on a sprites model: request x, y, scale or hue for ``n`` samples (values drawn
    from the model's own range), apply the controller through :func:`~latentwidgets.edit.edits_for` (the
    offsets of :func:`~latentwidgets.directions.controllers.set_attribute`), measure with ``sprites.measure``.

    Returns ``control_error`` (mean |measured - requested|: x, y in image widths, scale relative,
    hue circular) and ``control_drift`` (mean change of the other three of x, y, scale, hue, same
    units), dicts keyed by attribute, plus ``control_details`` (``baseline_error`` = the error of doing
    nothing)::

        res = evaluate_controllers(latentwidgets.load("sprites-style"), quick=True)
    """
    if n < 2:
        raise ValueError(f"n must be >= 2; got {n}")
    if quick:
        n = min(n, 64)
    t0 = time.time()
    fit: dict[str, Any] = dict(EVAL_CONTROLLER_FIT_QUICK if quick else EVAL_CONTROLLER_FIT)
    fit.update(fit_options or {})
    if directions is None:
        directions = attribute_directions(model, "sprites", kind="controller", seed=seed, progress=progress, **fit)
    fit_s = time.time() - t0
    missing = [a for a in CONTROL_ATTRIBUTES if a not in directions.names]
    if missing:
        raise ValueError(f"the controllers lack {missing}; fit them with attributes='sprites'")
    err, drift, details = _controls(model, directions, n, seed, CONTROL_ATTRIBUTES)
    return {"control_error": err, "control_drift": drift,
            "control_details": {**details, "fit_seconds": fit_s, "n": n,
                                "fit": fit, "space": directions.space,
                                **{k: v for k, v in directions.info.get("controllers", {}).items()
                                   if k.startswith("predictor")}}}
