"""How far can one linear direction go? A ground-truth bound on the factors spread and r2.

    python benchmarks/factors_oracle.py --json runs/factors-oracle.json          # about 25 min, 1 core
    python benchmarks/factors_oracle.py --json /tmp/o.json --quick               # a few minutes
    python benchmarks/factors_oracle.py --json /tmp/y.json --transforms shift_y --iters 5

``fidelity.py`` measures the continuous-factor directions (Plumerault et al.) by their traversals:
``factors_spread`` is the std of the measured x (or y) over 50 samples set to the same coordinate along
``u``, and ``factors_r2`` compares every traversal with the calibrated request, so the spread caps it.
The spread depends on ``u`` alone. This script asks how small it can get for *any* unit direction in w:

1. fit shift_x / shift_y directions as ``evaluate_factors`` does (``EVAL_FIT``, line calibration);
2. starting from each fitted ``u``, descend the measured spread itself over the unit sphere (central
   finite differences in all ``D - 1`` tangent directions, then the best of a few step sizes), using
   the sprites ground truth that the method never sees and the benchmark's own 50 traversals;
3. calibrate the result by line search like the method, and measure both directions on the
   benchmark's traversals (seed 0) and on 50 other samples (seed 1).

The oracle is not a method (it looks at the answer, on the very traversals it is scored on); it
tells what a linear set-mode traversal in this generator's w can reach. Prints the method and the
oracle side by side and writes JSON: per factor, ``method`` and ``oracle`` each with ``seed0`` and
``seed1`` stats (spread, r2, r2_linear, r2_medians, slope, drift), the oracle's ``trace`` and the
cosine between the two directions.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

import latentwidgets as lw
from latentwidgets.directions import Directions
from latentwidgets.directions.calibration import calibration_entry, line_calibration
from latentwidgets.directions.factors import factor_directions
from latentwidgets.directions.inversion import InversionSpace
from latentwidgets.directions.transforms import TRANSFORMS
from latentwidgets.evaluate import factors as ev
from latentwidgets.zoo import sprites

STATS = ("spread", "r2", "r2_linear", "r2_medians", "slope", "drift")


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


class SpreadProbe:
    """The benchmark's spread for any unit direction: ``traversal_stats``' samples and alphas, set-mode
    edits written directly in w (``w + (alpha - <w, u>) u`` on every layer, which is what
    ``Edit(d, k, alpha, mode='set')`` renders)."""

    def __init__(self, model: Any, factor: str, n_traversals: int = 50, seed: int = 0):
        self.model, self.factor = model, factor
        self.w = model.to_synthesis(ev.traversal_z(model, n_traversals, seed))
        self.pop = ev.alpha_population(model, "w", seed)

    @torch.no_grad()
    def __call__(self, u: torch.Tensor) -> float:
        vals = []
        for a in ev.coordinate_alphas(self.pop, u):
            w = self.w + (float(a) - self.w @ u)[:, None] * u
            vals.append(ev.factor_value(sprites.measure(self.model.synthesize(w)), self.factor))
        return float(torch.stack(vals).std(1).mean())


def descend(probe: SpreadProbe, u: torch.Tensor, iters: int, h: float = 0.04, seed: int = 0) -> dict[str, Any]:
    """Finite-difference descent of ``probe`` over the unit sphere from ``u``."""
    g = torch.Generator().manual_seed(seed)
    best, trace = probe(u), []
    trace.append(best)
    for it in range(iters):
        basis = torch.linalg.qr(torch.cat([u[:, None], torch.randn(u.numel(), u.numel() - 1, generator=g)], 1)).Q[:, 1:]
        grad = torch.zeros_like(u)
        for k in range(basis.shape[1]):
            q = basis[:, k]
            up = probe(torch.nn.functional.normalize(u + h * q, dim=0))
            down = probe(torch.nn.functional.normalize(u - h * q, dim=0))
            grad += (up - down) / (2 * h) * q
        cands = [torch.nn.functional.normalize(u - s * grad / grad.norm().clamp(min=1e-12), dim=0)
                 for s in (0.025, 0.05, 0.1, 0.2)]
        scores = [probe(c) for c in cands]
        j = min(range(len(scores)), key=scores.__getitem__)
        if scores[j] >= best:
            _log(f"  iteration {it}: no step lowers the spread ({best:.4f}); stopping")
            break
        u, best = cands[j], scores[j]
        trace.append(best)
        _log(f"  iteration {it}: spread {best:.4f}")
    return {"u": u, "spread": best, "trace": trace}


def _record(model: Any, name: str, u: torch.Tensor, g: torch.nn.Module, space: Any, lat0: torch.Tensor) -> Directions:
    u, cal = calibration_entry(space, u, g, lat0, name, model.resolution)
    return Directions(vectors=u[None].cpu(), space="w", sigma=torch.ones(1), names=[name], method="factors",
                      calibration=[cal], model_id=model.name)


def run(quick: bool = False, iters: int = 2, transforms: Sequence[str] = ("shift_x", "shift_y")) -> dict[str, Any]:
    model = lw.load("sprites-style")
    fit = dict(ev.EVAL_FIT_QUICK if quick else ev.EVAL_FIT)
    n_trav = 16 if quick else 50
    _log(f"fitting {', '.join(transforms)} ({fit})")
    d = factor_directions(model, tuple(transforms), seed=0, progress=False, **fit)
    space = InversionSpace(model, "w", 0)  # the same centre, scale and lat0 as factor_directions(seed=0)
    lat0 = space.clip(space.from_z(model.sample_z(fit["n_samples"], seed=0)))
    out: dict[str, Any] = {"fit": {k: list(v) if isinstance(v, tuple) else v for k, v in fit.items()},
                           "n_traversals": n_trav, "iters": iters}
    for name in transforms:
        f = ev.FACTOR_OF[name]
        k = d.index(name)
        u = d.vectors[k].to(model.device)
        _log(f"{name}: oracle descent of the spread")
        found = descend(SpreadProbe(model, f, n_trav, seed=0), u, iters)
        reach = d.info["per_direction"][name]["line_reach"]
        g, _, _ = line_calibration(space, found["u"], lat0, TRANSFORMS[name], name, fit["steps"], reach,
                                       sigma=d.options["blur_sigma"])
        oracle = _record(model, name, found["u"], g, space, lat0)
        res: dict[str, Any] = {"cos_method_oracle": float(found["u"] @ u), "trace": found["trace"]}
        for label, rec in (("method", d[k:k + 1]), ("oracle", oracle)):
            res[label] = {}
            for seed in (0, 1):
                st = ev.traversal_stats(model, rec, n_traversals=n_trav, seed=seed)[f]
                res[label][f"seed{seed}"] = {s: st[s] for s in STATS}
        out[f] = res
    return out


def print_table(res: dict[str, Any]) -> None:
    print(f"\n{'factor':6s} {'direction':9s} {'traversals':10s} " + " ".join(f"{s:>10s}" for s in STATS))
    for f in [f for f in ("x", "y") if f in res]:
        for label in ("method", "oracle"):
            for seed in ("seed0", "seed1"):
                st = res[f][label][seed]
                tag = "benchmark" if seed == "seed0" else f"other {res['n_traversals']}"
                print(f"{f:6s} {label:9s} {tag:10s} " + " ".join(f"{st[s]:10.4f}" for s in STATS))
        trace = [round(v, 4) for v in res[f]["trace"]]
        print(f"{f:6s} cos(method, oracle) = {res[f]['cos_method_oracle']:.3f}; oracle trace {trace}")
    print("targets (fidelity.py): spread <= 0.03 and r2 >= 0.95 for x and y")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", required=True, help="where to write the results")
    ap.add_argument("--quick", action="store_true", help="small budgets (a few minutes)")
    ap.add_argument("--iters", type=int, default=2, help="descent iterations (each ~4 min on one core)")
    ap.add_argument("--transforms", nargs="+", default=["shift_x", "shift_y"], choices=["shift_x", "shift_y"])
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.time()
    res = run(args.quick, 1 if args.quick else args.iters, args.transforms)
    res["seconds"] = time.time() - t0
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(res, indent=1))
    print_table(res)
    _log(f"wrote {path} in {res['seconds']:.0f} s")
    return res


if __name__ == "__main__":
    main()
