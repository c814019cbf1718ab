"""Applying and rendering edits: moving latents along directions, over layer ranges, in z, w or an activation space.

An :class:`~latentwidgets.directions.edits.Edit` (the value, defined beside ``Directions`` and
importable from here) is (directions record, which direction, strength, layer range, mode);
``strength`` counts in sigma units of the direction, ``mode="set"`` sets the coordinate instead,
``mode="offset"`` adds per-sample latent offsets (an attribute controller's).
Applying edits is pure tensor arithmetic, and one function serves widgets, figures, benchmarks and
notebooks::

    z = model.sample_z(4, seed=0)
    ws, images = render_edits(model, z, [Edit(d, 0, 2.0, layers=(0, 4))])

A slider value becomes edits in one place, :func:`edits_for`, for every kind of direction (linear in
sigma, calibrated factors in their unit, TCA with its activation part, attribute controllers in the
attribute's own units), and :func:`value_range` says what a slider for it shows; widgets, figures and
evaluation ask these two instead of deciding::

    edits = edits_for(model, d, "x", 0.3, z)          # whatever kind of direction "x" is
    value_range(d, "x")                               # {'kind': ..., 'unit': ..., 'min': ..., 'max': ...}

Order: z-space edits act on z before the mapping; w-space edits act on the per-layer latents
``[B, L, D]`` within their layer range (all layers if None; a group name such as ``"coarse"`` is
resolved here, against the model's number of layers); activation edits are added at their layer
through the model's hooks while synthesising.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from typing import Any

import torch

from .directions.controllers import attribute_offset, attribute_range
from .directions.edits import Edit
from .directions.layers import LayerSpec
from .directions.record import Directions
from .directions.tensor import tca_edits
from .models.base import LatentModel

__all__ = ["Edit", "apply_latent_edits", "activation_edits", "render_edits", "strengths_grid", "factor_edit",
           "edits_for", "value_range", "direction_kind"]


def _strength(edit: Edit, batch: int, device: torch.device) -> torch.Tensor:
    s = torch.as_tensor(edit.strength, dtype=torch.float32, device=device).reshape(-1)
    if s.numel() == 1:
        s = s.expand(batch)
    if s.numel() != batch:
        raise ValueError(f"edit {edit.name}: strength has {s.numel()} values for a batch of {batch}")
    return s


def _move(x: torch.Tensor, edit: Edit) -> torch.Tensor:
    """Apply one edit to ``x`` of shape ``[B, ..., D]`` (D = the direction's dim)."""
    b = x.shape[0]
    if edit.mode == "offset":
        off = torch.as_tensor(edit.strength).to(x.device, x.dtype)
        if off.shape[0] != b:
            raise ValueError(f"edit {edit.name}: offsets for {off.shape[0]} samples, a batch of {b}")
        return x + off.view(b, *([1] * (x.dim() - 2)), off.shape[1])
    k = edit.directions.index(edit.direction)
    v = edit.directions.vectors[k].to(x.device, x.dtype)
    s = _strength(edit, b, x.device).view(b, *([1] * (x.dim() - 1)))
    if edit.mode == "add":
        sigma = edit.directions.sigma[k].to(x.device)
        return x + s * sigma * v
    coord = (x * v).sum(-1, keepdim=True)
    return x + (s - coord) * v


def apply_latent_edits(model: LatentModel, z: torch.Tensor, edits: Sequence[Edit],
                       ws: torch.Tensor | None = None) -> torch.Tensor:
    """Per-layer synthesis latents ``[B, L, D]`` for ``z`` after the z- and w-space edits.

    ``ws`` may give the unedited per-layer latents (e.g. from a projection); then z-space edits are
    not allowed, since there is no z to move.
    """
    z_edits = [e for e in edits if e.space == "z"]
    w_edits = [e for e in edits if e.space == "w"]
    for e in edits:
        e.directions.check(model)
    if ws is None:
        zz = z.to(model.device).float()
        if model.has_mapping:
            for e in z_edits:
                zz = _move(zz, e)
            ws = model.broadcast(model.to_synthesis(zz)).clone()
        else:
            ws = model.broadcast(zz).clone()
            w_edits = z_edits + w_edits  # z is the synthesis space
    else:
        if z_edits and model.has_mapping:
            raise ValueError("z-space edits need z; these latents were given in w")
        ws = model.broadcast(ws.to(model.device)).clone()
        w_edits = z_edits + w_edits
    for e in w_edits:
        start, end = e.layer_range(model.num_layers) or (0, model.num_layers)
        layer = torch.arange(model.num_layers, device=ws.device)
        mask = (layer >= start) & (layer < end)
        moved = _move(ws, e)
        ws = torch.where(mask.view(1, -1, 1), moved, ws)
    return ws


@contextlib.contextmanager
def activation_edits(model: LatentModel, edits: Sequence[Edit], batch: int):
    """Context manager adding the activation-space edits at their layers during synthesis."""
    act = [e for e in edits if e.space.startswith("act:")]
    with contextlib.ExitStack() as stack:
        by_layer: dict[str, list[Edit]] = {}
        for e in act:
            by_layer.setdefault(e.space.removeprefix("act:"), []).append(e)
        for layer, es in by_layer.items():
            def offset(out: torch.Tensor, es=es) -> torch.Tensor:
                flat = out.reshape(out.shape[0], -1)
                moved = flat
                for e in es:
                    if e.directions.dim != flat.shape[1]:
                        raise ValueError(f"{e.name}: direction of dim {e.directions.dim} does not fit layer "
                                         f"{e.directions.layer!r} activations of {flat.shape[1]} values")
                    moved = _move(moved, e)
                return (moved - flat).reshape(out.shape)
            stack.enter_context(model.offset(layer, offset))
        yield


@torch.no_grad()
def render_edits(model: LatentModel, z: torch.Tensor, edits: Sequence[Edit],
                 ws: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply ``edits`` to latents ``z`` (or to given per-layer ``ws``) and synthesise.

    Returns ``(ws [B, L, D], images [B, 3, H, W])``.
    """
    ws = apply_latent_edits(model, z, edits, ws=ws)
    with activation_edits(model, edits, ws.shape[0]):
        images = model.synthesize(ws)
    return ws, images


def strengths_grid(low: float = -3.0, high: float = 3.0, steps: int = 7) -> list[float]:
    """``steps`` evenly spaced values from ``low`` to ``high`` (for strips and figures); a value within
    rounding of 0 is exactly 0 (an odd count over a symmetric range has 0 in the middle: no edit).

        strengths_grid(-0.28, 0.28, 5)    # [-0.28, -0.14, 0.0, 0.14, 0.28]
    """
    if steps < 2:
        return [0.0]
    values = [low + (high - low) * i / (steps - 1) for i in range(steps)]
    tiny = 1e-9 * (abs(high - low) or 1.0)
    return [0.0 if abs(v) < tiny else v for v in values]


def factor_edit(model: LatentModel, z: torch.Tensor, directions: Directions, direction: int | str,
                shift: float, layers: LayerSpec = None) -> Edit:
    """An edit that moves each sample's calibrated factor by ``shift`` (in the calibration's unit).

    For a calibrated direction (``directions.is_calibrated(k)``, continuous factors), sample b sits at
    coordinate ``alpha_b = <v, latent_b>`` along the direction, i.e. at factor value
    ``t_b = g(alpha_b)``; the edit sets its coordinate to ``alpha_b + g^-1(t_b + shift) - g^-1(t_b)``
    (mode ``"set"``, per-sample strengths), so ``shift=0`` leaves every sample unchanged::

        e = factor_edit(model, z, d, "x shift", 5.0)     # 5 px to the right, per the calibration
        ws, images = render_edits(model, z, [e])
    """
    k = directions.index(direction)
    if directions.space == "z":
        lat = z.to(model.device).float()
    elif directions.space == "w":
        lat = model.to_synthesis(z.to(model.device).float())
    else:
        raise ValueError(f"factor_edit supports z- and w-space directions; {directions.names[k]!r} lives in "
                         f"{directions.space!r}")
    v = directions.vectors[k].to(lat.device, lat.dtype)
    alpha0 = (lat @ v).detach().cpu()
    t0 = directions.factor_of(k, alpha0)
    alpha = alpha0 + directions.to_strength(k, t0 + float(shift)) - directions.to_strength(k, t0)
    return Edit(directions, k, alpha, layers=layers, mode="set")


# ---------------------------------------------------------------------------------- the one edit path
Value = float | torch.Tensor


def direction_kind(directions: Directions, direction: int | str) -> str:
    """How a direction's value is read: ``"controller"`` (an attribute controller: the value is the
    attribute's requested value), ``"factor"`` (calibrated: a shift in the calibration's unit),
    ``"tca"`` (a TCA direction: sigma, with an optional activation part) or ``"linear"`` (sigma).

        direction_kind(d, "x")          # 'controller' for find_directions(model, "attribute", kind="controller")
    """
    k = directions.index(direction)
    if directions.info.get("controllers"):
        return "controller"
    if directions.is_calibrated(k):
        return "factor"
    if directions.method == "tensor" and "act_patterns" in directions.state:
        return "tca"
    return "linear"


def edits_for(model: LatentModel, directions: Directions, direction: int | str, value: Value | None,
              latents: torch.Tensor, layers: LayerSpec = None, direct: bool | str = False) -> list[Edit]:
    """The edits that give ``direction`` the slider value ``value`` on the samples ``latents`` (z ``[B, z_dim]``,
    what :func:`render_edits` takes), for every kind of direction (:func:`direction_kind`):

    - linear: ``value`` sigma along the direction (``Edit(d, k, value)``);
    - factor (calibrated): each sample's factor moves by ``value`` in the calibration's unit (:func:`factor_edit`);
    - tca: ``value`` sigma through the regression's latent direction; with ``direct`` (True, or
      ``"multilinear"`` for multilinear edits only) the activation part too
      (:func:`~latentwidgets.directions.tensor.tca_edits`);
    - controller: the attribute set to ``value`` in its own units (float, or ``[B]`` per sample): each
      sample's latent moves by the controller's offset (``mode="offset"``), as
      :func:`~latentwidgets.directions.controllers.set_attribute` moves these latents (z, or w for a
      w-space record).

    ``value=None`` (no request) gives no edits, and so does 0 for the kinds that move (linear, factor,
    tca). ``layers`` is the edits' layer range (per-layer latents only)::

        z = model.sample_z(4, seed=0)
        ws, images = render_edits(model, z, edits_for(model, d, "x", 0.3, z))   # x = 0.3 (controller)
        ws, images = render_edits(model, z, edits_for(model, pca, 0, 2.0, z, layers="coarse"))
    """
    k = directions.index(direction)
    kind = direction_kind(directions, k)
    if direct and kind != "tca":
        raise ValueError(f"direct= adds a TCA record's activation edit; {directions.names[k]!r} is a {kind} direction "
                         f"of a {directions.method!r} record")
    if value is None or (kind != "controller" and not isinstance(value, torch.Tensor) and float(value) == 0):
        return []
    if kind == "controller":
        return [_controller_edit(model, directions, k, value, latents, layers)]
    if kind == "factor":
        return [factor_edit(model, latents, directions, k, float(value), layers=layers)]
    if kind == "tca":
        return tca_edits(directions, k, value, direct=direct, layers=layers)
    return [Edit(directions, k, value, layers=layers)]


def _controller_edit(model: LatentModel, d: Directions, k: int, value: Value, z: torch.Tensor,
                     layers: LayerSpec) -> Edit:
    z = z.to(model.device).float()
    lat = z if d.space == "z" else model.to_synthesis(z)
    return Edit(d, k, attribute_offset(d, lat, d.names[k], value), layers=layers, mode="offset")


def value_range(directions: Directions, direction: int | str, sigma_range: float = 3.0) -> dict[str, Any]:
    """What a slider for ``direction`` shows: ``kind`` (:func:`direction_kind`), ``unit``, ``min``, ``max``,
    ``step``, ``default`` and ``absolute``. Linear and TCA directions: +-``sigma_range`` sigma; calibrated
    factors: a shift of +- half the calibrated range in the calibration's unit; controllers: the
    attribute's observed range (1st to 99th percentile of the values it was trained on) in its own
    units, ``absolute`` (values are requests, not moves; a widget treats its ``default``, the middle
    of the range half a step off the slider's grid, as "no request")::

        value_range(d, "x")     # {'kind': 'controller', 'unit': '', 'min': 0.21, 'max': 0.79, 'step': 0.001, ...}
        value_range(pca, 0)     # {'kind': 'linear', 'unit': 'σ', 'min': -3.0, 'max': 3.0, 'step': 0.01, ...}
    """
    k = directions.index(direction)
    kind = direction_kind(directions, k)
    if kind == "controller":
        lo, hi = attribute_range(directions, directions.names[k])
        step = _step((hi - lo) / 2)
        # the middle, half a step off the slider's grid, so that no slider position means "no request"
        return {"kind": kind, "unit": "", "min": lo, "max": hi, "step": step, "default": (lo + hi + step) / 2,
                "absolute": True}
    if kind == "factor":
        cal = (directions.calibration or [])[k] or {}     # a factor direction is calibrated
        ts = [float(x) for x in cal["t"]]
        half = (max(ts) - min(ts)) / 2 or 1.0
        return {"kind": kind, "unit": str(cal.get("unit", "")), "min": -half, "max": half, "step": _step(half),
                "default": 0.0, "absolute": False}
    r = float(sigma_range)
    return {"kind": kind, "unit": "\u03c3", "min": -r, "max": r, "step": 0.01, "default": 0.0, "absolute": False}


def _step(half: float) -> float:
    """A slider step of about a hundredth of ``half`` (a power of ten)."""
    return 10 ** math.floor(math.log10(half / 100)) if half > 0 else 0.01
