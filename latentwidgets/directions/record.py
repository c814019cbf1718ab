"""The ``Directions`` record: what every discovery method returns, saved as JSON + safetensors.

A record holds K unit vectors ``[K, D]`` in one space (``"z"``, ``"w"`` or ``"act:<layer>"``), a scale
``sigma [K]`` (one slider unit), names, a suggested layer range per direction, provenance (method,
options, sample count, seed, model id) and fitted state (tensors such as calibration knots, tensor
bases or controller weights) plus JSON ``info`` (explained variance, ...)::

    d = find_directions(model, "pca", n_components=10)
    d.save("pca_dirs")                        # pca_dirs.json + pca_dirs.safetensors, no pickle
    d2 = Directions.load("pca_dirs", model)   # checks the dims against the model
    d[0:3]                                    # a record of the first three directions

Calibrated directions (continuous factors) carry, per direction, monotone knots mapping the latent
coordinate ``alpha`` along the direction to a factor value ``t`` in named units: see
:meth:`Directions.to_strength` and :meth:`Directions.factor_of`.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import torch
from safetensors.torch import load_file, save_file

SCHEMA_VERSION = 1

LayerRange = Optional[Tuple[int, int]]


@dataclass
class Directions:
    vectors: torch.Tensor
    space: str
    sigma: Optional[torch.Tensor] = None
    names: Optional[List[str]] = None
    layers: Optional[List[LayerRange]] = None
    method: str = "manual"
    options: Dict[str, Any] = field(default_factory=dict)
    samples: int = 0
    seed: Optional[int] = None
    model_id: str = ""
    state: Dict[str, torch.Tensor] = field(default_factory=dict)
    info: Dict[str, Any] = field(default_factory=dict)
    #: per direction: {"unit": str, "alpha": [knots], "t": [knots]} for calibrated sliders, or None
    calibration: Optional[List[Optional[Dict[str, Any]]]] = None

    def __post_init__(self) -> None:
        v = torch.as_tensor(self.vectors, dtype=torch.float32)
        if v.dim() != 2 or v.shape[0] == 0:
            raise ValueError(f"Directions.vectors must be [K, D] with K >= 1; got {tuple(v.shape)}")
        if not torch.isfinite(v).all():
            raise ValueError("Directions.vectors contain NaN or inf")
        norms = v.norm(dim=1, keepdim=True)
        if (norms < 1e-12).any():
            raise ValueError("Directions.vectors contain a zero vector")
        # normalise, leaving rows that are unit already untouched (exact save/load round trips)
        self.vectors = torch.where((norms - 1).abs() > 1e-6, v / norms, v)
        k = v.shape[0]
        self.sigma = (torch.ones(k) if self.sigma is None
                      else torch.as_tensor(self.sigma, dtype=torch.float32).reshape(-1))
        if self.sigma.shape[0] != k:
            raise ValueError(f"sigma must have {k} entries; got {self.sigma.shape[0]}")
        self.names = list(self.names) if self.names is not None else [f"{self.method} {i}" for i in range(k)]
        if len(self.names) != k:
            raise ValueError(f"names must have {k} entries; got {len(self.names)}")
        self.layers = list(self.layers) if self.layers is not None else [None] * k
        self.layers = [tuple(int(a) for a in r) if r is not None else None for r in self.layers]
        if len(self.layers) != k:
            raise ValueError(f"layers must have {k} entries; got {len(self.layers)}")
        if self.calibration is not None and len(self.calibration) != k:
            raise ValueError(f"calibration must have {k} entries; got {len(self.calibration)}")
        if not (self.space in ("z", "w") or self.space.startswith("act:")):
            raise ValueError(f"space must be 'z', 'w' or 'act:<layer>'; got {self.space!r}")

    # ------------------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return self.vectors.shape[0]

    @property
    def dim(self) -> int:
        return self.vectors.shape[1]

    @property
    def layer(self) -> Optional[str]:
        """The activation layer for ``act:`` spaces, else None."""
        return self.space[4:] if self.space.startswith("act:") else None

    def __getitem__(self, idx: Union[int, slice, Sequence[int]]) -> "Directions":
        if isinstance(idx, int):
            idx = [idx]
        if isinstance(idx, slice):
            idx = list(range(len(self)))[idx]
        idx = list(idx)
        pick = lambda seq: [seq[i] for i in idx] if seq is not None else None  # noqa: E731
        return Directions(
            vectors=self.vectors[idx], space=self.space, sigma=self.sigma[idx], names=pick(self.names),
            layers=pick(self.layers), method=self.method, options=dict(self.options), samples=self.samples,
            seed=self.seed, model_id=self.model_id, state=dict(self.state), info=dict(self.info),
            calibration=pick(self.calibration),
        )

    def index(self, name_or_index: Union[int, str]) -> int:
        if isinstance(name_or_index, int):
            if not -len(self) <= name_or_index < len(self):
                raise IndexError(f"direction {name_or_index} out of range (K={len(self)})")
            return name_or_index % len(self)
        if name_or_index not in self.names:
            raise KeyError(f"no direction named {name_or_index!r}; names: {self.names}")
        return self.names.index(name_or_index)

    def to(self, device: Union[str, torch.device]) -> "Directions":
        self.vectors = self.vectors.to(device)
        self.sigma = self.sigma.to(device)
        return self

    def __repr__(self) -> str:
        return (f"Directions(method={self.method!r}, space={self.space!r}, K={len(self)}, D={self.dim}, "
                f"model={self.model_id!r}, names={self.names[:4]}{'...' if len(self) > 4 else ''})")

    # ------------------------------------------------------------------------------ calibration
    def is_calibrated(self, k: int) -> bool:
        return bool(self.calibration and self.calibration[k])

    def factor_of(self, k: int, alpha: torch.Tensor) -> torch.Tensor:
        """Calibrated factor value t = g(alpha) for direction k (piecewise-linear, monotone)."""
        cal = self._cal(k)
        return _interp(torch.as_tensor(alpha, dtype=torch.float32), torch.tensor(cal["alpha"]), torch.tensor(cal["t"]))

    def to_strength(self, k: int, t: torch.Tensor) -> torch.Tensor:
        """Latent coordinate alpha = g^-1(t) that gives factor value ``t`` along direction k."""
        cal = self._cal(k)
        return _interp(torch.as_tensor(t, dtype=torch.float32), torch.tensor(cal["t"]), torch.tensor(cal["alpha"]))

    def _cal(self, k: int) -> Dict[str, Any]:
        if not self.is_calibrated(k):
            raise ValueError(f"direction {k} ({self.names[k]!r}) carries no calibration")
        return self.calibration[k]  # type: ignore[index]

    # ------------------------------------------------------------------------------ files
    def save(self, path: Union[str, os.PathLike]) -> Path:
        """Write ``<path>.json`` (everything but tensors) and ``<path>.safetensors``. Returns the JSON path."""
        base = Path(path)
        if base.suffix in (".json", ".safetensors"):
            base = base.with_suffix("")
        base.parent.mkdir(parents=True, exist_ok=True)
        tensors = {"vectors": self.vectors.detach().cpu().contiguous(), "sigma": self.sigma.detach().cpu().contiguous()}
        for k, v in self.state.items():
            tensors[f"state.{k}"] = torch.as_tensor(v).detach().cpu().contiguous()
        meta = {
            "schema_version": SCHEMA_VERSION, "space": self.space, "names": self.names,
            "layers": [list(r) if r is not None else None for r in self.layers], "method": self.method,
            "options": self.options, "samples": self.samples, "seed": self.seed, "model_id": self.model_id,
            "info": self.info, "calibration": self.calibration, "dim": self.dim, "k": len(self),
        }
        js = base.with_suffix(".json")
        js.write_text(json.dumps(meta, indent=1, default=_json_default))
        save_file(tensors, str(base.with_suffix(".safetensors")))
        return js

    @classmethod
    def load(cls, path: Union[str, os.PathLike], model: Any = None) -> "Directions":
        """Read a record written by :meth:`save`; with ``model``, check its dims match."""
        base = Path(path)
        if base.suffix in (".json", ".safetensors"):
            base = base.with_suffix("")
        meta = json.loads(base.with_suffix(".json").read_text())
        ver = meta.get("schema_version")
        if ver != SCHEMA_VERSION:
            raise ValueError(f"{base}.json has schema_version {ver}; this latentwidgets reads {SCHEMA_VERSION}")
        t = load_file(str(base.with_suffix(".safetensors")))
        rec = cls(
            vectors=t["vectors"], space=meta["space"], sigma=t["sigma"], names=meta["names"],
            layers=[tuple(r) if r is not None else None for r in meta["layers"]], method=meta["method"],
            options=meta["options"], samples=meta["samples"], seed=meta["seed"], model_id=meta["model_id"],
            state={k[6:]: v for k, v in t.items() if k.startswith("state.")}, info=meta["info"],
            calibration=meta["calibration"],
        )
        if model is not None:
            rec.check(model)
        return rec

    def check(self, model: Any) -> "Directions":
        """Raise a clear error when this record cannot be used with ``model``."""
        if self.space == "z":
            want = model.z_dim
        elif self.space == "w":
            want = model.w_dim
        else:
            if self.layer not in model.layers():
                raise ValueError(f"these directions live at layer {self.layer!r}, which {model.name} does not have "
                                 f"(its layers: {model.layers()})")
            want = None
            shape = self.info.get("act_shape")
            if shape is not None:
                import math
                want = math.prod(shape)
        if want is not None and want != self.dim:
            raise ValueError(f"directions found in {self.space} of dimension {self.dim} (model {self.model_id!r}) "
                             f"do not fit {model.name}, whose {self.space} has dimension {want}")
        for r in self.layers:
            if r is not None and not (0 <= r[0] < r[1] <= model.num_layers):
                raise ValueError(f"layer range {r} does not fit {model.name} ({model.num_layers} per-layer latents)")
        return self


def _interp(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    """np.interp for torch (xp increasing), clamped at the ends."""
    x = x.to(xp.dtype)
    idx = torch.searchsorted(xp, x.clamp(xp[0], xp[-1]).contiguous()).clamp(1, len(xp) - 1)
    x0, x1, f0, f1 = xp[idx - 1], xp[idx], fp[idx - 1], fp[idx]
    w = ((x.clamp(xp[0], xp[-1]) - x0) / (x1 - x0).clamp(min=1e-12))
    return f0 + w * (f1 - f0)


def _json_default(o: Any) -> Any:
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"cannot store {type(o).__name__} in a Directions record's JSON")
