"""The zoo's quality report: size, speed and realism of each generative zoo model, with targets.

    python -m latentwidgets.evaluate.zoo_report --json report.json          # 1,000 samples per figure
    python -m latentwidgets.evaluate.zoo_report --n 200 --models sprites-vae

or from Python::

    from latentwidgets.evaluate.zoo_report import quality_report, format_report
    rows = quality_report(n=1000)          # {model_name: {params, weights_mb, ...}}
    print(format_report(rows))

Per model (``KEYS``): ``params`` (parameters of the shipped network; for the VAE encoder and
decoder), ``weights_mb`` (size of its safetensors file, 10^6 bytes), ``ms_per_image_b1`` and
``ms_per_image_b64`` (wall time of z -> image at batch 1 and per image at batch 64, median of
repeats, on this CPU with the current torch thread setting), ``factor_w1`` (factor -> Wasserstein-1
between the factors measured on ``n`` samples and on ``n`` real scenes, see
:func:`metrics.factor_w1`), ``clean_object_rate`` (:func:`metrics.clean_object_rate` of the samples),
``sprite_fid`` (samples vs real), ``sprite_fid_real_vs_real`` (two disjoint real sets),
``sprite_fid_untrained`` (the same architecture at random init, seed 0, vs real). Every seed is
fixed, so a report is reproducible for given weights.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ..models.base import LatentModel
from ..models.decoder import DecoderModel
from ..models.zoo_style import ZooStyleModel
from ..zoo import available, build, sprites, weights_path
from . import metrics

KEYS = ("params", "weights_mb", "ms_per_image_b1", "ms_per_image_b64", "factor_w1", "clean_object_rate",
        "sprite_fid", "sprite_fid_real_vs_real", "sprite_fid_untrained")
GENERATIVE = ("sprites-style", "sprites-vae")
REAL_SEED_A, REAL_SEED_B = 1_000_001, 2_000_002
SAMPLE_SEED = 7
INIT_SEED = 0

#: targets per model: key -> (kind, reference key or None, factor); kind '>=' or '<='
TARGETS: dict[str, dict[str, list]] = {
    "sprites-style": {
        "clean_object_rate": [(">=", None, 0.9)],
        "sprite_fid": [("<=", "sprite_fid_real_vs_real", 5.0), ("<=", "sprite_fid_untrained", 0.1)],
    },
}


def _wrap(name: str, net: Any) -> LatentModel:
    """The LatentModel adapter of zoo model ``name`` around ``net`` (trained or at random init)."""
    if name == "sprites-style":
        return ZooStyleModel(net, name=name)
    if name == "sprites-vae":
        return DecoderModel(net.decoder, z_dim=net.z_dim, name=name, output_range=(0.0, 1.0))
    raise KeyError(f"{name!r} is not a generative zoo model; choose from {list(GENERATIVE)}")


@torch.no_grad()
def _samples(model, n: int, seed: int, batch: int = 250) -> torch.Tensor:
    z = model.sample_z(n, seed=seed)
    return torch.cat([model.generate(z[i:i + batch]).cpu() for i in range(0, n, batch)])


@torch.no_grad()
def _ms_per_image(model, batch: int, repeats: int) -> float:
    z = model.sample_z(batch, seed=123)
    model.generate(z)  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        model.generate(z)
        times.append(time.perf_counter() - t)
    return 1000 * sorted(times)[len(times) // 2] / batch


def _check_targets(name: str, row: dict) -> dict[str, list]:
    """key -> list of (text, passed) for the targets of model ``name``."""
    out: dict[str, list] = {}
    for key, targets in TARGETS.get(name, {}).items():
        for kind, ref, factor in targets:
            bound = factor if ref is None else factor * row[ref]
            ok = row[key] >= bound if kind == ">=" else row[key] <= bound
            text = f"{kind} {factor:g}" + (f" x {ref} = {bound:.4g}" if ref else "")
            out.setdefault(key, []).append((text, bool(ok)))
    return out


def quality_report(n: int = 1000, models: Iterable[str] | None = None, timing_repeats: int = 7,
                   progress: bool = True) -> dict[str, dict]:
    """Measure every generative zoo model (or ``models``); returns ``{name: {KEYS...}}``.

    ``n`` samples and ``n`` real scenes per figure (1,000 for the published report; fewer for a quick
    look, which inflates the FIDs). Takes about a minute per model at n=1000 on 2 CPU cores.

    >>> quality_report(n=100, models=["sprites-vae"])["sprites-vae"]["sprite_fid"]
    """
    if n < 10:
        raise ValueError(f"n must be at least 10 (FID needs several samples); got {n}")
    names = [m for m in GENERATIVE if m in available()] if models is None else list(models)
    for m in names:
        if m not in GENERATIVE:
            raise KeyError(f"{m!r} is not a generative zoo model; choose from {list(GENERATIVE)}")
    real_a, _ = sprites.sample(n, seed=REAL_SEED_A)
    real_b, _ = sprites.sample(n, seed=REAL_SEED_B)
    stats_a = metrics.feature_stats(metrics.sprite_features(real_a))
    stats_b = metrics.feature_stats(metrics.sprite_features(real_b))
    fid_rr = metrics.frechet_distance(stats_a, stats_b)
    real_measured = sprites.measure(real_a)
    out: dict[str, dict] = {}
    for name in tqdm(names, desc="zoo report", disable=not progress):
        net = build(name)
        model = _wrap(name, net)
        samples = _samples(model, n, SAMPLE_SEED)
        torch.manual_seed(INIT_SEED)
        untrained = _samples(_wrap(name, build(name, untrained=True)), n, SAMPLE_SEED)
        row = {
            "params": int(sum(p.numel() for p in net.parameters())),
            "weights_mb": round(weights_path(name).stat().st_size / 1e6, 4),
            "ms_per_image_b1": round(_ms_per_image(model, 1, timing_repeats * 3), 4),
            "ms_per_image_b64": round(_ms_per_image(model, 64, timing_repeats), 4),
            "factor_w1": {k: round(v, 6)
                          for k, v in metrics.factor_w1(samples, None, real_factors=real_measured).items()},
            "clean_object_rate": metrics.clean_object_rate(samples),
            "sprite_fid": metrics.frechet_distance(metrics.feature_stats(metrics.sprite_features(samples)), stats_a),
            "sprite_fid_real_vs_real": fid_rr,
            "sprite_fid_untrained": metrics.frechet_distance(
                metrics.feature_stats(metrics.sprite_features(untrained)), stats_a),
        }
        out[name] = {k: row[k] for k in KEYS}
    return out


def format_report(report: dict[str, dict]) -> str:
    """A plain-text table per model: metric, value, target (with PASS/FAIL where a target exists)."""
    lines = []
    for name, row in report.items():
        checks = _check_targets(name, row)
        lines.append(f"== {name}")
        lines.append(f"  {'metric':<26}{'value':>14}   target")
        for key in KEYS:
            val = row[key]
            if key == "factor_w1":
                lines.append(f"  {key:<26}{'':>14}   (per factor, lower is better)")
                for f, v in val.items():
                    lines.append(f"    {f:<24}{v:>14.4g}")
                continue
            text = f"{val:>14,}" if isinstance(val, int) else f"{val:>14.4g}"
            target = "; ".join(f"{t} {'PASS' if ok else 'FAIL'}" for t, ok in checks.get(key, []))
            lines.append(f"  {key:<26}{text}   {target}")
    return "\n".join(lines)


def run(json_path: str | None = None, n: int = 1000, models: Iterable[str] | None = None,
        timing_repeats: int = 7) -> dict[str, dict]:
    """Run the report, print the table, and write JSON to ``json_path`` if given.

    >>> run("report.json", n=200, models=["sprites-vae"])
    """
    report = quality_report(n=n, models=models, timing_repeats=max(1, timing_repeats))
    print(format_report(report))
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {json_path}")
    return report


def main(argv: list[str] | None = None) -> int:
    """The command line: ``python -m latentwidgets.evaluate.zoo_report [--json PATH] [--n N] [--models ...]``."""
    ap = argparse.ArgumentParser(prog="python -m latentwidgets.evaluate.zoo_report",
                                 description="size, speed and realism of each generative zoo model")
    ap.add_argument("--json", default=None, help="also write the figures to this JSON file")
    ap.add_argument("--n", type=int, default=1000, help="samples and real scenes per figure (default 1000)")
    ap.add_argument("--timing-repeats", type=int, default=7, help="repeats of each speed measurement (median)")
    ap.add_argument("--models", nargs="*", default=None, help="only these models (default: all generative ones)")
    args = ap.parse_args(argv)
    run(args.json, n=args.n, models=args.models, timing_repeats=args.timing_repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())
