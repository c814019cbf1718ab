"""Projection benchmark of the latent regressor (Chai et al.) on ``sprites-style``, against optimisation.

    python benchmarks/projection.py --json runs/projection.json           # full (< 10 min here)
    python benchmarks/projection.py --json /tmp/projection.json --quick   # a minute or two

Held-out samples of ``sprites-style`` (seeds from ``regress.HELD_OUT_SEED`` on, never seen in
training) are masked two ways: Chai et al.'s random masks (:func:`regress.sample_masks`, 6x6 noise,
cutoff ~ U(0.3, 1.0), drawn per group of 4), and rectangle collages of two sources (a rectangle of
source A pasted over a larger rectangle of source B; the mask is the union of the two rectangles,
the rest unknown). Each masked image is projected by

- the regressor: ``reg.project(collage, mask)``, one forward pass;
- the baseline: Adam on the per-layer latent from the mean latent, 500 steps, on the same masked
  loss (:func:`regress.masked_loss`: masked pixel MSE + sprites-features perceptual distance),
  i.e. ``regress.refine(model, w_avg, collage, mask, steps=500)``.

Keys of the JSON (exactly these):

- ``masked_l1_regressor`` / ``masked_l1_optimization``: mean absolute error between the projected
  image and the collage over the known pixels (Chai et al.'s fidelity), averaged over both mask
  kinds (``--n-opt`` images of each kind, the same images for both methods).
- ``ms_regressor`` / ``ms_optimization``: wall milliseconds from (collage, mask) to the projected
  image at batch 1 (project + synthesize; refine 500 steps + synthesize), median over repeats, one
  torch thread. ``speedup`` = their ratio.
- ``sprite_fid_collage_outputs``: sprite-FID of the regressor's projections of ``--n-fid`` rectangle
  collages vs ``--n-fid`` real scenes (realism); ``sprite_fid_samples``: plain samples of the
  generator vs the same real scenes, same n (the reference the projections are judged against).
- ``stroke_to_projection_ms_p95``: from ``benchmarks/collage_browser.py``'s
  ``measure_stroke_latency`` (a real JupyterLab in headless Chromium) when that file and its
  requirements are there; else null and the reason is printed.

Targets (issue 6): ``speedup`` >= 100, ``masked_l1_regressor`` <= 1.5 x ``masked_l1_optimization``,
``stroke_to_projection_ms_p95`` <= 100. ``--details PATH`` writes per-kind figures and settings too.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

import latentwidgets as lw
from latentwidgets.evaluate import metrics
from latentwidgets.regress import (
    HELD_OUT_SEED,
    LatentRegressor,
    latent_stats,
    load_regressor,
    masked_l1,
    refine,
    sample_masks,
)
from latentwidgets.zoo import sprites

KEYS = ("masked_l1_regressor", "masked_l1_optimization", "ms_regressor", "ms_optimization", "speedup",
        "sprite_fid_collage_outputs", "sprite_fid_samples", "stroke_to_projection_ms_p95")
FULL = dict(n_opt=12, n_fid=500, timing_repeats=30, opt_timing_images=2)
QUICK = dict(n_opt=4, n_fid=100, timing_repeats=10, opt_timing_images=1)
OPT_STEPS = 500
REAL_SEED = 3_000_003
#: seeds of the two test sets and of the FID samples, all held out from training
CHAI_SEED, RECT_SEED, FID_SEED = HELD_OUT_SEED + 10_000, HELD_OUT_SEED + 20_000, HELD_OUT_SEED + 30_000


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ------------------------------------------------------------------------------------------------ test sets
@torch.no_grad()
def chai_set(model, n: int, seed: int = CHAI_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` held-out samples under Chai masks (a fresh cutoff per group of 4): ``(images, mask)``."""
    images = model.generate(model.sample_z(n, seed=seed))
    g = torch.Generator().manual_seed(seed)
    mask = torch.cat([sample_masks(min(4, n - i), size=model.resolution, generator=g) for i in range(0, n, 4)])
    return images * mask, mask


@torch.no_grad()
def rect_collages(model, n: int, seed: int = RECT_SEED) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` two-source collages: a rectangle of source A (16-40 px a side) pasted over a rectangle of
    source B (32-56 px a side), at random places; ``(collage, union mask)``, unknown pixels zeroed."""
    r = model.resolution
    a = model.generate(model.sample_z(n, seed=seed))
    b = model.generate(model.sample_z(n, seed=seed + 1))
    g = torch.Generator().manual_seed(seed)
    collage = torch.zeros_like(a)
    mask = torch.zeros(n, 1, r, r)

    def box(lo: int, hi: int) -> tuple[int, int, int, int]:
        h, w = (int(torch.randint(lo * r // 64, hi * r // 64 + 1, (1,), generator=g)) for _ in range(2))
        y, x = int(torch.randint(0, r - h + 1, (1,), generator=g)), int(torch.randint(0, r - w + 1, (1,), generator=g))
        return y, x, h, w

    for i in range(n):
        y, x, h, w = box(32, 56)
        collage[i, :, y:y + h, x:x + w] = b[i, :, y:y + h, x:x + w]
        mask[i, :, y:y + h, x:x + w] = 1
        y, x, h, w = box(16, 40)
        collage[i, :, y:y + h, x:x + w] = a[i, :, y:y + h, x:x + w]
        mask[i, :, y:y + h, x:x + w] = 1
    return collage, mask


# ------------------------------------------------------------------------------------------------ methods
@torch.no_grad()
def project_images(model, reg: LatentRegressor, images: torch.Tensor, mask: torch.Tensor,
                   batch: int = 100) -> torch.Tensor:
    return torch.cat([model.synthesize(reg.project(images[i:i + batch], mask[i:i + batch]))
                      for i in range(0, images.shape[0], batch)])


def optimize_images(model, images: torch.Tensor, mask: torch.Tensor, steps: int = OPT_STEPS,
                    progress: bool = True) -> torch.Tensor:
    """The baseline: Adam on the latent from the mean latent, ``steps`` steps, on the masked loss."""
    start = latent_stats(model)[0].expand(images.shape[0], model.num_layers, -1)
    lat = refine(model, start, images, mask, steps=steps, progress=progress)
    return model.synthesize(lat)


def _median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


# ------------------------------------------------------------------------------------------------ browser
def stroke_latency(skip: bool) -> tuple[float | None, str]:
    """``(p95 ms, note)`` from ``benchmarks/collage_browser.py``, or ``(None, why not)``."""
    if skip:
        return None, "skipped (--skip-browser)"
    path = Path(__file__).resolve().parent / "collage_browser.py"
    if not path.exists():
        return None, f"{path.name} is not there (the CollageCanvas benchmark); nothing measured"
    sys.path.insert(0, str(path.parent))
    try:
        from collage_browser import measure_stroke_latency  # type: ignore
    except Exception as e:  # noqa: BLE001 - report any import failure as the reason
        return None, f"cannot import measure_stroke_latency from {path.name}: {e!r}"
    try:
        res = measure_stroke_latency()
    except Exception as e:  # noqa: BLE001
        traceback.print_exc()
        return None, f"measure_stroke_latency failed: {e!r}"
    p95 = res.get("stroke_to_projection_ms_p95")
    return (None if p95 is None else float(p95)), f"browser: {json.dumps(res, default=str)[:400]}"


# ------------------------------------------------------------------------------------------------ run
def run(quick: bool = False, skip_browser: bool = False, regressor: str | None = None,
        n_opt: int | None = None, n_fid: int | None = None,
        progress: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(results with exactly KEYS, details)``."""
    cfg = dict(QUICK if quick else FULL)
    if n_opt:
        cfg["n_opt"] = n_opt
    if n_fid:
        cfg["n_fid"] = n_fid
    model = lw.load("sprites-style")
    reg = load_regressor(regressor or "sprites-style", model)
    details: dict[str, Any] = {"settings": {**cfg, "opt_steps": OPT_STEPS, "threads": torch.get_num_threads(),
                                            "regressor_step": getattr(reg, "meta", {}).get("step"),
                                            "regressor_generator_step": getattr(reg, "meta", {}).get("generator_step")}}

    sets = {"chai": chai_set(model, cfg["n_opt"]), "rect": rect_collages(model, cfg["n_opt"])}
    l1_reg, l1_opt = [], []
    for kind, (images, mask) in sets.items():
        _log(f"{kind}: regressor and {OPT_STEPS}-step optimisation on {images.shape[0]} images")
        out_r = project_images(model, reg, images, mask)
        out_o = optimize_images(model, images, mask, progress=progress)
        r, o = masked_l1(out_r, images, mask), masked_l1(out_o, images, mask)
        l1_reg.append(r)
        l1_opt.append(o)
        details[kind] = {"masked_l1_regressor": float(r.mean()), "masked_l1_optimization": float(o.mean()),
                         "regressor_better_share": float((r < o).float().mean()),
                         "visible_fraction": float(mask.mean())}

    _log("timing at batch 1")
    x, m = sets["rect"][0][:1], sets["rect"][1][:1]
    ms_reg = _median_ms(lambda: model.synthesize(reg.project(x, m)), cfg["timing_repeats"])
    opt_times = []
    for i in range(cfg["opt_timing_images"]):
        xi, mi = sets["chai"][0][i:i + 1], sets["chai"][1][i:i + 1]
        t = time.perf_counter()
        optimize_images(model, xi, mi, progress=False)
        opt_times.append(1000 * (time.perf_counter() - t))
    ms_opt = statistics.median(opt_times)

    _log(f"sprite-FID on {cfg['n_fid']} images each")
    real, _ = sprites.sample(cfg["n_fid"], seed=REAL_SEED)
    collage, cmask = rect_collages(model, cfg["n_fid"], seed=FID_SEED)
    outs = project_images(model, reg, collage, cmask)
    samples = model.generate(model.sample_z(cfg["n_fid"], seed=FID_SEED + 5))
    fid_out, fid_samples = metrics.sprite_fid(outs, real), metrics.sprite_fid(samples, real)
    details["rect_fid_set_masked_l1_regressor"] = float(masked_l1(outs, collage, cmask).mean())

    _log("stroke-to-projection latency in the browser")
    p95, note = stroke_latency(skip_browser)
    details["browser_note"] = note
    _log(note)

    res = {
        "masked_l1_regressor": float(torch.cat(l1_reg).mean()),
        "masked_l1_optimization": float(torch.cat(l1_opt).mean()),
        "ms_regressor": ms_reg,
        "ms_optimization": ms_opt,
        "speedup": ms_opt / ms_reg,
        "sprite_fid_collage_outputs": fid_out,
        "sprite_fid_samples": fid_samples,
        "stroke_to_projection_ms_p95": p95,
    }
    assert tuple(res) == KEYS
    return res, details


def format_table(res: dict[str, Any]) -> str:
    """The figures with the baseline side by side and the issue's targets."""
    def f(v: Any) -> str:
        return "null" if v is None else f"{v:.4g}"

    ratio = res["masked_l1_regressor"] / res["masked_l1_optimization"] if res["masked_l1_optimization"] else math.inf
    p95 = res["stroke_to_projection_ms_p95"]
    rows = [
        ("masked L1 (known pixels)", f(res["masked_l1_regressor"]), f(res["masked_l1_optimization"]),
         f"reg <= 1.5 x opt (ratio {ratio:.2f}: {'PASS' if ratio <= 1.5 else 'FAIL'})"),
        ("ms per projection (batch 1)", f(res["ms_regressor"]), f(res["ms_optimization"]),
         f"speedup >= 100 ({res['speedup']:.0f}x: {'PASS' if res['speedup'] >= 100 else 'FAIL'})"),
        ("sprite-FID vs real", f(res["sprite_fid_collage_outputs"]) + " (collages)",
         f(res["sprite_fid_samples"]) + " (samples)", "reference: plain samples"),
        ("stroke->projection p95 ms", f(p95), "-",
         "<= 100 (" + ("not measured" if p95 is None else ("PASS" if p95 <= 100 else "FAIL")) + ")"),
    ]
    head = ("metric", "regressor", "optimisation (500 Adam steps)", "target")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(4)]

    def line(r: Sequence[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))

    return "\n".join([line(head), line(tuple("-" * w for w in widths))] + [line(r) for r in rows])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", required=True, help="write the results (exactly the documented keys) here")
    ap.add_argument("--details", default=None, help="also write per-kind figures and settings here")
    ap.add_argument("--quick", action="store_true", help="small n (a minute or two)")
    ap.add_argument("--n-opt", type=int, default=None, help="images per mask kind for the fidelity comparison")
    ap.add_argument("--n-fid", type=int, default=None, help="images per set for the sprite-FIDs")
    ap.add_argument("--regressor", default=None, help="a regressor file (default: the shipped one)")
    ap.add_argument("--skip-browser", action="store_true", help="do not measure the browser latency (null)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1: a shared machine)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    res, details = run(args.quick, args.skip_browser, args.regressor, args.n_opt, args.n_fid,
                       progress=sys.stderr.isatty())
    print(format_table(res))
    print("details:", json.dumps(details, indent=1))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(res, indent=2))
    if args.details:
        Path(args.details).write_text(json.dumps(details, indent=2))
    _log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
