"""Edits: moving latents along directions, over layer ranges, in z, w or an activation space.

An :class:`Edit` is (directions record, which direction, strength, layer range, mode). ``strength``
counts in sigma units of the direction (GANSpace's convention), so ``Edit(d, 0, 2.0)`` moves two
standard deviations. ``mode="set"`` instead puts the latent's coordinate along the direction at
``strength`` (absolute, as the continuous-factors traversal does). Applying edits is pure tensor
arithmetic, and one function serves widgets, figures, benchmarks and notebooks::

    z = model.sample_z(4, seed=0)
    ws, images = render_edits(model, z, [Edit(d, 0, 2.0, layers=(0, 4))])

Order: z-space edits act on z before the mapping; w-space edits act on the per-layer latents
``[B, L, D]`` within their layer range (all layers if None); activation edits are added at their
layer through the model's hooks while synthesising.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch

from .directions.record import Directions
from .models.base import LatentModel, layer_slice

Strength = Union[float, torch.Tensor]


@dataclass
class Edit:
    directions: Directions
    direction: Union[int, str]
    strength: Strength = 0.0
    layers: Optional[Tuple[int, int]] = None
    mode: str = "add"

    def __post_init__(self) -> None:
        self.direction = self.directions.index(self.direction)
        if self.mode not in ("add", "set"):
            raise ValueError(f"Edit.mode must be 'add' or 'set'; got {self.mode!r}")
        s = torch.as_tensor(self.strength, dtype=torch.float32)
        if not torch.isfinite(s).all():
            raise ValueError(f"edit strength must be finite; got {self.strength!r}")
        if self.layers is not None:
            self.layers = (int(self.layers[0]), int(self.layers[1]))
            if not 0 <= self.layers[0] < self.layers[1]:
                raise ValueError(f"layer range must be (start, end) with 0 <= start < end; got {self.layers}")

    @property
    def space(self) -> str:
        return self.directions.space

    @property
    def name(self) -> str:
        """GANSpace-style name, e.g. ``E(pca 3, 0-4)``."""
        r = f"{self.layers[0]}-{self.layers[1]}" if self.layers else "all"
        return f"E({self.directions.names[self.direction]}, {r})"

    def to_record(self) -> Dict[str, Any]:
        """A JSON-able description (the direction by name and index, not the vectors)."""
        s = self.strength
        return {"direction": self.direction, "name": self.directions.names[self.direction],
                "strength": s.tolist() if isinstance(s, torch.Tensor) else float(s),
                "layers": list(self.layers) if self.layers else None, "mode": self.mode,
                "space": self.space, "method": self.directions.method}

    @classmethod
    def from_record(cls, record: Dict[str, Any], directions: Directions) -> "Edit":
        name = record.get("name")
        which = name if name in directions.names else int(record["direction"])
        s = record["strength"]
        return cls(directions, which, torch.tensor(s) if isinstance(s, list) else float(s),
                   tuple(record["layers"]) if record.get("layers") else None, record.get("mode", "add"))


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
        mask = layer_slice(model.num_layers, e.layers).to(ws.device)
        if e.layers is not None and e.layers[1] > model.num_layers:
            raise ValueError(f"{e.name}: layer range {e.layers} exceeds {model.num_layers} layers")
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
                shift: float, layers: Optional[Tuple[int, int]] = None) -> Edit:
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
