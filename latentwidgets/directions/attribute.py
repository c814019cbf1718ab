"""Attribute directions from any image -> value function: InterFaceGAN boundaries and GAN-Control-style controllers.

Both start from sampled latents, the images they render and the attributes measured on those images
(``attributes="sprites"`` reads x, y, scale, hue, bg_hue, bg_value with ``sprites.measure``; or give
a dict ``name -> fn(images [B,3,H,W]) -> [B] values``).

- ``kind="boundary"`` (InterFaceGAN): per attribute, the top and bottom ``percent`` % of samples are
  labelled 1 / 0 and a linear SVM (hinge loss, L2, trained in torch) separates them; the unit normal
  is the direction, the signed distance ``<n, latent> + b`` its coordinate (``state["intercepts"]``).
  ``condition_on=[...]`` projects each direction off the normals of the listed attributes (conditional
  editing). Circular attributes (hue) give two boundaries, ``hue_cos`` and ``hue_sin``. Each
  non-circular direction is calibrated: ``d.to_strength(k, value)`` is the coordinate at which the
  attribute's median equals ``value`` (binned medians, made monotone).
- ``kind="controller"`` (GAN-Control's explicit control, post hoc): a predictor MLP learns all the
  attributes from the latent; per attribute a controller MLP maps (current latent, requested value)
  to a latent *offset* trained, through the frozen predictor, to reach the value while keeping the
  other attributes and moving little. An offset given the current latent (rather than GAN-Control's
  value -> latent slice, which needs a model trained with disentangled slices) is what "set x to 0.3
  and keep everything else" needs on a pretrained model. :func:`set_attribute` applies a controller
  (plus a few refinement steps through the predictor) and is what the widgets call::

      d = attribute_directions(model, "sprites", kind="controller", n_samples=6000)
      z2 = set_attribute(model, d, z, "x", 0.3)          # latents in d.space
      images = model.generate(z2)

Controllers default to ``space="z"``: the Gaussian z covers the whole latent space the predictor was
trained on, while offsets in w can leave the mapping network's manifold where the predictor has never
seen data. Circular attributes are predicted and requested as (cos, sin) of the angle.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from .record import Directions

SPRITE_ATTRIBUTES = ("x", "y", "scale", "hue", "bg_hue", "bg_value")
SPRITE_CIRCULAR = ("hue", "bg_hue")
AttributeFn = Callable[[torch.Tensor], torch.Tensor]


# ----------------------------------------------------------------------------------------------
# sampling and measuring

def _resolve_attributes(attributes: Any) -> Tuple[Dict[str, Union[str, AttributeFn]], bool]:
    """name -> ('sprites' factor key | callable); also whether the sprites reader is used."""
    if isinstance(attributes, str):
        if attributes != "sprites":
            raise ValueError(f"attributes must be 'sprites', a list of sprites factors or a dict name -> fn(images); "
                             f"got {attributes!r}")
        attributes = list(SPRITE_ATTRIBUTES)
    if isinstance(attributes, (list, tuple)):
        bad = [a for a in attributes if a not in SPRITE_ATTRIBUTES]
        if bad:
            raise ValueError(f"unknown sprites attributes {bad}; known: {list(SPRITE_ATTRIBUTES)} "
                             "(or pass a dict name -> fn(images) -> [B] values)")
        attributes = {a: a for a in attributes}
    if not isinstance(attributes, Mapping) or not attributes:
        raise ValueError("attributes must be 'sprites', a non-empty list of sprites factors or a dict name -> fn(images)")
    out = {}
    for k, v in attributes.items():
        if v == "sprites":
            v = k
        if isinstance(v, str):
            if v not in SPRITE_ATTRIBUTES:
                raise ValueError(f"attribute {k!r}: unknown sprites factor {v!r}; known: {list(SPRITE_ATTRIBUTES)}")
        elif not callable(v):
            raise TypeError(f"attribute {k!r} must be a function images -> [B] values or a sprites factor name")
        out[str(k)] = v
    return out, any(isinstance(v, str) for v in out.values())


def _render(model: Any, lat: torch.Tensor, space: str) -> torch.Tensor:
    return model.generate(lat) if space == "z" else model.synthesize(lat)


@torch.no_grad()
def measure_attributes(model: Any, lat: torch.Tensor, space: str, attributes: Any,
                       batch_size: int = 256, progress: bool = False) -> Dict[str, torch.Tensor]:
    """Render ``lat`` (in ``space``) and measure every attribute -> dict name -> ``[N]`` (plus ``clean``
    when the sprites reader runs)."""
    from ..zoo import sprites

    attrs, use_sprites = _resolve_attributes(attributes)
    cols: Dict[str, List[torch.Tensor]] = {k: [] for k in attrs}
    clean: List[torch.Tensor] = []
    for i in tqdm(range(0, lat.shape[0], batch_size), desc="measuring", disable=not progress, leave=False):
        img = _render(model, lat[i:i + batch_size], space)
        meas = sprites.measure(img) if use_sprites else {}
        if use_sprites:
            clean.append(meas["clean"])
        for k, v in attrs.items():
            val = meas[v] if isinstance(v, str) else torch.as_tensor(v(img), dtype=torch.float32).reshape(-1)
            if val.shape[0] != img.shape[0]:
                raise ValueError(f"attribute {k!r} returned {val.shape[0]} values for {img.shape[0]} images")
            cols[k].append(val.detach().float().cpu())
    out = {k: torch.cat(v) for k, v in cols.items()}
    for k, v in out.items():
        if not torch.isfinite(v).all():
            raise ValueError(f"attribute {k!r} returned NaN or inf values; make the function return finite numbers")
    if use_sprites:
        out["clean"] = torch.cat(clean)
    return out


def _sample(model: Any, n: int, space: str, seed: int) -> torch.Tensor:
    from .sampling import sample_latents

    z, lat = sample_latents(model, n, seed=seed)
    return z if space == "z" else lat


def _check_common(model: Any, n_samples: int, space: Optional[str], default: str) -> str:
    from .sampling import check_count

    check_count(n_samples, "n_samples", minimum=10)
    space = space or default
    if space not in ("z", "w"):
        raise ValueError(f"space must be 'z' or 'w'; got {space!r}")
    if space == "w" and not model.has_mapping:
        space = "z"
    return space


def _select_clean(meas: Dict[str, torch.Tensor], clean_only: Union[bool, str]) -> Optional[torch.Tensor]:
    if "clean" not in meas or clean_only is False:
        return None
    keep = meas["clean"] > 0.5
    if clean_only == "auto" and keep.float().mean() < 0.5:
        return None
    if int(keep.sum()) < 10:
        raise ValueError("fewer than 10 clean samples; pass clean_only=False or more n_samples")
    return keep


# ----------------------------------------------------------------------------------------------
# InterFaceGAN boundaries

def linear_svm(x: torch.Tensor, y: torch.Tensor, c: float = 1.0, iters: int = 300) -> Tuple[torch.Tensor, float]:
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


def _calibrate(coord: torch.Tensor, values: torch.Tensor, bins: int = 20) -> Optional[Dict[str, Any]]:
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


def _boundaries(lat, targets, circular, percent, condition_on, progress):
    names, normals, intercepts = [], [], []
    for name in tqdm(list(targets), desc="boundaries", disable=not progress, leave=False):
        v = targets[name]
        cols = {f"{name}_cos": torch.cos(2 * math.pi * v), f"{name}_sin": torch.sin(2 * math.pi * v)} \
            if name in circular else {name: v}
        for cname, col in cols.items():
            n = col.shape[0]
            k = max(2, int(round(n * percent / 100.0)))
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


# ----------------------------------------------------------------------------------------------
# controllers

def _mlp(sizes: Sequence[int]) -> nn.Sequential:
    layers: List[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.SiLU())
    return nn.Sequential(*layers)


def _encode_targets(targets: Dict[str, torch.Tensor], circular: Sequence[str]) -> Tuple[torch.Tensor, Dict[str, List[int]]]:
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


class _Controllers:
    """The predictor and the per-attribute controllers, rebuilt from (or stored into) a record's state."""

    def __init__(self, dim: int, layout: Dict[str, List[int]], circular: Sequence[str], hidden: int):
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
    def state(self) -> Dict[str, torch.Tensor]:
        st = {f"pred.{k}": v.detach().cpu() for k, v in self.pred.state_dict().items()}
        st.update({f"ctrl.{k}": v.detach().cpu() for k, v in self.ctrl.state_dict().items()})
        st.update({"in_mean": self.in_mean, "in_std": self.in_std, "out_mean": self.out_mean, "out_std": self.out_std})
        return st

    @classmethod
    def from_record(cls, d: Directions) -> "_Controllers":
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


def _fit_controllers(lat: torch.Tensor, targets: Dict[str, torch.Tensor], circular: Sequence[str], hidden: int,
                     pred_iters: int, ctrl_iters: int, w_keep: float, w_move: float, seed: int,
                     progress: bool) -> Tuple[_Controllers, Dict[str, float]]:
    torch.manual_seed(seed)
    y, layout = _encode_targets(targets, circular)
    n = lat.shape[0]
    perm = torch.randperm(n)
    n_val = max(1, n // 10)
    val, tr = perm[:n_val], perm[n_val:]
    c = _Controllers(lat.shape[1], layout, circular, hidden)
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
    stats = {"predictor_val_r2_" + k: float(1 - resid[s:e].mean()) for k, (s, e) in layout.items()}
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
                  value: Union[float, torch.Tensor], refine: Optional[int] = None) -> torch.Tensor:
    """Latents with attribute ``name`` set to ``value`` (float or ``[B]``) and the others kept, using
    the controllers in ``directions`` (from ``attribute_directions(..., kind='controller')``).

    ``latents`` are ``[B, D]`` in ``directions.space`` (z by default); ``refine`` extra gradient steps
    through the learned predictor polish the controller's offset (default: the record's setting)::

        z2 = set_attribute(model, d, z, "x", 0.3)
        images = model.generate(z2)           # or model.synthesize(z2) when d.space == "w"
    """
    c = _Controllers.from_record(directions)
    if name not in c.layout:
        raise KeyError(f"no controller for {name!r}; controllers: {list(c.layout)}")
    lat = torch.as_tensor(latents, dtype=torch.float32)
    if lat.dim() != 2 or lat.shape[1] != directions.dim:
        raise ValueError(f"latents must be [B, {directions.dim}] in {directions.space}; got {tuple(lat.shape)}")
    if not torch.isfinite(lat).all():
        raise ValueError("latents contain NaN or inf")
    device = lat.device
    lat = lat.cpu()
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
        delta = delta.clone().requires_grad_(True)
        opt = torch.optim.Adam([delta], lr=0.05 * float(c.in_std.mean()))
        for _ in range(refine):
            loss = c.objective(name, lat, delta, target, keep, info["w_keep"], info["w_move"]).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        delta = delta.detach()
    return (lat + delta).to(device)


def predict_attributes(directions: Directions, latents: torch.Tensor) -> Dict[str, torch.Tensor]:
    """The controller record's predictor: attribute values predicted from latents ``[B, D]``."""
    c = _Controllers.from_record(directions)
    with torch.no_grad():
        out = c.predict(torch.as_tensor(latents, dtype=torch.float32).cpu())
    return {k: c.decode(k, out) for k in c.layout}


# ----------------------------------------------------------------------------------------------
# the method

def attribute_directions(model: Any, attributes: Any = "sprites", kind: str = "boundary", n_samples: int = 5000,
                         percent: float = 2.0, condition_on: Sequence[str] = (), space: Optional[str] = None,
                         circular: Optional[Sequence[str]] = None, clean_only: Union[bool, str] = "auto",
                         hidden: int = 128, pred_iters: int = 3000, ctrl_iters: int = 1500, w_keep: float = 1.0,
                         w_move: float = 1e-3, refine: int = 30, seed: int = 0, progress: bool = True) -> Directions:
    """Supervised directions for measured attributes (InterFaceGAN boundaries or GAN-Control-style controllers).

    ``attributes``: ``"sprites"``, a list of sprites factors, or a dict ``name -> fn(images) -> [B]``.
    ``kind="boundary"``: linear SVM on the top/bottom ``percent`` %, directions = unit normals,
    ``condition_on`` orthogonalises against other boundaries; space defaults to the model's synthesis
    space. ``kind="controller"``: predictor + per-attribute controller MLPs stored in the record's
    state, applied by :func:`set_attribute`; space defaults to ``"z"``. ``circular`` names periodic
    attributes in [0, 1) (default: hue, bg_hue for sprites). ``clean_only="auto"`` trains on clean
    sprites renders only when at least half are clean::

        d = attribute_directions(model, "sprites", kind="boundary", condition_on=["y"])
        d = attribute_directions(model, {"brightness": lambda im: im.mean((1, 2, 3))}, kind="controller")
    """
    if kind not in ("boundary", "controller"):
        raise ValueError(f"kind must be 'boundary' (InterFaceGAN) or 'controller' (GAN-Control); got {kind!r}")
    space = _check_common(model, n_samples, space, model.synthesis_space if kind == "boundary" else "z")
    if not 0 < percent <= 50:
        raise ValueError(f"percent must be in (0, 50]; got {percent}")
    attrs, use_sprites = _resolve_attributes(attributes)
    circ = list(circular) if circular is not None else [a for a, v in attrs.items() if v in SPRITE_CIRCULAR]
    lat = _sample(model, n_samples, space, seed).cpu()
    meas = measure_attributes(model, lat, space, attrs, progress=progress)
    keep = _select_clean(meas, clean_only)
    targets = {k: meas[k] for k in attrs}
    if keep is not None:
        lat = lat[keep]
        targets = {k: v[keep] for k, v in targets.items()}
    for k, v in targets.items():
        if float(v.std()) < 1e-8:
            raise ValueError(f"attribute {k!r} is constant over the samples; nothing to learn")
    opts = {"attributes": list(attrs) if all(isinstance(v, str) for v in attrs.values()) else
            {k: (v if isinstance(v, str) else getattr(v, "__name__", "fn")) for k, v in attrs.items()},
            "kind": kind, "n_samples": n_samples, "percent": percent, "condition_on": list(condition_on),
            "space": space, "circular": circ, "clean_only": clean_only}
    info: Dict[str, Any] = {"used_samples": int(lat.shape[0]),
                            "clean_fraction": float(meas["clean"].mean()) if "clean" in meas else None}
    if kind == "boundary":
        names, N, b = _boundaries(lat, targets, circ, percent, list(condition_on), progress)
        coords = lat @ N.t()
        cals = []
        for i, nm in enumerate(names):
            cal = _calibrate(coords[:, i], targets[nm]) if nm in targets else None
            if cal is not None:
                cal["unit"] = nm
            cals.append(cal)
        info["intercepts"] = [float(v) for v in b]
        return Directions(vectors=N, space=space, sigma=coords.std(0), names=names, method="attribute",
                          options=opts, samples=n_samples, seed=seed, model_id=getattr(model, "name", ""),
                          state={"intercepts": b.float()}, info=info,
                          calibration=cals if any(c is not None for c in cals) else None)
    # controllers
    opts.update({"hidden": hidden, "pred_iters": pred_iters, "ctrl_iters": ctrl_iters, "w_keep": w_keep,
                 "w_move": w_move, "refine": refine})
    c, stats = _fit_controllers(lat, targets, circ, hidden, pred_iters, ctrl_iters, w_keep, w_move, seed, progress)
    info["controllers"] = {"layout": c.layout, "circular": circ, "hidden": hidden, "w_keep": w_keep,
                           "w_move": w_move, "refine": refine, **stats}
    # a display direction per attribute: least-squares gradient of the (first) target column
    y, _ = _encode_targets(targets, circ)
    x = lat - lat.mean(0)
    sol = torch.linalg.lstsq(x.double(), (y - y.mean(0)).double()).solution.float()  # [D, out]
    vecs = torch.stack([sol[:, c.layout[k][0]] for k in c.layout]).float()
    vecs = torch.where(vecs.norm(dim=1, keepdim=True) > 1e-12, vecs, torch.ones_like(vecs))
    sig = (lat @ F.normalize(vecs, dim=1).t()).std(0)
    return Directions(vectors=vecs, space=space, sigma=sig, names=list(c.layout), method="attribute", options=opts,
                      samples=n_samples, seed=seed, model_id=getattr(model, "name", ""), state=c.state(), info=info)


# ----------------------------------------------------------------------------------------------
# evaluation

CONTROL_ATTRIBUTES = ("x", "y", "scale", "hue")
EVAL_CONTROLLER_FIT = {"n_samples": 6000}
EVAL_CONTROLLER_FIT_QUICK = {"n_samples": 1500, "pred_iters": 800, "ctrl_iters": 400}


def _attr_error(name: str, measured: torch.Tensor, wanted: torch.Tensor) -> torch.Tensor:
    """x, y in image widths; scale relative (|m / w - 1|); hue circular distance."""
    from ..zoo import sprites

    if name in SPRITE_CIRCULAR:
        return sprites.hue_distance(measured, wanted)
    if name == "scale":
        return (measured / wanted.clamp(min=1e-4) - 1).abs()
    return (measured - wanted).abs()


@torch.no_grad()
def _controls(model, d, n, seed, attrs):
    from ..zoo import sprites

    space = d.space
    lat = _sample(model, n, space, seed + 555).cpu()
    base = measure_attributes(model, lat, space, "sprites")
    g = torch.Generator().manual_seed(seed + 556)
    err, drift, details = {}, {}, {}
    for a in attrs:
        wanted = base[a][torch.randperm(n, generator=g)]  # requests drawn from the model's own range
        with torch.enable_grad():
            lat2 = set_attribute(model, d, lat, a, wanted)
        got = measure_attributes(model, lat2, space, "sprites")
        e = _attr_error(a, got[a], wanted)
        others = [o for o in CONTROL_ATTRIBUTES if o != a]
        dr = torch.stack([_attr_error(o, got[o], base[o]) for o in others])  # [O, N]
        err[a], drift[a] = float(e.mean()), float(dr.mean())
        details[a] = {"median_error": float(e.median()), "drift_by": {o: float(dr[i].mean()) for i, o in enumerate(others)},
                      "clean": float(got["clean"].mean()), "baseline_error": float(_attr_error(a, base[a], wanted).mean())}
    return err, drift, details


def evaluate_controllers(model: Any, directions: Optional[Directions] = None, n: int = 200, seed: int = 0,
                         quick: bool = False, fit_options: Optional[Dict[str, Any]] = None,
                         progress: bool = True) -> Dict[str, Any]:
    """Explicit control on a sprites model: request x, y, scale or hue for ``n`` samples (values drawn
    from the model's own range), apply :func:`set_attribute`, measure with ``sprites.measure``.

    Returns ``control_error`` (mean |measured - requested|: x, y in image widths, scale relative,
    hue circular) and ``control_drift`` (mean change of the other three of x, y, scale, hue, same
    units), dicts keyed by attribute, plus ``control_details`` (``baseline_error`` = the error of doing
    nothing)::

        res = evaluate_controllers(latentwidgets.load("sprites-style"), quick=True)
    """
    import time

    if n < 2:
        raise ValueError(f"n must be >= 2; got {n}")
    if quick:
        n = min(n, 64)
    t0 = time.time()
    fit = dict(EVAL_CONTROLLER_FIT_QUICK if quick else EVAL_CONTROLLER_FIT)
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
                                **{k: v for k, v in directions.info.get("controllers", {}).items() if k.startswith("predictor")}}}
