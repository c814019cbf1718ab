"""Applying and rendering edits: moving latents along directions, over layer ranges, in z, w or an activation space.

An :class:`~latentwidgets.directions.edits.Edit` (the value, defined beside ``Directions`` and
importable from here) is (directions record, which direction, strength, layer range, mode);
``strength`` counts in sigma units of the direction, ``mode="set"`` sets the coordinate instead.
Applying edits is pure tensor arithmetic, and one function serves widgets, figures, benchmarks and
notebooks::

    z = model.sample_z(4, seed=0)
    ws, images = render_edits(model, z, [Edit(d, 0, 2.0, layers=(0, 4))])

Order: z-space edits act on z before the mapping; w-space edits act on the per-layer latents
``[B, L, D]`` within their layer range (all layers if None; a group name such as ``"coarse"`` is
resolved here, against the model's number of layers); activation edits are added at their layer
through the model's hooks while synthesising.
"""

from __future__ import annotations

import contextlib
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch

from .directions.edits import Edit
from .directions.layers import LayerSpec
from .directions.record import Directions
from .models.base import LatentModel

__all__ = ["Edit", "apply_latent_edits", "activation_edits", "render_edits", "strengths_grid", "factor_edit"]


def _strength(edit: Edit, batch: int, device: torch.device) -> torch.Tensor:
    s = torch.as_tensor(edit.strength, dtype=torch.float32, device=device).reshape(-1)
    if s.numel() == 1:
        s = s.expand(batch)
    if s.numel() != batch:
        raise ValueError(f"edit {edit.name}: strength has {s.numel()} values for a batch of {batch}")
    return s


def _move(x: torch.Tensor, edit: Edit) -> torch.Tensor:
    """Apply one edit to ``x`` of shape ``[B, ..., D]`` (D = the direction's dim)."""
    v = edit.directions.vectors[edit.direction].to(x.device, x.dtype)
    b = x.shape[0]
    s = _strength(edit, b, x.device).view(b, *([1] * (x.dim() - 1)))
    if edit.mode == "add":
        sigma = edit.directions.sigma[edit.direction].to(x.device)
        return x + s * sigma * v
    coord = (x * v).sum(-1, keepdim=True)
    return x + (s - coord) * v


def apply_latent_edits(model: LatentModel, z: torch.Tensor, edits: Sequence[Edit],
                       ws: Optional[torch.Tensor] = None) -> torch.Tensor:
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
        by_layer: Dict[str, List[Edit]] = {}
        for e in act:
            by_layer.setdefault(e.directions.layer, []).append(e)
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
                 ws: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Apply ``edits`` to latents ``z`` (or to given per-layer ``ws``) and synthesise.

    Returns ``(ws [B, L, D], images [B, 3, H, W])``.
    """
    ws = apply_latent_edits(model, z, edits, ws=ws)
    with activation_edits(model, edits, ws.shape[0]):
        images = model.synthesize(ws)
    return ws, images


def strengths_grid(low: float = -3.0, high: float = 3.0, steps: int = 7) -> List[float]:
    """Evenly spaced strengths including 0 when the range straddles it (for strips and figures)."""
    if steps < 2:
        return [0.0]
    return [low + (high - low) * i / (steps - 1) for i in range(steps)]


def factor_edit(model: LatentModel, z: torch.Tensor, directions: Directions, direction: Union[int, str],
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
