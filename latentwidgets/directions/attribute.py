"""Attribute directions from any image -> value function: InterFaceGAN boundaries and GAN-Control-style controllers.

Both start from sampled latents, the images they render and the attributes measured on those images
(``attributes="sprites"`` reads x, y, scale, hue, bg_hue, bg_value with ``sprites.measure``; or give
a dict ``name -> fn(images [B,3,H,W]) -> [B] values``). The sprites reader is refused at once on a
model that does not draw sprites scenes (see :func:`require_sprites_scenes`): pass your own measures.

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
  and keep everything else" needs on a pretrained model. ``controllers.set_attribute`` applies a controller
  (plus a few refinement steps through the predictor) and is what the widgets call::

      d = attribute_directions(model, "sprites", kind="controller", n_samples=6000)
      z2 = set_attribute(model, d, z, "x", 0.3)          # latents in d.space
      images = model.generate(z2)

Controllers default to ``space="z"``: the Gaussian z covers the whole latent space the predictor was
trained on, while offsets in w can leave the mapping network's manifold where the predictor has never
seen data. Circular attributes are predicted and requested as (cos, sin) of the angle.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..zoo.sprites import CIRCULAR_FACTORS, MEASURED_FACTORS
from .boundaries import boundary_columns, extreme_count, fit_boundaries, median_calibration
from .controllers import encode_targets, fit_controllers
from .record import Directions
from .sampling import latent_batches
from .streaming import Extremes, check_memory

AttributeFn = Callable[[torch.Tensor], torch.Tensor]


# ----------------------------------------------------------------------------------------------
# sampling and measuring

def _resolve_attributes(attributes: Any) -> tuple[dict[str, str | AttributeFn], bool]:
    """name -> ('sprites' factor key | callable); also whether the sprites reader is used."""
    if isinstance(attributes, str):
        if attributes != "sprites":
            raise ValueError(f"attributes must be 'sprites', a list of sprites factors or a dict name -> fn(images); "
                             f"got {attributes!r}")
        attributes = list(MEASURED_FACTORS)
    if isinstance(attributes, (list, tuple)):
        bad = [a for a in attributes if a not in MEASURED_FACTORS]
        if bad:
            raise ValueError(f"unknown sprites attributes {bad}; known: {list(MEASURED_FACTORS)} "
                             "(or pass a dict name -> fn(images) -> [B] values)")
        attributes = {a: a for a in attributes}
    if not isinstance(attributes, Mapping) or not attributes:
        raise ValueError("attributes must be 'sprites', a non-empty list of sprites factors "
                         "or a dict name -> fn(images)")
    out = {}
    for k, v in attributes.items():
        if v == "sprites":
            v = k
        if isinstance(v, str):
            if v not in MEASURED_FACTORS:
                raise ValueError(f"attribute {k!r}: unknown sprites factor {v!r}; known: {list(MEASURED_FACTORS)}")
        elif not callable(v):
            raise TypeError(f"attribute {k!r} must be a function images -> [B] values or a sprites factor name")
        out[str(k)] = v
    return out, any(isinstance(v, str) for v in out.values())


#: latents rendered to tell whether a model draws sprites scenes, and the clean fraction that says it does
SPRITES_PROBE, SPRITES_CLEAN = 16, 0.5


def require_sprites_scenes(model: Any) -> None:
    """Refuse at once when the sprites reader cannot measure ``model``'s images: only the zoo's sprites models,
    or a model whose probe images (16 seeded samples) read as clean sprites scenes at least half the time, have
    the factors it reads; everything else needs the user's own measures. The error shows how to pass them."""
    from .. import zoo
    from ..zoo import sprites

    name = getattr(model, "name", type(model).__name__)
    resolution = getattr(model, "resolution", None)
    if resolution == sprites.SIZE and name in zoo.generative():
        return
    if resolution == sprites.SIZE:
        with torch.no_grad():
            clean = sprites.measure(model.generate(model.sample_z(SPRITES_PROBE, seed=0)))["clean"].float().mean()
        if float(clean) >= SPRITES_CLEAN:
            return
        why = f"only {float(clean):.0%} of {SPRITES_PROBE} probe images read as sprites scenes"
    else:
        why = f"its images are {resolution} px, sprites scenes {sprites.SIZE} px"
    raise ValueError(
        f"attributes='sprites' (or sprites factor names) reads the sprites world's factors {list(MEASURED_FACTORS)}, "
        f"which {name!r} does not draw ({why}): its directions would be meaningless. Pass your own measures, a "
        "dict name -> fn(images [B, 3, H, W] in [0, 1]) -> [B] values, e.g. "
        "attribute_directions(model, {'smile': lambda images: smile_classifier(images)}), or "
        "find_directions(model, 'attribute', attributes={'brightness': lambda im: im.mean((1, 2, 3))})")


def _render(model: Any, lat: torch.Tensor, space: str) -> torch.Tensor:
    return model.generate(lat) if space == "z" else model.synthesize(lat)


@torch.no_grad()
def measure_attributes(model: Any, lat: torch.Tensor, space: str, attributes: Any,
                       batch_size: int = 256, progress: bool = False) -> dict[str, torch.Tensor]:
    """Render ``lat`` (in ``space``) and measure every attribute -> dict name -> ``[N]`` (plus ``clean``
    when the sprites reader runs)."""
    from ..zoo import sprites

    attrs, use_sprites = _resolve_attributes(attributes)
    cols: dict[str, list[torch.Tensor]] = {k: [] for k in attrs}
    clean: list[torch.Tensor] = []
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


def _check_common(model: Any, n_samples: int, space: str | None, default: str) -> str:
    from .sampling import check_count

    check_count(n_samples, "n_samples", minimum=10)
    space = space or default
    if space not in ("z", "w"):
        raise ValueError(f"space must be 'z' or 'w'; got {space!r}")
    if space == "w" and not model.has_mapping:
        space = "z"
    return space


def _use_clean(n: int, n_clean: int | None, clean_only: bool | str) -> bool:
    """Whether to keep clean sprites renders only (``n_clean`` None: the sprites reader did not run)."""
    if n_clean is None or clean_only is False or (clean_only == "auto" and n_clean < 0.5 * n):
        return False
    if n_clean < 10:
        raise ValueError("fewer than 10 clean samples; pass clean_only=False or more n_samples")
    return True


#: attribute sampling keeps the first BUFFER samples whole (latents and measures); the rest only stream
BUFFER = 20_000
#: latents drawn per step of the stream (images are rendered and measured 256 at a time)
STREAM_BATCH = 4096


def stream_samples(model: Any, n: int, space: str, seed: int, attrs: dict[str, str | AttributeFn],
                   circular: Sequence[str], percent: float, clean_only: bool | str, buffer: int = BUFFER,
                   progress: bool = False) -> dict[str, Any]:
    """Sample, render and measure ``n`` seeded samples batch by batch, holding only

    - the first ``buffer`` samples whole (latents in ``space``, measures, clean flags): a uniform sample of
      the stream, since the samples are i.i.d. (calibration, sigma, controllers' training data);
    - per boundary column (:func:`boundaries.boundary_columns`) the exact bottom and top ``percent`` %
      by score, as sample indices (:class:`streaming.Extremes`; among clean renders too when the sprites
      reader runs); their latents are regenerated from the seeds afterwards (latents only, no rendering).

    Memory: ``buffer x (D + attributes)`` plus the extremes, ``2 x percent / 100 x n`` latents per column
    (4% of n at the default 2%: the part that grows with n, 25 times slower than holding every sample;
    :func:`streaming.check_memory` refuses a run where it would not fit), plus one batch. Returns the
    buffer (``lat``, ``targets``, filtered to clean renders when those are used), ``used`` (samples
    used), ``clean_fraction``, and ``extremes`` (``lat [U, D]`` and column -> rows of it, bottom then top).
    """
    cols = list(boundary_columns({a: torch.zeros(1) for a in attrs}, circular))
    k = extreme_count(n, percent)
    dim = model.z_dim if space == "z" else model.w_dim
    res = getattr(model, "resolution", 64) or 64
    kept = min(n, buffer)
    check_memory({"buffer": kept * (dim + len(attrs) + 1) * 4,
                  "extremes": len(cols) * 2 * (2 * k * 16 * 2 + 2 * k * dim * 4),
                  "batch": STREAM_BATCH * dim * 4 * 2 + 256 * 3 * res * res * 4 * 4}, model.device,
                 f"pass a smaller percent or n_samples (the top and bottom {percent}% of n_samples are kept) "
                 f"or a smaller buffer= (now {buffer})")
    extremes: dict[tuple[str, bool], Extremes] = {}
    lat_buf = torch.empty(kept, dim)                   # filled in place: no second copy when the stream ends
    meas_buf: dict[str, torch.Tensor] = {}
    seen, n_clean = 0, None
    for z, lat in latent_batches(model, n, seed, STREAM_BATCH, progress, desc="sampling and measuring"):
        x = (z if space == "z" else lat).cpu()
        meas = measure_attributes(model, x, space, attrs)
        index = torch.arange(seen, seen + x.shape[0])
        clean = meas["clean"] > 0.5 if "clean" in meas else None
        for cname, v in boundary_columns({a: meas[a] for a in attrs}, circular).items():
            extremes.setdefault((cname, False), Extremes(k)).update(v, index)
            if clean is not None:
                extremes.setdefault((cname, True), Extremes(k)).update(v[clean], index[clean])
        if clean is not None:
            n_clean = (n_clean or 0) + int(clean.sum())
        if seen < buffer:
            take = min(buffer - seen, x.shape[0])
            lat_buf[seen:seen + take] = x[:take]
            for key, v in meas.items():
                meas_buf.setdefault(key, torch.empty(kept, dtype=v.dtype))[seen:seen + take] = v[:take]
        seen += x.shape[0]
        del z, lat, x   # no view of this chunk survives while the sampler draws the next one
    use_clean = _use_clean(n, n_clean, clean_only)
    used = n_clean if use_clean else n
    k_used = extreme_count(used, percent)
    picks = {c: torch.cat(extremes[(c, use_clean)].indices(k_used)) for c in cols}
    wanted = torch.unique(torch.cat(list(picks.values())))        # sorted sample indices
    rows = {int(i): r for r, i in enumerate(wanted.tolist())}
    lat_ext = torch.empty(wanted.numel(), lat_buf.shape[1])
    inside = wanted < lat_buf.shape[0]
    lat_ext[inside] = lat_buf[wanted[inside]]
    if not bool(inside.all()):  # regenerate the other extremes' latents from the seeds (no rendering)
        start = 0
        for z, lat in latent_batches(model, n, seed, STREAM_BATCH):
            x = (z if space == "z" else lat).cpu()
            hit = (wanted >= start) & (wanted < start + x.shape[0]) & ~inside
            lat_ext[hit] = x[wanted[hit] - start]
            start += x.shape[0]
            del z, lat, x
    keep = meas_buf["clean"] > 0.5 if use_clean else None
    targets = {a: meas_buf[a] for a in attrs}
    if keep is not None:
        lat_buf, targets = lat_buf[keep], {a: v[keep] for a, v in targets.items()}
    return {"lat": lat_buf, "targets": targets, "used": used,
            "clean_fraction": None if n_clean is None else n_clean / n,
            "extremes": {"lat": lat_ext,
                         "rows": {c: torch.tensor([rows[int(i)] for i in p]) for c, p in picks.items()}}}


# ----------------------------------------------------------------------------------------------
# the method

def attribute_directions(model: Any, attributes: Any = "sprites", kind: str = "boundary", n_samples: int = 5000,
                         percent: float = 2.0, condition_on: Sequence[str] = (), space: str | None = None,
                         circular: Sequence[str] | None = None, clean_only: bool | str = "auto",
                         hidden: int = 128, pred_iters: int = 3000, ctrl_iters: int = 1500, w_keep: float = 1.0,
                         w_move: float = 1e-3, refine: int = 30, seed: int = 0, progress: bool = True,
                         buffer: int = BUFFER) -> Directions:
    """Supervised directions for measured attributes (InterFaceGAN boundaries or GAN-Control-style controllers).

    ``kind="boundary"``: a linear SVM on the top/bottom ``percent`` % per attribute, directions = unit
    normals. ``kind="controller"``: predictor + per-attribute controller MLPs stored in the record's
    state, applied by ``controllers.set_attribute``. Samples stream batch by batch (:func:`stream_samples`):
    the SVMs see the exact top/bottom ``percent`` % of all ``n_samples``; calibration, sigma and the
    controllers' training data come from the first ``buffer`` samples (all of them when ``n_samples <= buffer``)::

        d = attribute_directions(model, "sprites", kind="boundary", condition_on=["y"])
        d = attribute_directions(model, {"brightness": lambda im: im.mean((1, 2, 3))}, kind="controller")

    Args:
        attributes: ``"sprites"``, a list of sprites factors, or a dict ``name -> fn(images) -> [B]``.
        kind: ``"boundary"`` (InterFaceGAN) or ``"controller"`` (GAN-Control-style).
        n_samples: how many seeded samples are rendered and measured.
        percent: the top and bottom share (in %) of samples per attribute that the SVM separates, in (0, 50].
        condition_on: attributes whose boundaries each direction is made orthogonal to (conditional editing).
        space: where the directions live (default: the synthesis space for boundaries, ``"z"`` for controllers).
        circular: names of periodic attributes in [0, 1) (default: hue, bg_hue for sprites).
        clean_only: train on clean sprites renders only; ``"auto"``: when at least half are clean.
        hidden: width of the predictor and controller MLPs.
        pred_iters: training steps of the predictor.
        ctrl_iters: training steps of each controller.
        w_keep: controllers' loss weight on keeping the other attributes.
        w_move: controllers' loss weight on the size of the offset.
        refine: gradient steps through the predictor after each controller offset.
        seed: seed of the first sample (and of the training).
        progress: show a progress bar.
        buffer: the samples kept for calibration, sigma and the controllers' training data.
    """
    if kind not in ("boundary", "controller"):
        raise ValueError(f"kind must be 'boundary' (InterFaceGAN) or 'controller' (GAN-Control); got {kind!r}")
    space = _check_common(model, n_samples, space, model.synthesis_space if kind == "boundary" else "z")
    if not 0 < percent <= 50:
        raise ValueError(f"percent must be in (0, 50]; got {percent}")
    attrs, use_sprites = _resolve_attributes(attributes)
    if use_sprites:
        require_sprites_scenes(model)
    circ = list(circular) if circular is not None else [a for a, v in attrs.items() if v in CIRCULAR_FACTORS]
    if not isinstance(buffer, int) or buffer < 10:
        raise ValueError(f"buffer must be an int >= 10 (samples kept whole); got {buffer!r}")
    if kind == "controller" and n_samples > buffer:
        warnings.warn(f"controllers train on the first buffer={buffer} of the n_samples={n_samples} samples (memory "
                      "bounded); pass a larger buffer= to train on more", stacklevel=2)
    sample = stream_samples(model, n_samples, space, seed, attrs, circ, percent, clean_only, buffer, progress)
    lat, targets = sample["lat"], sample["targets"]
    for k, v in targets.items():
        if float(v.std()) < 1e-8:
            raise ValueError(f"attribute {k!r} is constant over the samples; nothing to learn")
    opts = {"attributes": list(attrs) if all(isinstance(v, str) for v in attrs.values()) else
            {k: (v if isinstance(v, str) else getattr(v, "__name__", "fn")) for k, v in attrs.items()},
            "kind": kind, "n_samples": n_samples, "percent": percent, "condition_on": list(condition_on),
            "space": space, "circular": circ, "clean_only": clean_only, "buffer": buffer}
    info: dict[str, Any] = {"used_samples": int(sample["used"]), "clean_fraction": sample["clean_fraction"]}
    if kind == "boundary":
        ext = sample["extremes"]
        names, N, b = fit_boundaries(ext["lat"], targets, circ, percent, list(condition_on), progress,
                                     selections=ext["rows"])
        coords = lat @ N.t()
        cals = []
        for i, nm in enumerate(names):
            cal = median_calibration(coords[:, i], targets[nm]) if nm in targets else None
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
    c, stats = fit_controllers(lat, targets, circ, hidden, pred_iters, ctrl_iters, w_keep, w_move, seed, progress)
    info["controllers"] = {"layout": c.layout, "circular": circ, "hidden": hidden, "w_keep": w_keep,
                           "w_move": w_move, "refine": refine, **stats}
    # a display direction per attribute: least-squares gradient of the (first) target column
    y, _ = encode_targets(targets, circ)
    x = lat - lat.mean(0)
    sol = torch.linalg.lstsq(x.double(), (y - y.mean(0)).double()).solution.float()  # [D, out]
    vecs = torch.stack([sol[:, c.layout[k][0]] for k in c.layout]).float()
    vecs = torch.where(vecs.norm(dim=1, keepdim=True) > 1e-12, vecs, torch.ones_like(vecs))
    sig = (lat @ F.normalize(vecs, dim=1).t()).std(0)
    return Directions(vectors=vecs, space=space, sigma=sig, names=list(c.layout), method="attribute", options=opts,
                      samples=n_samples, seed=seed, model_id=getattr(model, "name", ""), state=c.state(), info=info)
