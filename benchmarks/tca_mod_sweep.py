"""TCA's MOD against PCA's over the regression's length and seed, on the fidelity benchmark's samples.

    python benchmarks/tca_mod_sweep.py --json runs/tca-mod-sweep.json                  # about 15 min, 1 core
    python benchmarks/tca_mod_sweep.py --json /tmp/s.json --steps 120 600 --seeds 0 1

``fidelity.py`` scores TCA (Oldfield et al.) once: regression seed 0, ``tca_steps`` Adam steps. Its
x edit (a multilinear edit: latent part through the tensor regression plus the activation edit)
can leak into the object's hue, and how much depends on the regression. This script refits TCA
for every (steps, seed) pair and scores each exactly as the benchmark does (``mod_tca``:
same candidates, same selection and held-out samples, strengths searched for a 0.05 change; the
protocol is ``latentwidgets.evaluate.mod_protocol``),
next to PCA's MOD (the baseline, fitted once). Prints a table (per steps: held-out regression r2,
MOD per seed, mean; PCA alongside) and writes JSON ``{"pca": score, "runs": [...]}``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

import latentwidgets as lw
from latentwidgets.directions.pca import pca_directions
from latentwidgets.evaluate.correlation import measure_samples
from latentwidgets.evaluate.mod_protocol import MOD_BUDGET, MOD_TARGETS, fit_tca, mod_for, mod_sample_sets, mod_tca


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def sweep(model: Any, steps: list[int], seeds: list[int], b: dict[str, int]) -> dict[str, Any]:
    sel, mod_samples = mod_sample_sets(model, b, measure_samples(model, b["corr_samples"], seed=1))
    _log(f"PCA ({b['pca_samples']} samples)")
    pca = pca_directions(model, 10, n_samples=b["pca_samples"], progress=False)
    out: dict[str, Any] = {"pca": mod_for(model, pca, sel, mod_samples)["score"], "runs": []}
    for n in steps:
        for seed in seeds:
            _log(f"TCA: {n} regression steps, seed {seed}")
            t = fit_tca(model, b, seed=seed, steps=n)
            r = mod_tca(model, t, sel, mod_samples)
            out["runs"].append({"steps": n, "seed": seed, "regression_r2": t.info["regression_r2"],
                                "score": r["score"], "edits": r["edits"], "matrix": r["matrix"],
                                "strength": r["strength"]})
    return out


def print_table(res: dict[str, Any]) -> None:
    print("\nsteps | regression r2 (mean) | TCA MOD by seed | mean | PCA MOD (baseline)")
    for n in sorted({r["steps"] for r in res["runs"]}):
        rows = [r for r in res["runs"] if r["steps"] == n]
        r2 = sum(r["regression_r2"] for r in rows) / len(rows)
        scores = " ".join(f"{r['seed']}: {r['score']:.3f}" for r in rows)
        mean = sum(r["score"] for r in rows) / len(rows)
        print(f"{n:5d} | {r2:.3f} | {scores} | {mean:.3f} | {res['pca']:.3f}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", required=True, help="where to write the results")
    ap.add_argument("--model", default="sprites-style")
    ap.add_argument("--steps", type=int, nargs="+", default=[120, 600, 2000])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--quick", action="store_true", help="the fidelity benchmark's quick sample budgets")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.time()
    b = MOD_BUDGET["quick" if args.quick else "full"]
    res = sweep(lw.load(args.model), args.steps, args.seeds, b)
    res["meta"] = {"model": args.model, "budget": b, "seconds": time.time() - t0, "mod_targets": MOD_TARGETS}
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(res, indent=1))
    print_table(res)
    _log(f"wrote {path} in {res['meta']['seconds']:.0f} s")
    return res


if __name__ == "__main__":
    main()
