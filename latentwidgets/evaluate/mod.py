"""Oldfield et al.'s MOD: how much the edit found for one factor moves the others, with the edit
picks and the strength search that make the score comparable across methods.

``M[i, j]`` = mean |change of factor j| when applying the edit found for factor i; every column (one
measured factor) is divided by its largest entry, as in the authors' evaluation notebook, and MOD is
the mean of the off-diagonal entries: 0 when each edit moves only its own factor, larger when edits
leak into the others::

    samples = measure_samples(model, 200, seed=0)
    k_hue = select_edit(model, d, "hue", samples=samples)[0]; k_x = select_edit(model, d, "x", samples=samples)[0]
    mod_score(model, {"hue": (d, k_hue), "x": (d, k_x)}, samples=samples)   # {'score': 0.12, 'matrix': [[...]]}

MOD depends on how strong each edit is relative to the others (columns are normalised by their
largest entry); :func:`matched_strengths` searches, for each edit, the strength that moves its own
factor by a set amount (measured, both signs, as the matrix measures it). The benchmark's whole
protocol (candidates, sample sets, TCA's edits) is :mod:`~latentwidgets.evaluate.mod_protocol`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..directions.record import Directions
from ..edit import edits_for, render_edits
from ..models.base import LatentModel
from ..zoo import sprites
from ..zoo.sprites import CIRCULAR_FACTORS, MEASURED_FACTORS
from .correlation import Measure, default_measure, measure_samples


def _factor_delta(f: str, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return sprites.hue_distance(a, b) if f in CIRCULAR_FACTORS else (a - b).abs()


def edit_effects(model: LatentModel, d: Directions, k: int, strength: float = 2.0, n: int = 200, seed: int = 0,
                 factors: Sequence[str] = MEASURED_FACTORS, measure: Measure | None = None, both_signs: bool = True,
                 samples: dict[str, Any] | None = None, direct: bool | str = False,
                 min_clean: int = 10) -> dict[str, float]:
    """Mean |change| of each measured factor when editing direction ``k`` by ``strength`` (both
    signs averaged; the edits of :func:`~latentwidgets.edit.edits_for`, so sigma for linear and TCA
    directions), over samples whose original and edited images are both clean (all samples
    when fewer than ``min_clean`` pairs are). With ``direct`` and a TCA record, the activation edit
    is added at the layer as well (``direct="multilinear"``: for multilinear edits only, as the
    authors edit style-based generators; see :func:`~latentwidgets.directions.tensor.tca_edits`)."""
    measure = measure or default_measure()
    if samples is None:
        samples = measure_samples(model, n, seed, measure=measure)
    z, base, clean0 = samples["z"], samples["factors"], samples["clean"]
    sums = {f: 0.0 for f in factors}
    count = 0
    for s in ((strength, -strength) if both_signs else (strength,)):
        feats = []
        for i in range(0, z.shape[0], 256):
            zb = z[i:i + 256].to(model.device)
            _, img = render_edits(model, zb, edits_for(model, d, k, s, zb, direct=direct))
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


def select_edit(model: LatentModel, d: Directions, factor: str, candidates: Sequence[int] | None = None,
                strength: float = 2.0, samples: dict[str, Any] | None = None, n: int = 100, seed: int = 0,
                measure: Measure | None = None, direct: bool | str = False) -> tuple[int, dict[int, float]]:
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
    return max(valid, key=lambda k: valid[k]), eff


def mod_matrix(model: LatentModel, edits: dict[str, tuple[Directions, int]], strength: float | dict[str, float] = 2.0,
               n: int = 200, seed: int = 0, samples: dict[str, Any] | None = None,
               direct: bool | str | dict[str, bool | str] = False,
               measure: Measure | None = None) -> torch.Tensor:
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


def mod_score(model: LatentModel, edits: dict[str, tuple[Directions, int]], strength: float | dict[str, float] = 2.0,
              n: int = 200, seed: int = 0, samples: dict[str, Any] | None = None,
              direct: bool | str | dict[str, bool | str] = False,
              measure: Measure | None = None) -> dict[str, Any]:
    """Oldfield et al.'s MOD for edits ``{factor: (directions, k)}``; lower = better separated.
    ``strength`` in sigma units, one for all or per factor (see :func:`matched_strengths`).

        mod_score(model, {"hue": (d, 3), "x": (d, 0)})   # {'score': ..., 'matrix': [[..]], 'factors': [...]}
    """
    m = mod_matrix(model, edits, strength, n, seed, samples, direct, measure)
    return {"score": mod_from_matrix(m), "matrix": m.tolist(), "factors": list(edits),
            "edits": {f: edits[f][0].names[edits[f][1]] for f in edits}, "strength": strength}


def match_strength(model: LatentModel, d: Directions, k: int, factor: str, target: float,
                   samples: dict[str, Any] | None = None, direct: bool | str = False,
                   measure: Measure | None = None, guess: tuple[float, float] | None = None,
                   low: float = 0.25, high: float = 8.0, rtol: float = 0.03, max_evals: int = 10,
                   n: int = 100, seed: int = 0) -> dict[str, Any]:
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
    below: tuple[float, float] | None = None   # (strength, effect) with effect < target
    above: tuple[float, float] | None = None
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


def matched_strengths(model: LatentModel, edits: dict[str, tuple[Directions, int]], targets: dict[str, float],
                      samples: dict[str, Any] | None = None,
                      direct: bool | str | dict[str, bool | str] = False,
                      measure: Measure | None = None,
                      guesses: dict[str, tuple[float, float]] | None = None, **options: Any
                      ) -> dict[str, dict[str, Any]]:
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
