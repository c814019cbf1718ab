"""The ``Directions`` record: what every discovery method returns, saved as JSON + safetensors.

A record holds K unit vectors ``[K, D]`` in one space (``"z"``, ``"w"`` or ``"act:<layer>"``), a scale
``sigma [K]`` (one slider unit), names, a suggested layer range per direction, provenance (method,
options, sample count, seed, model id) and fitted state (tensors such as calibration knots, tensor
bases or controller weights) plus JSON ``info`` (explained variance, ...)::

    d = find_directions(model, "pca", n_components=10)
    d.save("pca_dirs")                        # pca_dirs.json + pca_dirs.<hash>.safetensors, no pickle
    d2 = Directions.load("pca_dirs", model)   # checks the dims against the model
    d[0:3]                                    # a record of the first three directions

Calibrated directions (continuous factors) carry, per direction, monotone knots mapping the latent
coordinate ``alpha`` along the direction to a factor value ``t`` in named units: see
:meth:`Directions.to_strength` and :meth:`Directions.factor_of`.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as load_bytes
from safetensors.torch import save as save_bytes

from .._checkpoint import write_atomic

#: version 2: the JSON names its tensors file, ``<name>.<content hash>.safetensors``
SCHEMA_VERSION = 2

LayerRange = tuple[int, int] | None

#: ``info`` lists and ``state`` tensors that hold one entry per direction, in the record's order: a
#: slice ``d[2:5]`` takes the same entries (PCA's variance shares, SeFa's eigenvalues, TCA's edit kinds
#: and activation patterns, activation PCA's components, attribute boundaries' intercepts); everything
#: else is copied whole. ``info["per_direction"]`` (factors) is keyed by name and keeps the chosen names.
#: A method that stores a new per-direction entry adds its key here.
PER_DIRECTION_INFO = ("explained_variance_ratio", "explained_variance", "eigenvalues", "eigenvalue_ratio",
                      "intercepts", "edits")
PER_DIRECTION_STATE = ("act_patterns", "act_sigma", "act_components", "act_stdev", "intercepts")


@dataclass
class Directions:
    vectors: torch.Tensor
    space: str
    # None at construction means the default (ones, 'method i', no range); always set after __post_init__
    sigma: torch.Tensor = None  # type: ignore[assignment]
    names: list[str] = None  # type: ignore[assignment]
    layers: list[LayerRange] = None  # type: ignore[assignment]
    method: str = "manual"
    options: dict[str, Any] = field(default_factory=dict)
    samples: int = 0
    seed: int | None = None
    model_id: str = ""
    state: dict[str, torch.Tensor] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    #: per direction: {"unit": str, "alpha": [knots], "t": [knots]} for calibrated sliders, or None
    calibration: list[dict[str, Any] | None] | None = None
    #: the file this record was last saved to or loaded from, or None: ``{"path": str, "names": [each
    #: direction's name in the file], "all": [every name in the file]}`` (slices keep theirs; not saved)
    source: dict[str, Any] | None = field(default=None, compare=False, repr=False)

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
        self.layers = [(int(r[0]), int(r[1])) if r is not None else None for r in self.layers]
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
        """Width D of each direction vector (``z_dim``, ``w_dim`` or the activation layer's size)."""
        return self.vectors.shape[1]

    @property
    def layer(self) -> str | None:
        """The activation layer for ``act:`` spaces, else None."""
        return self.space[4:] if self.space.startswith("act:") else None

    def __getitem__(self, which: int | str | slice | Sequence[int | str]) -> Directions:
        """A record of some directions (index, name, slice or list of them), with their own share of
        the per-direction ``info`` and ``state`` (:data:`PER_DIRECTION_INFO`)::

            d[0], d["pca 2"], d[2:5], d[[3, 1]]
        """
        picked: Sequence[int | str]
        if isinstance(which, (int, str)):
            picked = [which]
        elif isinstance(which, slice):
            picked = list(range(len(self)))[which]
        else:
            picked = which
        idx = [self.index(i if isinstance(i, str) else int(i)) for i in picked]
        k = len(self)
        info = dict(self.info)
        for key in PER_DIRECTION_INFO:
            if isinstance(info.get(key), list) and len(info[key]) == k:
                info[key] = [info[key][i] for i in idx]
        names = [self.names[i] for i in idx]
        if isinstance(info.get("per_direction"), dict):
            info["per_direction"] = {n: v for n, v in info["per_direction"].items() if n in names}
        state = {key: (v[idx] if key in PER_DIRECTION_STATE and torch.is_tensor(v) and v.dim() >= 1
                       and v.shape[0] == k else v) for key, v in self.state.items()}
        return Directions(
            vectors=self.vectors[idx], space=self.space, sigma=self.sigma[idx], names=names,
            layers=[self.layers[i] for i in idx], method=self.method, options=dict(self.options), samples=self.samples,
            seed=self.seed, model_id=self.model_id, state=state, info=info,
            calibration=[self.calibration[i] for i in idx] if self.calibration is not None else None,
            source=({**self.source, "names": [self.source["names"][i] for i in idx]}
                    if self.source is not None else None),
        )

    def index(self, name_or_index: int | str) -> int:
        """The position of a direction given by name or (possibly negative) index::

            d.index("pca 2"), d.index(-1)
        """
        if isinstance(name_or_index, int):
            if not -len(self) <= name_or_index < len(self):
                raise IndexError(f"direction {name_or_index} out of range (K={len(self)})")
            return name_or_index % len(self)
        if name_or_index not in self.names:
            raise KeyError(f"no direction named {name_or_index!r}; names: {self.names}")
        return self.names.index(name_or_index)

    def rename(self, direction: int | str, name: str) -> Directions:
        """Give ``direction`` (index or current name) the name ``name``, in place; returns the record.
        Names stay non-empty (surrounding spaces are dropped) and unique; :meth:`save` writes them::

            d.rename(0, "pose").rename("pca 3", "hair colour"); d.save("runs/pca")
        """
        k = self.index(direction)
        if not isinstance(name, str):
            raise TypeError(f"a direction's name is a string; got {type(name).__name__}")
        new = name.strip()
        if not new:
            raise ValueError(f"a direction's name cannot be empty (renaming {self.names[k]!r})")
        if new in self.names and self.names.index(new) != k:
            raise ValueError(f"another direction is already named {new!r}; names must be unique: {self.names}")
        self.names[k] = new
        return self

    def to(self, device: str | torch.device) -> Directions:
        """Move the vectors and sigma to ``device``, in place; returns the record (``d.to(model.device)``)."""
        self.vectors = self.vectors.to(device)
        self.sigma = self.sigma.to(device)
        return self

    def __repr__(self) -> str:
        return (f"Directions(method={self.method!r}, space={self.space!r}, K={len(self)}, D={self.dim}, "
                f"model={self.model_id!r}, names={self.names[:4]}{'...' if len(self) > 4 else ''})")

    # ------------------------------------------------------------------------------ calibration
    def is_calibrated(self, k: int) -> bool:
        """Whether direction ``k`` carries a calibration (its slider moves in the factor's own unit)."""
        return bool(self.calibration and self.calibration[k])

    def factor_of(self, k: int, alpha: torch.Tensor) -> torch.Tensor:
        """Calibrated factor value t = g(alpha) for direction k (piecewise-linear, monotone)."""
        cal = self._cal(k)
        return _interp(torch.as_tensor(alpha, dtype=torch.float32), torch.tensor(cal["alpha"]), torch.tensor(cal["t"]))

    def to_strength(self, k: int, t: torch.Tensor) -> torch.Tensor:
        """Latent coordinate alpha = g^-1(t) that gives factor value ``t`` along direction k."""
        cal = self._cal(k)
        return _interp(torch.as_tensor(t, dtype=torch.float32), torch.tensor(cal["t"]), torch.tensor(cal["alpha"]))

    def _cal(self, k: int) -> dict[str, Any]:
        if not self.is_calibrated(k):
            raise ValueError(f"direction {k} ({self.names[k]!r}) carries no calibration")
        cal: dict[str, Any] = self.calibration[k]  # type: ignore[index,assignment]
        return cal

    # ------------------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike) -> Path:
        """Write ``<path>.json`` (everything but tensors) and ``<path>.<hash>.safetensors`` (the tensors,
        named by their content hash, which the JSON records). Returns the JSON path. Only a trailing
        ``.json`` or ``.safetensors`` is stripped from ``path``: ``save("run.v1")`` and ``save("run.v2")``
        are two records.

        Nothing is lost when a save is killed or the disk fills: both files go to temp files beside
        their targets and are renamed into place, the tensors first, under a new name (their hash) that
        no loadable record uses, then the JSON, which is the commit point. Until the JSON's rename the
        old JSON and the old tensors it names are untouched; after it the new pair is complete; only
        then are the old tensors removed. A kill between the renames leaves the old record loadable
        (the new tensors file is an orphan); temp files and orphans a kill or a failed write left
        behind are removed by the next save of the same record::

            d.save("runs/pca.v1")        # runs/pca.v1.json + runs/pca.v1.3f9c...e1.safetensors
        """
        js, folder, name = _record_paths(path)
        bad = _bad_sigma(self.sigma)
        if bad:
            raise ValueError(f"cannot save {js}: sigma must be finite and positive (a record that could not load "
                             f"again); entries {bad} are {self.sigma[bad].tolist()}. Set them, e.g. "
                             f"d.sigma = d.sigma.nan_to_num(1.0).clamp(min=1e-6)")
        tensors = {"vectors": self.vectors.detach().cpu().contiguous(), "sigma": self.sigma.detach().cpu().contiguous()}
        for k, v in self.state.items():
            tensors[f"state.{k}"] = torch.as_tensor(v).detach().cpu().contiguous()
        data = save_bytes(tensors)
        digest = hashlib.sha256(data).hexdigest()
        tensor_file = folder / f"{name}.{digest[:_HASH_CHARS]}.safetensors"
        meta = {
            "schema_version": SCHEMA_VERSION, "space": self.space, "names": self.names,
            "layers": [list(r) if r is not None else None for r in self.layers], "method": self.method,
            "options": self.options, "samples": self.samples, "seed": self.seed, "model_id": self.model_id,
            "info": self.info, "calibration": self.calibration, "dim": self.dim, "k": len(self),
            "tensors": tensor_file.name, "tensors_sha256": digest,
        }
        text = json.dumps(meta, indent=1, default=_json_default).encode()
        write_atomic(tensor_file, data, temp_of=folder / f"{name}.safetensors")
        try:
            write_atomic(js, text)
        except BaseException:
            if tensor_file.name != _named_tensors(js):  # the old JSON does not use it: an orphan
                tensor_file.unlink(missing_ok=True)
            raise
        for old in _tensor_files(folder, name):
            if old != tensor_file:
                old.unlink(missing_ok=True)
        self.source = {"path": os.fspath(path), "names": list(self.names), "all": list(self.names)}
        return js

    @classmethod
    def load(cls, path: str | os.PathLike, model: Any = None) -> Directions:
        """Read a record written by :meth:`save`; check the JSON against the tensors (count, dimension,
        finite positive sigma, content hash) and, with ``model``, the dims against the model. Errors
        name the file and what does not match.

        >>> d = Directions.load("runs/pca.v1", model)
        """
        js, folder, name = _record_paths(path)
        if not js.exists():
            raise FileNotFoundError(f"no Directions record at {js}")
        try:
            meta = json.loads(js.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(f"{js} is not a Directions record: its JSON does not parse ({e})") from e
        if not isinstance(meta, dict):
            raise ValueError(f"{js} is not a Directions record: it holds a JSON {type(meta).__name__}, not an object")
        ver = meta.get("schema_version")
        if ver not in _READS:
            raise ValueError(f"{js} has schema_version {ver}; this latentwidgets reads {list(_READS)}")
        missing = [k for k in _REQUIRED if k not in meta]
        if missing:
            raise ValueError(f"{js} is not a complete Directions record: it lacks {missing}")
        tf = folder / meta.get("tensors", f"{name}.safetensors")  # schema 1: <name>.safetensors
        t = _read_tensors(tf, meta.get("tensors_sha256"), js)
        _check_consistent(meta, t, js, tf)
        try:
            rec = cls(
                vectors=t["vectors"], space=meta["space"], sigma=t["sigma"], names=meta["names"],
                layers=[tuple(r) if r is not None else None for r in meta["layers"]], method=meta["method"],
                options=meta["options"], samples=meta["samples"], seed=meta["seed"], model_id=meta["model_id"],
                state={k[6:]: v for k, v in t.items() if k.startswith("state.")}, info=meta["info"],
                calibration=meta["calibration"],
            )
        except (ValueError, TypeError) as e:
            raise ValueError(f"{js} does not hold a valid Directions record: {e}") from e
        if model is not None:
            rec.check(model)
        rec.source = {"path": os.fspath(path), "names": list(rec.names), "all": list(rec.names)}
        return rec

    def check(self, model: Any) -> Directions:
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


# ---------------------------------------------------------------------------------- files

#: the keys every record's JSON holds
_REQUIRED = ("space", "names", "layers", "method", "options", "samples", "seed", "model_id", "info", "calibration")
#: schema versions :meth:`Directions.load` reads (1: tensors in ``<name>.safetensors``, no hash)
_READS = (1, SCHEMA_VERSION)
#: hex digits of the content hash in a tensors file's name
_HASH_CHARS = 16


def _record_paths(path: str | os.PathLike) -> tuple[Path, Path, str]:
    """(JSON path, folder, record name) for ``path``; only ``.json`` / ``.safetensors`` is stripped."""
    p = Path(path)
    name = p.name
    for suffix in (".json", ".safetensors"):
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    if not name or name in (".", ".."):
        raise ValueError(f"{str(path)!r} does not name a record file (give a name such as 'runs/pca')")
    return p.parent / f"{name}.json", p.parent, name


def _tensor_files(folder: Path, name: str) -> list[Path]:
    """The tensors files of record ``name`` in ``folder``: hashed ones and the schema-1 ``<name>.safetensors``."""
    hashed = re.compile(re.escape(name) + rf"\.[0-9a-f]{{{_HASH_CHARS}}}\.safetensors")
    out = [p for p in folder.glob(f"{glob.escape(name)}.*.safetensors") if hashed.fullmatch(p.name)]
    legacy = folder / f"{name}.safetensors"
    return out + ([legacy] if legacy.exists() else [])


def _named_tensors(js: Path) -> str | None:
    """The tensors file the record ``js`` currently names (None when there is no readable record)."""
    try:
        meta = json.loads(js.read_text())
        return meta.get("tensors", js.name[: -len(".json")] + ".safetensors")
    except (OSError, ValueError, AttributeError):
        return None


def _read_tensors(tf: Path, digest: str | None, js: Path) -> dict[str, torch.Tensor]:
    if not tf.exists():
        raise FileNotFoundError(f"{js} names the tensors file {tf.name}, which is missing from {tf.parent}: "
                                "copy it along with the JSON")
    data = tf.read_bytes()
    if digest is not None and hashlib.sha256(data).hexdigest() != digest:
        raise ValueError(f"{tf} does not match the content hash that {js.name} records: the file is corrupt or "
                         "was replaced")
    try:
        return load_bytes(data)
    except Exception as e:  # noqa: BLE001 - safetensors raises its own error types on bad headers
        raise ValueError(f"{tf} is not a readable safetensors file ({type(e).__name__}: {e})") from e


def _check_consistent(meta: dict[str, Any], t: dict[str, torch.Tensor], js: Path, tf: Path) -> None:
    """Raise a ValueError naming both files when the JSON and the tensors disagree."""
    where = f"{js.name} and {tf.name} (in {js.parent}) do not match"
    for key in ("vectors", "sigma"):
        if key not in t:
            raise ValueError(f"{where}: the tensors file has no {key!r}")
    v, sig = t["vectors"], t["sigma"]
    if v.dim() != 2:
        raise ValueError(f"{where}: vectors have shape {tuple(v.shape)}, not [K, D]")
    k, dim = meta.get("k", v.shape[0]), meta.get("dim", v.shape[1])
    if (k, dim) != tuple(v.shape):
        raise ValueError(f"{where}: the JSON says k={k}, dim={dim}; the vectors are {tuple(v.shape)}")
    if len(meta["names"]) != v.shape[0]:
        raise ValueError(f"{where}: the JSON has {len(meta['names'])} names for {v.shape[0]} vectors")
    if tuple(sig.shape) != (v.shape[0],):
        raise ValueError(f"{where}: sigma has shape {tuple(sig.shape)}, not [{v.shape[0]}]")
    bad = _bad_sigma(sig)
    if bad:
        raise ValueError(f"{tf}: sigma must be finite and positive; entries {bad} are {sig[bad].tolist()}")


def _bad_sigma(sigma: torch.Tensor) -> list[int]:
    """Indices of sigma entries that are not finite and positive."""
    return (~torch.isfinite(sigma) | (sigma <= 0)).nonzero().flatten().tolist()


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
