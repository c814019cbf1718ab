"""The MOD protocol of the fidelity benchmark (the one the README's MOD figures follow): which edit
stands for each factor, on which samples it is picked, matched and scored, and how TCA is fitted
and edited for it. ``benchmarks/fidelity.py`` and ``benchmarks/tca_mod_sweep.py`` both call it.

1. samples: the correlation samples (seed 1) give the selection set (their first
   ``select_samples``); ``mod_samples`` others (seed 2) score (:func:`mod_sample_sets`);
2. pick: per factor (hue, x), the candidate whose ``MOD_STRENGTH``-sigma edit moves it most
   (TCA's candidates, the paper's semantics: :func:`tca_candidates`);
3. match: each edit's strength searched on the selection set so it moves its own factor by
   ``MOD_TARGETS``;
4. score: MOD on the held-out set (:func:`mod_for`).

In code::

    b = MOD_BUDGET["quick"]
    sel, held_out = mod_sample_sets(model, b, measure_samples(model, b["corr_samples"], seed=1))
    mod_tca(model, fit_tca(model, b), sel, held_out)["score"]
    mod_for(model, pca_directions(model, 10), sel, held_out)["score"]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..directions.record import Directions
from ..directions.tensor import tensor_directions
from ..models.base import LatentModel
from .correlation import measure_samples
from .mod import matched_strengths, mod_score, select_edit

#: sample budgets of the protocol: the fidelity benchmark's full run and its quick run
MOD_BUDGET = {
    "full": dict(pca_samples=100_000, corr_samples=2000, tca_samples=4000, tca_steps=600, select_samples=100,
                 mod_samples=300),
    "quick": dict(pca_samples=20_000, corr_samples=300, tca_samples=1000, tca_steps=120, select_samples=40,
                  mod_samples=60),
}
MOD_STRENGTH = 2.0
#: intended change of each MOD edit's own factor (x in image widths, hue in turns)
MOD_TARGETS = {"x": 0.05, "hue": 0.05}
#: TCA multilinear edits offered as geometry candidates (core entries (channel, height, width))
TCA_MULTILINEAR = tuple((i, j, k) for i in range(3) for j in range(2) for k in range(2))


def mod_for(model: LatentModel, d: Any, samples_sel: dict[str, Any], samples_mod: dict[str, Any],
            candidates: dict[str, list[int]] | None = None, direct: Any = False,
            other_sizes: Sequence[float] = ()) -> dict[str, Any]:
    """MOD of the hue and x edits of ``d`` (one record, or a record per factor ``{"hue": d1, "x": d2}``
    with the same candidates): each edit = the candidate whose 2-sigma edit moves its
    factor most; strengths then searched on the selection samples so each moves its own factor by
    MOD_TARGETS (:func:`~latentwidgets.evaluate.mod.matched_strengths`), MOD scored on the held-out ``samples_mod``
    (headline), and the fixed 2-sigma variant for the record. ``direct`` (TCA records only; True, False or
    "multilinear", or one of these per factor): the edits also add their activation edit, in the
    selection, the strength matching and the scoring alike (see :func:`~latentwidgets.directions.tensor.tca_edits`).
    ``other_sizes``: intended changes (same for x and hue) at which the same picks are also
    matched and scored (``res["by_size"]``), to show how MOD depends on the size of the edit."""
    candidates = candidates or {}
    dmap = {f: direct.get(f, False) if isinstance(direct, dict) else direct for f in ("hue", "x")}
    records = {f: d[f] if isinstance(d, dict) else d for f in ("hue", "x")}
    picks, effects, own = {}, {}, {}
    for f, rec in records.items():
        k, eff = select_edit(model, rec, f, candidates.get(f), MOD_STRENGTH, samples=samples_sel, direct=dmap[f])
        picks[f] = (rec, k)
        own[f] = eff[k]
        effects[f] = {rec.names[i]: v for i, v in eff.items()}
    guesses = {f: (MOD_STRENGTH, own[f]) for f in own}

    def matched_mod(targets: dict[str, float]) -> dict[str, Any]:
        matched = matched_strengths(model, picks, targets, samples=samples_sel, direct=dmap, guesses=guesses)
        r = mod_score(model, picks, {f: v["strength"] for f, v in matched.items()}, samples=samples_mod, direct=dmap)
        r["matched_on_selection"] = matched
        return r

    res = matched_mod(MOD_TARGETS)
    res["by_size"] = {f"{t:g}": {k: v for k, v in matched_mod({f: t for f in MOD_TARGETS}).items()
                                 if k in ("score", "matrix", "strength")} for t in other_sizes}
    fixed = mod_score(model, picks, MOD_STRENGTH, samples=samples_mod, direct=dmap)
    res["fixed_2sigma"] = {"score": fixed["score"], "matrix": fixed["matrix"]}
    res["selection_effects"] = effects
    res["direct"] = dmap
    return res


def tca_candidates(tca: Directions) -> dict[str, list[int]]:
    """TCA's MOD candidates, the paper's semantics: hue among the channel-mode edits, x among the
    width-mode and multilinear edits."""
    kinds = [e["kind"] for e in tca.info["edits"]]
    return {"hue": [i for i, k in enumerate(kinds) if k == "channel"],
            "x": [i for i, k in enumerate(kinds) if k in ("width", "multi")]}


def fit_tca(model: LatentModel, b: dict[str, int], seed: int = 0, steps: int | None = None) -> Directions:
    """TCA as the benchmark fits it: ``b["tca_samples"]`` activations, ``steps`` (default
    ``b["tca_steps"]``) regression steps, the multilinear candidates TCA_MULTILINEAR."""
    return tensor_directions(model, n_samples=b["tca_samples"], steps=b["tca_steps"] if steps is None else steps,
                             multilinear=TCA_MULTILINEAR, progress=False, seed=seed)


def mod_tca(model: LatentModel, tca: Directions, samples_sel: dict[str, Any], samples_mod: dict[str, Any],
            other_sizes: Sequence[float] = ()) -> dict[str, Any]:
    """The headline TCA MOD: the paper's candidates, edits applied as the authors' code edits a
    style-based generator (mode-wise edits through the regression to the latent, multilinear edits
    through the latent plus the same edit added to the activation at the layer)."""
    return mod_for(model, tca, samples_sel, samples_mod, tca_candidates(tca), direct="multilinear",
                   other_sizes=other_sizes)


def mod_sample_sets(model: LatentModel, b: dict[str, int],
                    samples: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(selection, scoring)`` samples of every MOD: the first ``b["select_samples"]`` of the
    correlation samples (seed 1) pick and match the edits; ``b["mod_samples"]`` others (seed 2) score."""
    return subset_samples(samples, b["select_samples"]), measure_samples(model, b["mod_samples"], seed=2)


def subset_samples(samples: dict[str, Any], n: int) -> dict[str, Any]:
    return {**samples, "z": samples["z"][:n], "lat": samples["lat"][:n], "clean": samples["clean"][:n],
            "factors": {k: v[:n] for k, v in samples["factors"].items()}, "n": n}
