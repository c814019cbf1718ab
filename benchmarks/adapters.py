"""Adapter benchmark: per adapter, the time to synthesise one frame and the adapter's overhead over
the raw third-party model for the same latent.

    python benchmarks/adapters.py --json artifacts/adapters.json          # all installed adapters
    python benchmarks/adapters.py --only nvlabs biggan --repeats 50

Each adapter runs at its test configuration (latentwidgets/testing/adapter_configs.py: tiny random-init models, or
the real dcgan-faces weights). ``ms_per_frame`` is the median time of ``model.synthesize(w)`` for
one latent; ``raw_ms`` the median time of the raw model called as its own code intends for the same
latent (plus the same [-1, 1] -> [0, 1] map and clamp); ``overhead_ms`` the median of the paired
differences (adapter minus raw, back to back, alternating order). Times are the CPU time of the one
torch thread, so other processes on a shared machine do not inflate them; wall-clock means over 5
frames are recorded too (``wall_ms_per_frame``, ``wall_raw_ms``) and swing with the machine's load.
Target: overhead <= 1 ms or <= 5 % of the raw time, whichever is larger. One thread (the machine is
shared). Adapters whose optional package is missing are listed as skipped.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import time
from pathlib import Path

import torch

from latentwidgets.testing import adapter_configs as cfgs


def _time(fn, arg) -> float:
    """CPU time of this thread in ms (torch runs on this one thread): other processes' load on a
    shared machine does not count, unlike wall time."""
    t = time.thread_time()
    fn(arg)
    return (time.thread_time() - t) * 1000


def _wall(fn, arg, n: int = 5) -> float:
    t = time.perf_counter()
    for _ in range(n):
        fn(arg)
    return (time.perf_counter() - t) * 1000 / n


@torch.no_grad()
def measure(name: str, repeats: int = 30, warmup: int = 3) -> dict:
    """Time one adapter against its raw model; returns the JSON record for ``name``."""
    builder, package = cfgs.BUILDERS[name]
    if package and importlib.util.find_spec(package) is None:
        return {"skipped": f"optional package {package!r} not installed"}
    model, raw = builder()
    w = model.to_synthesis(model.sample_z(1, seed=0))
    for _ in range(warmup):
        model.synthesize(w)
        raw(w)
    ours, theirs, diffs = [], [], []
    for i in range(repeats):
        if i % 2:  # alternate the order so neither side always runs second
            a = _time(model.synthesize, w)
            b = _time(raw, w)
        else:
            b = _time(raw, w)
            a = _time(model.synthesize, w)
        ours.append(a)
        theirs.append(b)
        diffs.append(a - b)
    raw_ms = statistics.median(theirs)
    overhead = statistics.median(diffs)
    target = max(1.0, 0.05 * raw_ms)
    return {"ms_per_frame": round(statistics.median(ours), 3), "raw_ms": round(raw_ms, 3),
            "overhead_ms": round(overhead, 3), "target_ms": round(target, 3), "ok": overhead <= target,
            "wall_ms_per_frame": round(_wall(model.synthesize, w), 3), "wall_raw_ms": round(_wall(raw, w), 3),
            "resolution": model.resolution, "z_dim": model.z_dim, "num_layers": model.num_layers,
            "params": sum(p.numel() for p in model.module.parameters()), "repeats": repeats}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", type=Path, help="write {adapter: {ms_per_frame, overhead_ms, ...}} here")
    p.add_argument("--only", nargs="*", choices=list(cfgs.BUILDERS), help="adapters to run (default: all)")
    p.add_argument("--repeats", type=int, default=30)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    results = {}
    print(f"{'adapter':16s} {'raw ms':>9s} {'adapter ms':>11s} {'overhead ms':>12s} {'target ms':>10s}  ok"
          f"  {'wall raw':>9s} {'wall adapter':>12s}")
    for name in args.only or list(cfgs.BUILDERS):
        r = measure(name, repeats=args.repeats)
        results[name] = r
        if "skipped" in r:
            print(f"{name:16s} skipped: {r['skipped']}")
        else:
            print(f"{name:16s} {r['raw_ms']:9.2f} {r['ms_per_frame']:11.2f} {r['overhead_ms']:12.3f} "
                  f"{r['target_ms']:10.2f}  {'yes' if r['ok'] else 'NO '}  {r['wall_raw_ms']:9.2f} "
                  f"{r['wall_ms_per_frame']:12.2f}", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
