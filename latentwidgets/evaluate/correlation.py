"""Scoring directions against measured ground truth (the sprites world, or any image -> factor reader).

- :func:`best_abs_corr`: for each factor, the best |correlation| between any direction's coordinate
  (``<v, latent>`` over seeded samples) and the factor measured on the generated images. Hues are
  circular: their score is the circular-linear correlation (Mardia): the multiple correlation of
  the coordinate with ``(cos 2 pi h, sin 2 pi h)``, in [0, 1], equal to |corr| for a linear factor
  laid on a circle.
- :func:`mod_score` (Oldfield et al.): ``M[i, j]`` = mean |change of factor j| when applying the
  edit found for factor i; every column (one measured factor) is divided by its largest entry, as
  in the authors' evaluation notebook, and MOD is the mean of the off-diagonal entries: 0 when each
  edit moves only its own factor, larger when edits leak into the others.

::

    samples = measure_samples(model, 2000, seed=0)            # reuse for several records
    best_abs_corr(model, d, samples=samples)                   # {'x': 0.93, 'y': ..., 'hue': ...}
    k_hue = select_edit(model, d, "hue"); k_x = select_edit(model, d, "x")
    mod_score(model, {"hue": (d, k_hue), "x": (d, k_x)})       # {'score': 0.12, 'matrix': [[...]]}

MOD depends on how strong each edit is relative to the others (columns are normalised by their
largest entry); :func:`matched_strengths` searches, for each edit, the strength that moves its own
factor by a set amount (measured, both signs, as the matrix measures it).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, Optional, Sequence, Tuple, Union

import torch

from .record import Directions
from .sampling import check_count, sample_latents

FACTORS = ("x", "y", "scale", "hue", "bg_hue", "bg_value")
CIRCULAR = ("hue", "bg_hue")
Measure = Callable[[torch.Tensor], Dict[str, torch.Tensor]]


def _default_measure() -> Measure:
    from ..zoo import sprites
    return sprites.measure


def _pearson(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of each column of ``a [N, K]`` with ``b [N]`` -> ``[K]`` (0 for constants)."""
    a = a.double() - a.double().mean(0)
    b = b.double() - b.double().mean()
    den = (a.norm(dim=0) * b.norm()).clamp(min=1e-30)
    return (a * b[:, None]).sum(0) / den


def circular_linear_corr(x: torch.Tensor, angle01: torch.Tensor) -> torch.Tensor:
    """Mardia's circular-linear correlation of each column of ``x [N, K]`` with angles in turns ``[N]``."""
    c, s = torch.cos(2 * math.pi * angle01.double()), torch.sin(2 * math.pi * angle01.double())
    rxc, rxs = _pearson(x, c), _pearson(x, s)
    rcs = float(_pearson(c[:, None], s)[0])
    r2 = (rxc ** 2 + rxs ** 2 - 2 * rxc * rxs * rcs) / max(1 - rcs ** 2, 1e-12)
    return r2.clamp(min=0, max=1).sqrt()


def factor_corr(x: torch.Tensor, values: torch.Tensor, factor: str) -> torch.Tensor:
    """|correlation| of each column of ``x [N, K]`` with a factor (circular for hues)."""
    if factor in CIRCULAR:
        return circular_linear_corr(x, values)
    return _pearson(x, values).abs()


def measure_samples(model: Any, n: int = 2000, seed: int = 0, batch_size: int = 256,
                    measure: Optional[Measure] = None) -> Dict[str, Any]:
    """Seeded latents, their images' measured factors and the clean mask (for reuse across records).

    Returns ``{"z", "lat", "factors": {name: [n]}, "clean": [n] bool, "seed", "n"}``.
    """
    check_count(n, "n")
    measure = measure or _default_measure()
    z, lat = sample_latents(model, n, seed)
    facs = []
    for i in range(0, n, batch_size):
        facs.append(measure(model.synthesize(lat[i:i + batch_size])))
    factors = {k: torch.cat([f[k] for f in facs]).float().cpu() for k in facs[0]}
    clean = factors.pop("clean").bool() if "clean" in factors else torch.ones(n, dtype=torch.bool)
    return {"z": z.cpu(), "lat": lat.cpu(), "factors": factors, "clean": clean, "seed": seed, "n": n}


def coordinates(model: Any, d: Directions, z: torch.Tensor, lat: torch.Tensor) -> torch.Tensor:
    """Coordinates ``[N, K]`` of samples along each direction, in the record's space."""
    d.check(model)
    if d.space == "w" or (d.space == "z" and not model.has_mapping):
        x = lat
    elif d.space == "z":
        x = z
    else:
        x = torch.cat([model.activations(lat[i:i + 256].to(model.device), d.layer).reshape(
            min(256, lat.shape[0] - i), -1).cpu() for i in range(0, lat.shape[0], 256)])
    return x.float().cpu() @ d.vectors.float().cpu().t()


def corr_matrix(model: Any, d: Directions, samples: Dict[str, Any], factors: Sequence[str] = FACTORS,
                clean_only: bool = True, min_clean: int = 30) -> Dict[str, torch.Tensor]:
    """``{factor: [K] |corr|}`` of every direction's coordinate with every factor."""
    mask = samples["clean"] if clean_only and int(samples["clean"].sum()) >= min_clean else \
        torch.ones_like(samples["clean"])
    x = coordinates(model, d, samples["z"], samples["lat"])
    out = {}
    for f in factors:
        if f not in samples["factors"]:
            raise KeyError(f"factor {f!r} was not measured; measured: {sorted(samples['factors'])}")
        v = samples["factors"][f]
        ok = mask & torch.isfinite(v)
        out[f] = factor_corr(x[ok], v[ok], f).float() if int(ok.sum()) > 2 else torch.zeros(x.shape[1])
    return out


def best_abs_corr(model: Any, d: Directions, n: int = 2000, seed: int = 0, factors: Sequence[str] = FACTORS,
                  samples: Optional[Dict[str, Any]] = None, clean_only: bool = True) -> Dict[str, float]:
    """For each factor, the best |correlation| of any direction's coordinate with the measured factor
    (circular-linear correlation for hues; clean images only when at least 30 are clean).

        best_abs_corr(model, pca_directions(model), n=2000)   # {'x': ..., 'y': ..., 'scale': ..., ...}
    """
    samples = samples or measure_samples(model, n, seed)
    mat = corr_matrix(model, d, samples, factors, clean_only)
    return {f: float(v.max()) for f, v in mat.items()}


def random_directions(model: Any, k: int = 10, seed: int = 0, space: Optional[str] = None) -> Directions:
    """``k`` random unit directions (the chance baseline), in w (or z without a mapping)."""
    space = space or model.synthesis_space
    dim = model.w_dim if space == "w" else model.z_dim
    g = torch.Generator().manual_seed(int(seed) + 2)
    return Directions(vectors=torch.randn(k, dim, generator=g), space=space, method="random",
                      names=[f"random {i}" for i in range(k)], seed=seed, model_id=model.name)


# --------------------------------------------------------------------------------------------- edits
def _factor_delta(f: str, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    if f in CIRCULAR:
        d = torch.remainder(a - b, 1.0)
        return torch.minimum(d, 1.0 - d)
    return (a - b).abs()


def edit_effects(model: Any, d: Directions, k: int, strength: float = 2.0, n: int = 200, seed: int = 0,
                 factors: Sequence[str] = FACTORS, measure: Optional[Measure] = None, both_signs: bool = True,
                 samples: Optional[Dict[str, Any]] = None, direct: Union[bool, str] = False,
                 min_clean: int = 10) -> Dict[str, float]:
    """Mean |change| of each measured factor when editing direction ``k`` by ``strength`` sigma (both
    signs averaged), over samples whose original and edited images are both clean (all samples
    when fewer than ``min_clean`` pairs are). With ``direct`` and a TCA record, the activation edit
    is added at the layer as well (``direct="multilinear"``: for multilinear edits only, as the
    authors edit style-based generators; see :func:`~latentwidgets.directions.tensor.tca_edits`)."""
    from ..edit import Edit, render_edits

    measure = measure or _default_measure()
    if samples is None:
        samples = measure_samples(model, n, seed, measure=measure)
    z, base, clean0 = samples["z"], samples["factors"], samples["clean"]
    sums = {f: 0.0 for f in factors}
    count = 0
    for s in ((strength, -strength) if both_signs else (strength,)):
        if direct:
            from .tensor import tca_edits
            edits = tca_edits(d, k, s, direct=direct)
        else:
            edits = [Edit(d, k, s)]
        feats = []
        for i in range(0, z.shape[0], 256):
            _, img = render_edits(model, z[i:i + 256].to(model.device), edits)
            feats.append(measure(img))
        f1 = {key: torch.cat([f[key] for f in feats]).float().cpu() for key in feats[0]}
        ok = clean0 & f1["clean"].bool() if "clean" in f1 else clean0
        if int(ok.sum()) < min_clean:  # too few clean pairs (an untrained model): measure them all
            ok = torch.ones_like(ok)
        for f in factors:
            ok &= torch.isfinite(f1[f]) & torch.isfinite(base[f])
        if int(ok.sum()) == 0:
            continue
        for f in factors:
            sums[f] += float(_factor_delta(f, f1[f][ok], base[f][ok]).sum())
        count += int(ok.sum())
    if count == 0:
        return {f: float("nan") for f in factors}
    return {f: v / count for f, v in sums.items()}


def select_edit(model: Any, d: Directions, factor: str, candidates: Optional[Sequence[int]] = None,
                strength: float = 2.0, samples: Optional[Dict[str, Any]] = None, n: int = 100, seed: int = 0,
                measure: Optional[Measure] = None, direct: Union[bool, str] = False) -> Tuple[int, Dict[int, float]]:
    """The direction (among ``candidates``, default all) whose ``strength``-sigma edit moves ``factor``
    the most on average: how a user picks "the x slider" of an unsupervised method.
    ``direct``: the edits as they will be scored (a TCA record's latent edit plus its activation
    edit), so that the pick and the effect used to match strengths are those of the scored edit.
    Returns ``(index, {index: mean |change|})``."""
    samples = samples or measure_samples(model, n, seed, measure=measure)
    cands = list(candidates) if candidates is not None else list(range(len(d)))
    eff = {k: edit_effects(model, d, k, strength, samples=samples, factors=(factor,), both_signs=False,
                           measure=measure, direct=direct)[factor] for k in cands}
    valid = {k: v for k, v in eff.items() if v == v}
    if not valid:
        raise ValueError(f"no candidate edit of {d.method} left any clean image to measure {factor!r}")
    return max(valid, key=valid.get), eff


def mod_matrix(model: Any, edits: Dict[str, Tuple[Directions, int]], strength: Union[float, Dict[str, float]] = 2.0,
               n: int = 200, seed: int = 0, samples: Optional[Dict[str, Any]] = None,
               direct: Union[bool, str, Dict[str, Union[bool, str]]] = False,
               measure: Optional[Measure] = None) -> torch.Tensor:
    """``M [F, F]``: row i = edit found for factor i, column j = mean |change| of factor j.
    ``strength``: sigma units, one for all edits or a dict per factor; ``direct`` likewise (TCA
    records: add the activation edit too)."""
    names = list(edits)
    samples = samples or measure_samples(model, n, seed, measure=measure)
    rows = []
    for f in names:
        d, k = edits[f]
        s = strength[f] if isinstance(strength, dict) else strength
        dr = direct.get(f, False) if isinstance(direct, dict) else direct
        eff = edit_effects(model, d, k, s, samples=samples, factors=names, direct=dr, measure=measure)
        rows.append([eff[g] for g in names])
    return torch.tensor(rows, dtype=torch.float64)


def mod_from_matrix(m: torch.Tensor) -> float:
    """MOD of a change matrix: columns divided by their max, mean of the off-diagonal entries
    (NaN when some factor changed under no edit, e.g. an untrained model that draws nothing).
    Each column holds one factor's changes, in that factor's units, so dividing by the column's
    max makes the factors comparable; the authors' notebook normalises the same way (summaries
    that call the matrix "row-normalised" describe this computation loosely).

        mod_from_matrix(torch.tensor([[0.1, 1.0], [0.05, 4.0]]))   # (0.05/0.1 + 1/4) / 2 = 0.375
    """
    m = torch.as_tensor(m, dtype=torch.float64)
    if m.dim() != 2 or m.shape[0] != m.shape[1] or m.shape[0] < 2:
        raise ValueError(f"MOD needs a square matrix of at least 2 x 2; got {tuple(m.shape)}")
    if not torch.isfinite(m).all():
        raise ValueError("the change matrix holds NaN (no clean edited images to measure)")
    top = m.max(dim=0, keepdim=True).values
    if (top <= 0).any():  # some factor moved under no edit at all: MOD is undefined
        return float("nan")
    n = m / top
    f = m.shape[0]
    return float((n.sum() - torch.diagonal(n).sum()) / (f * (f - 1)))


def mod_score(model: Any, edits: Dict[str, Tuple[Directions, int]], strength: Union[float, Dict[str, float]] = 2.0,
              n: int = 200, seed: int = 0, samples: Optional[Dict[str, Any]] = None,
              direct: Union[bool, str, Dict[str, Union[bool, str]]] = False,
              measure: Optional[Measure] = None) -> Dict[str, Any]:
    """Oldfield et al.'s MOD for edits ``{factor: (directions, k)}``; lower = better separated.
    ``strength`` in sigma units, one for all or per factor (see :func:`matched_strengths`).

        mod_score(model, {"hue": (d, 3), "x": (d, 0)})   # {'score': ..., 'matrix': [[..]], 'factors': [...]}
    """
    m = mod_matrix(model, edits, strength, n, seed, samples, direct, measure)
    return {"score": mod_from_matrix(m), "matrix": m.tolist(), "factors": list(edits),
            "edits": {f: edits[f][0].names[edits[f][1]] for f in edits}, "strength": strength}


def match_strength(model: Any, d: Directions, k: int, factor: str, target: float,
                   samples: Optional[Dict[str, Any]] = None, direct: Union[bool, str] = False,
                   measure: Optional[Measure] = None, guess: Optional[Tuple[float, float]] = None,
                   low: float = 0.25, high: float = 8.0, rtol: float = 0.03, max_evals: int = 10,
                   n: int = 100, seed: int = 0) -> Dict[str, Any]:
    """The strength (sigma units) at which editing direction ``k`` moves ``factor`` by ``target`` on
    average, measured as :func:`mod_matrix` measures it (both signs, :func:`edit_effects`), found
    by a bracketing search on ``samples`` within ``[low, high]``. Sigma means different things for
    different methods, and an edit's effect is rarely linear in its strength (hue changes saturate),
    so the strength is searched, not extrapolated from one probe.

    ``guess = (strength, effect)``: a measured point to start from (e.g. :func:`select_edit`'s).
    Returns ``{"strength", "effect", "evals"}``: the measured point closest to the target (within
    ``rtol`` of it unless the target is out of reach in ``[low, high]`` or ``max_evals`` ran out).

        match_strength(model, d, k_hue, "hue", 0.05, samples=samples)   # {'strength': 0.43, 'effect': 0.0502, ...}
    """
    if not target > 0:
        raise ValueError(f"target must be a positive change; got {target}")
    if not 0 < low <= high:
        raise ValueError(f"need 0 < low <= high; got low={low}, high={high}")
    samples = samples or measure_samples(model, n, seed, measure=measure)

    def effect(s: float) -> float:
        e = edit_effects(model, d, k, s, samples=samples, factors=(factor,), direct=direct, measure=measure)[factor]
        if not e == e:
            raise ValueError(f"the edit of {d.names[k]!r} left no clean image to measure {factor!r}")
        return e

    def clip(s: float) -> float:
        return float(min(max(s, low), high))

    s = 1.0
    if guess is not None:
        if not guess[1] > 0:
            raise ValueError(f"the edit for {factor!r} moved it by {guess[1]}: cannot match its strength")
        s = guess[0] * target / guess[1]
    s = clip(s)
    below: Optional[Tuple[float, float]] = None   # (strength, effect) with effect < target
    above: Optional[Tuple[float, float]] = None
    seen: list = []
    for _ in range(max_evals):
        e = effect(s)
        seen.append((s, e))
        if abs(e - target) <= rtol * target:
            break
        if e < target:
            below = (s, e) if below is None or s > below[0] else below
        else:
            above = (s, e) if above is None or s < above[0] else above
        if below is not None and above is not None:   # interpolate inside the bracket, kept off its ends
            (s0, e0), (s1, e1) = below, above
            t = (target - e0) / max(e1 - e0, 1e-12)
            s = s0 + min(max(t, 0.1), 0.9) * (s1 - s0)
        elif above is None:                           # too weak: scale up (at most 4x a step)
            if s >= high:
                break
            s = clip(s * (4.0 if e <= 0 else min(4.0, max(1.1, target / e))))
        else:                                         # too strong: scale down
            if s <= low:
                break
            s = clip(s * max(0.25, min(0.9, target / e)))
    if all(e <= 0 for _, e in seen):
        raise ValueError(f"the edit of {d.names[k]!r} does not move {factor!r}: cannot match its strength")
    best = min(seen, key=lambda p: abs(p[1] - target))
    return {"strength": best[0], "effect": best[1], "evals": len(seen)}


def matched_strengths(model: Any, edits: Dict[str, Tuple[Directions, int]], targets: Dict[str, float],
                      samples: Optional[Dict[str, Any]] = None,
                      direct: Union[bool, str, Dict[str, Union[bool, str]]] = False,
                      measure: Optional[Measure] = None,
                      guesses: Optional[Dict[str, Tuple[float, float]]] = None, **options: Any
                      ) -> Dict[str, Dict[str, Any]]:
    """:func:`match_strength` for each edit ``{factor: (directions, k)}`` of a MOD matrix: per factor
    ``{"strength", "effect", "evals"}``, so MOD compares leakage per unit of intended effect.

        m = matched_strengths(model, {"hue": (d, 3), "x": (d, 0)}, {"hue": 0.05, "x": 0.05}, samples=sel)
        mod_score(model, edits, {f: v["strength"] for f, v in m.items()}, samples=held_out)
    """
    out = {}
    for f, (d, k) in edits.items():
        dr = direct.get(f, False) if isinstance(direct, dict) else direct
        out[f] = match_strength(model, d, k, f, targets[f], samples=samples, direct=dr, measure=measure,
                                guess=(guesses or {}).get(f), **options)
    return out
