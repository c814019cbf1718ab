"""The ``Edit`` value: one move along one direction of a ``Directions`` record (applied in ``latentwidgets.edit``).

An :class:`Edit` is (directions record, which direction, strength, layer range, mode). ``strength``
counts in sigma units of the direction (GANSpace's convention), so ``Edit(d, 0, 2.0)`` moves two
standard deviations. ``mode="set"`` instead puts the latent's coordinate along the direction at
``strength`` (absolute, as the continuous-factors traversal does). ``mode="offset"`` adds a per-sample
latent offset ``strength [B, D]`` in the record's space (not along the direction: what an attribute
controller computes for each sample; the direction names the attribute). ``layers`` takes what the
layer-wise editor takes (:mod:`~latentwidgets.directions.layers`): None or ``"all"``, ``(start, end)``
(end exclusive) or a group name. A group name needs the model's number of layers, so the edit keeps
the name and resolves it when applied (:meth:`Edit.layer_range`); ranges are checked against the
model then too::

    e = Edit(d, "pca 3", 2.0, layers="coarse")
    e.layer_range(model.num_layers)     # (0, 4) on a 10-layer model
    e.to_record()                       # JSON-able; Edit.from_record(rec, d) gives it back
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from .layers import LayerSpec, check_layers, resolve_layers
from .record import Directions

Strength = float | torch.Tensor
#: "add": move by strength x sigma along the direction; "set": put the coordinate at strength;
#: "offset": add per-sample offsets [B, D]
MODES = ("add", "set", "offset")


@dataclass
class Edit:
    directions: Directions
    direction: int | str
    strength: Strength = 0.0
    layers: LayerSpec = None
    mode: str = "add"

    def __post_init__(self) -> None:
        self.direction = self.directions.index(self.direction)
        if self.mode not in MODES:
            raise ValueError(f"Edit.mode must be one of {MODES}; got {self.mode!r}")
        s = torch.as_tensor(self.strength, dtype=torch.float32)
        if not torch.isfinite(s).all():
            raise ValueError(f"edit strength must be finite; got {self.strength!r}")
        if self.mode == "offset" and (s.dim() != 2 or s.shape[1] != self.directions.dim):
            raise ValueError(f"an offset edit's strength is per-sample offsets [B, {self.directions.dim}] in "
                             f"{self.directions.space}; got shape {tuple(s.shape)}")
        self.layers = check_layers(self.layers)

    @property
    def space(self) -> str:
        """The space the edit moves in: its record's (``"z"``, ``"w"`` or ``"act:<layer>"``)."""
        return self.directions.space

    @property
    def name(self) -> str:
        """GANSpace-style name, e.g. ``E(pca 3, 0-4)`` or ``E(pca 3, coarse)``."""
        if self.layers is None:
            r = "all"
        elif isinstance(self.layers, str):
            r = self.layers
        else:
            r = f"{self.layers[0]}-{self.layers[1]}"
        return f"E({self.directions.names[self.directions.index(self.direction)]}, {r})"

    def layer_range(self, num_layers: int) -> tuple[int, int] | None:
        """The edit's ``(start, end)`` on a model with ``num_layers`` per-layer latents (None = all),
        group names resolved; raises when the range does not fit the model."""
        try:
            return resolve_layers(self.layers, num_layers)
        except ValueError as exc:
            raise ValueError(f"{self.name}: {exc}") from None

    def to_record(self) -> dict[str, Any]:
        """A JSON-able description (the direction by name and index, not the vectors)."""
        s = self.strength
        k = self.directions.index(self.direction)
        return {"direction": k, "name": self.directions.names[k],
                "strength": s.tolist() if isinstance(s, torch.Tensor) else float(s),
                "layers": list(self.layers) if isinstance(self.layers, tuple) else self.layers, "mode": self.mode,
                "space": self.space, "method": self.directions.method}

    @classmethod
    def from_record(cls, record: dict[str, Any], directions: Directions) -> Edit:
        name = record.get("name")
        which = name if isinstance(name, str) and name in directions.names else int(record["direction"])
        s = record["strength"]
        return cls(directions, which, torch.tensor(s) if isinstance(s, list) else float(s),
                   record.get("layers") or None, record.get("mode", "add"))
