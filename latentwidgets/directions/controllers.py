"""GAN-Control-style attribute controllers, post hoc: a predictor MLP of every attribute from the latent,
and per attribute a controller MLP mapping (latent, requested value) to a latent offset; stored in a
record's state, applied by :func:`set_attribute`::

    d = attribute_directions(model, "sprites", kind="controller")
    z2 = set_attribute(model, d, z, "x", 0.3)          # latents in d.space, x set, the rest kept
    predict_attributes(d, z2)["x"]                     # what the predictor reads from them
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from .record import Directions


def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


def encode_targets(targets: dict[str, torch.Tensor], circular: Sequence[str]
                   ) -> tuple[torch.Tensor, dict[str, list[int]]]:
    cols, layout, j = [], {}, 0
    for name, v in targets.items():
        if name in circular:
            cols += [torch.cos(2 * math.pi * v), torch.sin(2 * math.pi * v)]
            layout[name] = [j, j + 2]
            j += 2
        else:
            cols.append(v)
            layout[name] = [j, j + 1]
            j += 1
    return torch.stack(cols, 1), layout


class Controllers:
    """The predictor and the per-attribute controllers, rebuilt from (or stored into) a record's state."""

    def __init__(self, dim: int, layout: dict[str, list[int]], circular: Sequence[str], hidden: int):
        self.dim, self.layout, self.circular, self.hidden = dim, layout, list(circular), hidden
        self.out_dim = max(e for _, e in layout.values())
        self.pred = _mlp([dim, hidden, hidden, hidden, self.out_dim])
        self.ctrl = nn.ModuleDict({k: _mlp([dim + (e - s), hidden, hidden, dim]) for k, (s, e) in layout.items()})
        for c in self.ctrl.values():  # start as "no offset"
            nn.init.zeros_(c[-1].weight)
            nn.init.zeros_(c[-1].bias)
        self.in_mean = torch.zeros(dim)
        self.in_std = torch.ones(dim)
        self.out_mean = torch.zeros(self.out_dim)
        self.out_std = torch.ones(self.out_dim)

    # state
    def state(self) -> dict[str, torch.Tensor]:
        st = {f"pred.{k}": v.detach().cpu() for k, v in self.pred.state_dict().items()}
        st.update({f"ctrl.{k}": v.detach().cpu() for k, v in self.ctrl.state_dict().items()})
        st.update({"in_mean": self.in_mean, "in_std": self.in_std, "out_mean": self.out_mean, "out_std": self.out_std})
        return st

    @classmethod
    def from_record(cls, d: Directions) -> Controllers:
        info = d.info.get("controllers")
        if not info:
            raise ValueError(f"{d!r} holds no controllers; fit them with attribute_directions(..., kind='controller')")
        c = cls(d.dim, {k: list(v) for k, v in info["layout"].items()}, info["circular"], info["hidden"])
        c.pred.load_state_dict({k[5:]: v for k, v in d.state.items() if k.startswith("pred.")})
        c.ctrl.load_state_dict({k[5:]: v for k, v in d.state.items() if k.startswith("ctrl.")})
        for k in ("in_mean", "in_std", "out_mean", "out_std"):
            setattr(c, k, d.state[k].float())
        c.pred.eval()
        c.ctrl.eval()
        return c

    # maths
    def predict(self, lat: torch.Tensor) -> torch.Tensor:
        """Standardised attribute outputs for latents ``[B, D]``."""
        return self.pred((lat - self.in_mean) / self.in_std)

    def encode(self, name: str, value: torch.Tensor) -> torch.Tensor:
        """Requested values ``[B]`` -> standardised target columns ``[B, w]``."""
        s, e = self.layout[name]
        if name in self.circular:
            t = torch.stack([torch.cos(2 * math.pi * value), torch.sin(2 * math.pi * value)], 1)
        else:
            t = value.unsqueeze(1)
        return (t - self.out_mean[s:e]) / self.out_std[s:e]

    def decode(self, name: str, out: torch.Tensor) -> torch.Tensor:
        s, e = self.layout[name]
        v = out[:, s:e] * self.out_std[s:e] + self.out_mean[s:e]
        if name in self.circular:
            return torch.remainder(torch.atan2(v[:, 1], v[:, 0]) / (2 * math.pi), 1.0)
        return v[:, 0]

    def offset(self, name: str, lat: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        x = torch.cat([(lat - self.in_mean) / self.in_std, target], 1)
        return self.ctrl[name](x) * self.in_std

    def objective(self, name: str, lat: torch.Tensor, delta: torch.Tensor, target: torch.Tensor,
                  keep: torch.Tensor, w_keep: float, w_move: float) -> torch.Tensor:
        """Per-sample loss: reach ``target`` for ``name``, keep the other outputs, move little."""
        s, e = self.layout[name]
        out = self.predict(lat + delta)
        if name in self.circular:  # compare directions on the circle
            p = out[:, s:e] * self.out_std[s:e] + self.out_mean[s:e]
            t = target * self.out_std[s:e] + self.out_mean[s:e]
            hit = (F.normalize(p, dim=1) - F.normalize(t, dim=1)).pow(2).sum(1) / (self.out_std[s:e].mean() ** 2)
        else:
            hit = (out[:, s:e] - target).pow(2).sum(1)
        others = torch.ones(self.out_dim, dtype=torch.bool)
        others[s:e] = False
        kept = (out[:, others] - keep[:, others]).pow(2).sum(1)
        move = (delta / self.in_std).pow(2).mean(1)
        return hit + w_keep * kept + w_move * move


def observed_range(values: torch.Tensor, circular: bool) -> list[float]:
    """``[low, high]`` requests a controller was trained on: the 1st to 99th percentile of the measured
    values (``[0, 1]`` for a circular attribute)."""
    if circular:
        return [0.0, 1.0]
    q = torch.quantile(values.double(), torch.tensor([0.01, 0.99], dtype=torch.float64))
    return [float(q[0]), float(q[1])]


def attribute_range(directions: Directions, name: str) -> tuple[float, float]:
    """The range of values controller ``name`` of the record was trained on (a slider's range)::

        attribute_range(d, "x")        # (0.21, 0.79): x in image widths, 1st to 99th percentile
    """
    info = directions.info.get("controllers")
    if not info or name not in info.get("layout", {}):
        raise KeyError(f"no controller for {name!r} in {directions!r}")
    if name in info.get("ranges", {}):
        lo, hi = info["ranges"][name]
        return float(lo), float(hi)
    if name in info["circular"]:
        return 0.0, 1.0
    # records fitted before the ranges were stored: mean +- 2 std of the training values
    col = info["layout"][name][0]
    mean, std = float(directions.state["out_mean"][col]), float(directions.state["out_std"][col])
    return mean - 2 * std, mean + 2 * std


def fit_controllers(lat: torch.Tensor, targets: dict[str, torch.Tensor], circular: Sequence[str], hidden: int,
                     pred_iters: int, ctrl_iters: int, w_keep: float, w_move: float, seed: int,
                     progress: bool) -> tuple[Controllers, dict[str, Any]]:
    torch.manual_seed(seed)
    y, layout = encode_targets(targets, circular)
    n = lat.shape[0]
    perm = torch.randperm(n)
    n_val = max(1, n // 10)
    val, tr = perm[:n_val], perm[n_val:]
    c = Controllers(lat.shape[1], layout, circular, hidden)
    c.in_mean, c.in_std = lat[tr].mean(0), lat[tr].std(0).clamp(min=1e-6)
    c.out_mean, c.out_std = y[tr].mean(0), y[tr].std(0).clamp(min=1e-6)
    ys = (y - c.out_mean) / c.out_std
    opt = torch.optim.Adam(c.pred.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, pred_iters)
    bs = min(256, tr.numel())
    for _ in tqdm(range(pred_iters), desc="predictor", disable=not progress, leave=False):
        b = tr[torch.randint(0, tr.numel(), (bs,))]
        loss = (c.predict(lat[b]) - ys[b]).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    with torch.no_grad():
        resid = (c.predict(lat[val]) - ys[val]).pow(2).mean(0)
    stats: dict[str, Any] = {"predictor_val_r2_" + k: float(1 - resid[s:e].mean()) for k, (s, e) in layout.items()}
    stats["ranges"] = {k: observed_range(v, k in circular) for k, v in targets.items()}
    for p in c.pred.parameters():
        p.requires_grad_(False)
    for name in tqdm(list(layout), desc="controllers", disable=not progress, leave=False):
        s, e = layout[name]
        net = c.ctrl[name]
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, ctrl_iters)
        for _ in range(ctrl_iters):
            b = tr[torch.randint(0, tr.numel(), (bs,))]
            src = tr[torch.randint(0, tr.numel(), (bs,))]  # requested values from the data's own range
            x = lat[b]
            target = ys[src, s:e]
            with torch.no_grad():
                keep = c.predict(x)
            delta = c.offset(name, x, target)
            loss = c.objective(name, x, delta, target, keep, w_keep, w_move).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        stats["controller_loss_" + name] = float(loss.detach())
    for p in c.pred.parameters():
        p.requires_grad_(True)
    return c, stats


def set_attribute(model: Any, directions: Directions, latents: torch.Tensor, name: str,
                  value: float | torch.Tensor, refine: int | None = None) -> torch.Tensor:
    """Latents with attribute ``name`` set to ``value`` (float or ``[B]``) and the others kept, using
    the controllers in ``directions`` (from ``attribute_directions(..., kind='controller')``).

    ``latents`` are ``[B, D]`` in ``directions.space`` (z by default); ``refine`` extra gradient steps
    through the learned predictor polish the controller's offset (default: the record's setting)::

        z2 = set_attribute(model, d, z, "x", 0.3)
        images = model.generate(z2)           # or model.synthesize(z2) when d.space == "w"
    """
    lat = torch.as_tensor(latents, dtype=torch.float32)
    delta = attribute_offset(directions, lat, name, value, refine)
    return (lat.cpu() + delta).to(lat.device)


def attribute_offset(directions: Directions, latents: torch.Tensor, name: str, value: float | torch.Tensor,
                     refine: int | None = None) -> torch.Tensor:
    """The per-sample offsets ``[B, D]`` (on the CPU) that :func:`set_attribute` adds to ``latents``::

        delta = attribute_offset(d, z, "x", 0.3)          # set_attribute(model, d, z, "x", 0.3) == z + delta
    """
    c = Controllers.from_record(directions)
    if name not in c.layout:
        raise KeyError(f"no controller for {name!r}; controllers: {list(c.layout)}")
    lat = torch.as_tensor(latents, dtype=torch.float32)
    if lat.dim() != 2 or lat.shape[1] != directions.dim:
        raise ValueError(f"latents must be [B, {directions.dim}] in {directions.space}; got {tuple(lat.shape)}")
    if not torch.isfinite(lat).all():
        raise ValueError("latents contain NaN or inf")
    lat = lat.detach().cpu()
    v = torch.as_tensor(value, dtype=torch.float32).reshape(-1).cpu()
    if not torch.isfinite(v).all():
        raise ValueError(f"requested value for {name!r} must be finite; got {value!r}")
    if v.numel() == 1:
        v = v.expand(lat.shape[0])
    if v.numel() != lat.shape[0]:
        raise ValueError(f"{v.numel()} values for {lat.shape[0]} latents")
    info = directions.info["controllers"]
    refine = info.get("refine", 0) if refine is None else int(refine)
    target = c.encode(name, v)
    with torch.no_grad():
        keep = c.predict(lat)
        delta = c.offset(name, lat, target)
    if refine > 0:
        with torch.enable_grad():  # callers may run under no_grad (rendering, evaluation)
            delta = delta.clone().requires_grad_(True)
            opt = torch.optim.Adam([delta], lr=0.05 * float(c.in_std.mean()))
            for _ in range(refine):
                loss = c.objective(name, lat, delta, target, keep, info["w_keep"], info["w_move"]).sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        delta = delta.detach()
    return delta


def predict_attributes(directions: Directions, latents: torch.Tensor) -> dict[str, torch.Tensor]:
    """The controller record's predictor: attribute values predicted from latents ``[B, D]``."""
    c = Controllers.from_record(directions)
    with torch.no_grad():
        out = c.predict(torch.as_tensor(latents, dtype=torch.float32).cpu())
    return {k: c.decode(k, out) for k in c.layout}
