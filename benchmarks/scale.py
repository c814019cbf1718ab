"""Scale benchmark: memory and time of activation PCA at real widths, against GANSpace's IncrementalPCA.

    python benchmarks/scale.py --json artifacts/scale.json            # full run (about 20 minutes on 2 cores)
    python benchmarks/scale.py --json /tmp/scale.json --quick         # small n, a few minutes
    python benchmarks/scale.py --only accuracy --sketch-size 384      # one part: the sketch's accuracy
    python benchmarks/scale.py --only growth --methods tensor attribute --n-big 20000   # one part: RSS growth

Model: the pretrained faces DCGAN (``dcgan-faces``, the gan-face-generate wheel), layer ``main.3``
(256 x 8 x 8 = 16,384 values, after two transposed convolutions). Each memory/time figure is
measured in a fresh subprocess: peak RSS is the process's peak (``ru_maxrss``) minus its RSS once
the model is loaded and one batch has run; seconds are wall seconds of the run alone. Keys:

- ``act_pca_peak_rss_mb``, ``act_pca_seconds``: our PCA (``pca.streaming_pca``, default estimator
  for this width: the single-pass Nystrom sketch) of N = 100,000 activations, k = 20;
- ``act_pca_peak_rss_mb_sklearn_ipca``, ``act_pca_seconds_sklearn_ipca``: the same stream through
  scikit-learn's IncrementalPCA(20) fed in slices of max(100, 5 x 20) = 100 rows (GANSpace);
- ``act_pca_subspace_angle_deg``: largest principal angle between our top 10 (fit with k = 20) and
  exact PCA's top 10; ``act_pca_captured_variance_ratio``: variance our top 20 capture over what the
  exact top 20 capture; both on N = 20,000 held in memory, exact PCA by ARPACK (``eigsh``, tol 1e-10);
- ``rss_growth_ratio``: ``{method: peak RSS at N = 100,000 / at N = 10,000}`` of ``find_directions``
  (entries in :data:`GROWTH_METHODS`: pca, tensor, attribute with a user measure);
- ``distributed_seconds_2proc``, ``single_seconds``, ``distributed_angle_deg``: ``find_directions``
  PCA of ``main.3`` (N = 20,000, k = 20, regression 10,000) through ``python -m
  latentwidgets.directions.run`` under ``torchrun --nproc_per_node=2`` (gloo, one thread per rank)
  and on one process (two threads); the angle is the largest principal angle between the records'
  directions;
- ``readme_oneliner_peak_rss_mb``: the whole process's peak RSS for
  ``find_directions(lw.load("dcgan-faces"), "pca", n_components=6)``, every other setting default.

``--quick`` divides every N by 10 (figures then say nothing about the targets). Prints a table with
the IncrementalPCA baseline beside ours and the targets, and the load average of the machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LAYER = "main.3"
K = 20
IPCA_BATCH = max(100, 5 * K)   # GANSpace's IncrementalPCA batch size
GEN_BATCH = 2048               # rows generated per forward pass, for both estimators

#: rss_growth_ratio entries: name -> model (a latentwidgets.load name), method and its options;
#: ``n_samples`` is set per measurement (N = 10,000 and 100,000). Adding a method is one entry.
GROWTH_METHODS: dict[str, dict[str, Any]] = {
    "pca": {"model": "dcgan-faces", "method": "pca", "n_components": K},
    # TCA at the first [C, H, W] layer (main.0: 512 x 4 x 4); its statistics stream, the regression is short
    "tensor": {"model": "dcgan-faces", "method": "tensor", "steps": 50, "eval_samples": 500},
    # InterFaceGAN boundary of a user measure (not the sprites reader): the top and bottom 2% of the samples
    "attribute": {"model": "dcgan-faces", "method": "attribute", "kind": "boundary",
                  "attributes": {"brightness": lambda images: images.mean((1, 2, 3))}},
}

KEYS = ("act_pca_peak_rss_mb", "act_pca_seconds", "act_pca_peak_rss_mb_sklearn_ipca", "act_pca_seconds_sklearn_ipca",
        "act_pca_subspace_angle_deg", "act_pca_captured_variance_ratio", "rss_growth_ratio",
        "distributed_seconds_2proc", "single_seconds", "distributed_angle_deg", "readme_oneliner_peak_rss_mb")

TARGETS = {
    "act_pca_peak_rss_mb": ("<=", 1024), "act_pca_subspace_angle_deg": ("<=", 2.0),
    "act_pca_captured_variance_ratio": (">=", 0.99), "speedup_vs_ipca": (">=", 3.0),
    "rss_growth_ratio": ("<=", 1.2), "distributed_angle_deg": ("<=", 0.5),
    "readme_oneliner_peak_rss_mb": ("<=", 2048),
}


# ----------------------------------------------------------------------------- child processes
def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def _peak_mb() -> float:
    """Peak RSS of this process: since the last :func:`_reset_peak` (VmHWM), else since it started."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _reset_peak() -> None:
    """Restart the peak at the current RSS (Linux ``clear_refs`` 5), so an increase over a baseline is not blurred
    by import-time peaks or by pages the kernel reclaimed from the baseline under memory pressure."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _act_stream(model, n: int, seed: int = 0):
    from latentwidgets.directions.sampling import latent_batches

    for _, lat in latent_batches(model, n, seed, GEN_BATCH):
        yield model.activations(lat, LAYER).reshape(lat.shape[0], -1)


def child(kind: str, n: int) -> dict[str, Any]:
    """One measurement in this (fresh) process; returns seconds and peak RSS over the loaded model."""
    import torch

    import latentwidgets as lw

    growth = dict(GROWTH_METHODS[kind.split(":", 1)[1]]) if kind.startswith("growth:") else None
    model = lw.load(growth.pop("model") if growth else "dcgan-faces")
    # one small batch first: imports and kernels are loaded
    warm = model.generate(model.sample_z(8, seed=12345)) if growth else next(_act_stream(model, 256, seed=12345))
    del warm
    base = _rss_mb()
    _reset_peak()
    t0 = time.perf_counter()
    c0 = time.process_time()
    if kind == "ours":
        from latentwidgets.directions.pca import streaming_pca

        out = streaming_pca(lambda: _act_stream(model, n), K, estimator="sketch")
        assert out["n"] == n
    elif kind == "ipca":
        from sklearn.decomposition import IncrementalPCA

        ipca = IncrementalPCA(K, batch_size=IPCA_BATCH)
        for x in _act_stream(model, n):
            a = x.numpy()
            for i in range(0, a.shape[0], IPCA_BATCH):
                if a.shape[0] - i >= K:   # partial_fit needs at least k rows
                    ipca.partial_fit(a[i:i + IPCA_BATCH])
    elif growth is not None:
        lw.find_directions(model, growth.pop("method"), n_samples=n, progress=False, **growth)
    else:
        raise ValueError(kind)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "cpu_seconds": time.process_time() - c0, "peak_rss_mb": _peak_mb() - base,
            "threads": torch.get_num_threads()}


def child_readme() -> dict[str, Any]:
    import latentwidgets as lw
    from latentwidgets import find_directions

    t0 = time.perf_counter()
    find_directions(lw.load("dcgan-faces"), "pca", n_components=6)
    return {"seconds": time.perf_counter() - t0, "peak_rss_mb": _peak_mb()}


def child_accuracy(n: int, sketch_size: int | None = None, passes: int = 1) -> dict[str, Any]:
    """Our sketch (default size, or ``sketch_size``; ``passes``) vs exact PCA (ARPACK) on the same n activations
    held in memory; ``sketch_seconds``: the sketch's own time on those samples (no generation)."""
    import numpy as np
    import torch
    from scipy.sparse.linalg import LinearOperator, eigsh

    import latentwidgets as lw
    from latentwidgets.directions.pca import streaming_pca

    model = lw.load("dcgan-faces")
    x = torch.cat(list(_act_stream(model, n)))
    t0 = time.perf_counter()
    ours = streaming_pca(lambda: (x[i:i + GEN_BATCH] for i in range(0, n, GEN_BATCH)), K, estimator="sketch",
                         sketch_size=sketch_size, passes=passes)
    sketch_seconds = time.perf_counter() - t0
    xc = x.sub_(x.double().mean(0).float())   # centred in place: one copy of the samples in memory
    dim = xc.shape[1]

    def matvec(v):
        v = torch.from_numpy(np.ascontiguousarray(v).ravel()).float()
        return (xc.t() @ (xc @ v)).double().numpy() / (n - 1)
    op = LinearOperator((dim, dim), matvec=matvec, dtype=np.float64)
    evals, evecs = eigsh(op, k=K, which="LA", tol=1e-10, v0=np.ones(dim))
    order = np.argsort(evals)[::-1]
    exact = torch.from_numpy(evecs[:, order].copy()).t()          # [K, D]

    def captured(rows):
        p = xc @ rows.t().float()
        return float(p.double().pow(2).sum() / (n - 1))
    s = torch.linalg.svdvals(exact[:10].double() @ ours["components"][:10].double().t().cpu()).clamp(max=1.0)
    return {"angle_deg": math.degrees(math.acos(float(s.min()))),
            "captured_ratio": captured(ours["components"]) / captured(exact), "sketch_size": ours["sketch_size"],
            "passes": ours["passes"], "sketch_seconds": sketch_seconds,
            "exact_variance_ratio": (evals[order] / ours["total_variance"]).tolist()}


def run_child(args: list, env: dict | None = None) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve())] + args
    res = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def child_accuracy_run(n: int, sketch_size: int | None = None, passes: int = 1) -> dict[str, Any]:
    """The accuracy part in a fresh process (``--only accuracy`` runs just this)."""
    extra = ([] if sketch_size is None else ["--sketch-size", str(sketch_size)]) + ["--passes", str(passes)]
    return run_child(["--child", "accuracy", "--n", str(n)] + extra)


def growth_ratios(methods: list[str], n_small: int, n_big: int) -> dict[str, float]:
    """``{method: peak RSS at n_big / at n_small}``, each in a fresh process (``--only growth`` runs just this)."""
    growth = {}
    for method in methods:
        small = run_child(["--child", f"growth:{method}", "--n", str(n_small)])
        big = run_child(["--child", f"growth:{method}", "--n", str(n_big)])
        print(f"growth {method}: {small} -> {big}", flush=True)
        growth[method] = big["peak_rss_mb"] / small["peak_rss_mb"]
    return growth


# ------------------------------------------------------------------------------- distributed
def run_directions(nproc: int, out: Path, n: int, threads: int) -> dict[str, Any]:
    launcher = ([str(Path(sys.executable).with_name("torchrun")), "--standalone", f"--nproc_per_node={nproc}"]
                if nproc > 1 else [sys.executable])
    cmd = launcher + ["-m", "latentwidgets.directions.run", "--model", "dcgan-faces", "--method", "pca",
                      "--out", str(out)]
    for opt in (f"n_components={K}", f"n_samples={n}", f"regression_samples={max(K + 1, n // 2)}",
                f"layer='{LAYER}'", "progress=False"):
        cmd += ["--option", opt]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=str(ROOT))
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{res.stderr[-3000:]}")
    return json.loads([ln for ln in res.stdout.splitlines() if ln.startswith("{")][-1])


def distributed(n: int) -> dict[str, float]:
    import torch

    from latentwidgets.directions import Directions

    with tempfile.TemporaryDirectory() as tmp:
        two = run_directions(2, Path(tmp) / "two", n, threads=1)
        one = run_directions(1, Path(tmp) / "one", n, threads=2)
        a = Directions.load(Path(tmp) / "two").vectors.double()
        b = Directions.load(Path(tmp) / "one").vectors.double()
    qa, qb = torch.linalg.qr(a.t())[0], torch.linalg.qr(b.t())[0]
    s = torch.linalg.svdvals(qa.t() @ qb).clamp(max=1.0)
    return {"distributed_seconds_2proc": two["seconds"], "single_seconds": one["seconds"],
            "distributed_angle_deg": math.degrees(math.acos(float(s.min())))}


# ------------------------------------------------------------------------------------- report
def _mark(key: str, value: Any) -> str:
    if key not in TARGETS or value is None:
        return ""
    op, t = TARGETS[key]
    values = value.values() if isinstance(value, dict) else [value]
    ok = all((v <= t) if op == "<=" else (v >= t) for v in values)
    return f"{op} {t}  {'ok' if ok else 'MISSED'}"


def print_table(r: dict[str, Any], cpu: dict[str, float]) -> None:
    speed = r["act_pca_seconds_sklearn_ipca"] / r["act_pca_seconds"]
    rows = [
        ("activation PCA peak RSS (MB)", f"{r['act_pca_peak_rss_mb']:.0f}",
         f"{r['act_pca_peak_rss_mb_sklearn_ipca']:.0f}", _mark("act_pca_peak_rss_mb", r["act_pca_peak_rss_mb"])),
        ("activation PCA seconds (wall)", f"{r['act_pca_seconds']:.1f}",
         f"{r['act_pca_seconds_sklearn_ipca']:.1f}", ""),
        ("  CPU seconds", f"{cpu['ours']:.1f}", f"{cpu['ipca']:.1f}", ""),
        ("  speed-up over IncrementalPCA", f"{speed:.2f}x", "1x", _mark("speedup_vs_ipca", speed)),
        ("top-10 angle to exact PCA (deg)", f"{r['act_pca_subspace_angle_deg']:.3f}", "",
         _mark("act_pca_subspace_angle_deg", r["act_pca_subspace_angle_deg"])),
        ("top-20 captured variance / exact", f"{r['act_pca_captured_variance_ratio']:.5f}", "",
         _mark("act_pca_captured_variance_ratio", r["act_pca_captured_variance_ratio"])),
        ("RSS growth N=100k / N=10k", json.dumps({k: round(v, 3) for k, v in r["rss_growth_ratio"].items()}), "",
         _mark("rss_growth_ratio", r["rss_growth_ratio"])),
        ("2 processes (gloo) seconds", f"{r['distributed_seconds_2proc']:.1f}", "", ""),
        ("1 process seconds", f"{r['single_seconds']:.1f}", "", ""),
        ("2-process vs 1-process angle (deg)", f"{r['distributed_angle_deg']:.4f}", "",
         _mark("distributed_angle_deg", r["distributed_angle_deg"])),
        ("README one-liner peak RSS (MB)", f"{r['readme_oneliner_peak_rss_mb']:.0f}", "",
         _mark("readme_oneliner_peak_rss_mb", r["readme_oneliner_peak_rss_mb"])),
    ]
    w = max(len(a) for a, *_ in rows)
    print(f"{'':{w}}  {'ours':>12}  {'sklearn IPCA':>12}  target")
    for a, b, c, d in rows:
        print(f"{a:{w}}  {b:>12}  {c:>12}  {d}")
    print(f"load average (1, 5, 15 min): {os.getloadavg()}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", help="write the results (exactly the documented keys) here")
    ap.add_argument("--quick", action="store_true", help="every N divided by 10 (development)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--sketch-size", type=int, help="accuracy part only: sketch size (default: the library's)")
    ap.add_argument("--passes", type=int, default=1, help="accuracy part only: sketch passes")
    ap.add_argument("--only", choices=("accuracy", "growth"),
                    help="run just this part and print it (no --json needed); growth: --methods, --n-big")
    ap.add_argument("--methods", nargs="+", help="with --only growth: these GROWTH_METHODS entries (default all)")
    ap.add_argument("--n-big", type=int, help="with --only growth: the larger N (the smaller is N / 10)")
    args = ap.parse_args()
    if args.child:
        out = (child_readme() if args.child == "readme"
               else child_accuracy(args.n, args.sketch_size, args.passes) if args.child == "accuracy"
               else child(args.child, args.n))
        print(json.dumps(out))
        return 0
    scale = 10 if args.quick else 1
    if args.only == "accuracy":
        print(json.dumps(child_accuracy_run(20_000 // scale, args.sketch_size, args.passes)))
        return 0
    if args.only == "growth":
        n_big = args.n_big or 100_000 // scale
        print(json.dumps(growth_ratios(args.methods or list(GROWTH_METHODS), n_big // 10, n_big)))
        print(f"load average (1, 5, 15 min): {os.getloadavg()}")
        return 0
    if not args.json:
        ap.error("--json PATH is required")
    n_big, n_small, n_acc = 100_000 // scale, 10_000 // scale, 20_000 // scale
    r: dict[str, Any] = {}
    # short stages first, the two 100k-sample runs last
    acc = child_accuracy_run(n_acc)
    print(f"accuracy: {acc}", flush=True)
    r["act_pca_subspace_angle_deg"], r["act_pca_captured_variance_ratio"] = acc["angle_deg"], acc["captured_ratio"]
    r.update(distributed(n_acc))
    print(f"distributed: {r}", flush=True)
    r["readme_oneliner_peak_rss_mb"] = run_child(["--child", "readme"])["peak_rss_mb"]
    print(f"readme one-liner peak RSS: {r['readme_oneliner_peak_rss_mb']:.0f} MB", flush=True)
    r["rss_growth_ratio"] = growth_ratios(list(GROWTH_METHODS), n_small, n_big)
    ours = run_child(["--child", "ours", "--n", str(n_big)])
    print(f"ours: {ours}", flush=True)
    ipca = run_child(["--child", "ipca", "--n", str(n_big)])
    print(f"IncrementalPCA: {ipca}", flush=True)
    r["act_pca_peak_rss_mb"], r["act_pca_seconds"] = ours["peak_rss_mb"], ours["seconds"]
    r["act_pca_peak_rss_mb_sklearn_ipca"], r["act_pca_seconds_sklearn_ipca"] = ipca["peak_rss_mb"], ipca["seconds"]
    r = {key: r[key] for key in KEYS}
    print_table(r, {"ours": ours["cpu_seconds"], "ipca": ipca["cpu_seconds"]})
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(r, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
