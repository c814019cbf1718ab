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
second-moment scalar per sample, so moves stay in the span of the gradients (it recovers planted
directions better: ``docs/measurements.md``); ``optimizer="adam"`` is the paper's. The fit of ``u``
adds a small ridge penalty on the slope of ``g`` (see ``calibration.fit_direction``).

Fitting ``u`` and ``g``: the paper fits both jointly on the inverted latents. Here ``u`` is the mean
move per unit ``t`` (a joint fit is ill-posed with CPU-sized budgets, see ``calibration.fit_direction``), and
``g`` is fitted, by default (``calibrate="line"``), to line-search inversions along ``u`` alone
(``calibration.register_along``): the traversal moves along ``u`` only, while each free inversion also moves
off ``u`` and makes part of its change there, so a ``g`` fitted to the free inversions promises more
than the traversals deliver (measured: ``docs/measurements.md``). ``calibrate="free"`` is the
paper's fit.

Calibration units (per direction, ``t`` increases with ``alpha``): shifts in ``"px"``, zoom as the
multiplicative ``"x zoom"`` factor relative to the typical sample (the direction is oriented so that
larger alpha = larger object), brightness in ``"brightness"`` (added intensity), callables in ``"t"``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ..models.base import LatentModel
from .calibration import KNOT_RANGE, N_KNOTS, calibration_entry, fit_direction, line_calibration
from .inversion import InversionSpace, invert_trajectories
from .record import Directions
from .transforms import Transform, resolve_transforms

DEFAULT_STEPS = (0.1, 0.2, 0.3, 0.4, 0.5)


# ----------------------------------------------------------------------------------------------
# the method

TransformSpec = Sequence[str | Transform] | Mapping[str, str | Transform]


def factor_directions(model: LatentModel, transforms: TransformSpec = (
        "shift_x", "shift_y", "zoom", "brightness"), n_samples: int = 64, steps: Sequence[float] = DEFAULT_STEPS,
        adam_steps: int = 50, lr: float = 0.01, loss: str = "blur", blur_sigma: float | None = None,
        drop_worst: float = 0.1, space: str | None = None, clip: str | float | None = "auto",
        optimizer: str = "adam_iso", calibrate: str = "line", seed: int = 0, batch_size: int = 64,
        fit_iters: int = 600, progress: bool = True) -> Directions:
    """Calibrated directions for image transforms, the way Plumerault et al. find them.

    Returns one calibrated direction per transform in ``space``; ``d.to_strength(k, value)`` gives the
    coordinate that makes the requested change (pixels, zoom factor, brightness)::

        d = factor_directions(model, ("shift_x", "shift_y", "zoom"), n_samples=32, steps=(0.05, 0.1, 0.15))
        alpha = d.to_strength(d.index("shift_x"), 5.0)      # +5 px
        ws, img = render_edits(model, z, [Edit(d, "shift_x", alpha, mode="set")])

    Args:
        transforms: names among ``shift_x, shift_y, zoom, brightness``, callables
            ``T(images [B,3,H,W], t: float) -> (images, validity mask [B,1,H,W] or None)``, or a dict name -> either.
        n_samples: sample latents whose transformed images are inverted.
        steps: the |t| walked on each sign (a shift's t is a fraction of the width).
        adam_steps: optimiser steps of each inversion step.
        lr: the inversions' learning rate.
        loss: ``"blur"`` (the paper's texture-insensitive loss) or ``"mse"`` (plain pixel MSE, the baseline).
        blur_sigma: the blur's Gaussian sigma in pixels (None: ``3 * resolution / 128``).
        drop_worst: share of the inversions with the largest error left out of the fit, in [0, 1).
        space: where the directions live (default the model's synthesis space).
        clip: ``"auto"`` (norm ``sqrt(d)`` in z as in the paper; the 99th-percentile radius around the mean
            in w), None (no clipping) or a radius.
        optimizer: ``"adam_iso"`` (one second moment per sample: rotation-invariant) or ``"adam"`` (the paper's).
        calibrate: ``"line"`` fits ``g`` to line-search inversions along ``u`` alone
            (``calibration.register_along``), the way a traversal moves; ``"free"`` fits it to the free
            inversions projected on ``u``, as the paper does, which over-promises when they also move off ``u``.
        seed: seed of the sample latents.
        batch_size: latents inverted together.
        fit_iters: optimiser steps that fit the calibration curve ``g``.
        progress: show a progress bar.
    """
    from .sampling import check_count

    check_count(n_samples, "n_samples", minimum=2)
    items = resolve_transforms(transforms)
    if loss not in ("blur", "mse"):
        raise ValueError(f"loss must be 'blur' (the paper's blurred masked loss) or 'mse' (pixel baseline); "
                         f"got {loss!r}")
    steps = [float(s) for s in steps]
    if not steps or any(not math.isfinite(s) or s <= 0 for s in steps):
        raise ValueError(f"steps must be positive finite |t| values such as (0.1, 0.2, 0.3); got {steps}")
    if optimizer not in ("adam", "adam_iso"):
        raise ValueError(f"optimizer must be 'adam' (the paper's) or 'adam_iso' (rotation-invariant); "
                         f"got {optimizer!r}")
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
    sp = InversionSpace(model, space, seed, clip)
    sigma_px = blur_sigma if blur_sigma is not None else 3.0 * model.resolution / 128.0
    z0 = model.sample_z(n_samples, seed=seed)
    lat0 = sp.clip(sp.from_z(z0))

    vectors, sigmas, per = [], [], {}
    cals: list[dict[str, Any] | None] = []
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
        info_cal: dict[str, Any] = {"fit_rmse_t_free": rmse}
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
               "blur_sigma": sigma_px, "drop_worst": drop_worst, "space": space, "clip": clip, "optimizer": optimizer,
               "n_samples": n_samples,
               "fit_iters": fit_iters, "calibrate": calibrate}
    info = {"per_direction": per, "clip_radius": sp.radius, "center_norm": float(sp.center.norm()),
            "coordinate_scale": sp.scale, "knots": [-KNOT_RANGE, KNOT_RANGE, N_KNOTS],
            "traversal": "Edit(d, k, alpha, mode='set'): remove the component along u, set it to alpha; "
                         "alpha = d.to_strength(k, t) for a factor value t in the direction's unit"}
    return Directions(vectors=torch.stack(vectors).cpu(), space=space, sigma=torch.tensor(sigmas),
                      names=[n for n, _ in items], method="factors", options=options, samples=n_samples, seed=seed,
                      model_id=getattr(model, "name", ""), state={"center": sp.center.detach().cpu()}, info=info,
                      calibration=cals)
