"""Run a discovery method from the command line, on one process or many under ``torchrun``.

One process::

    python -m latentwidgets.directions.run --model dcgan-faces --method pca --out faces-pca \\
        --option n_components=20 --option n_samples=1000000

Several processes (here 2 CPU processes with gloo; on a GPU machine ``--device cuda`` and one
process per GPU, NCCL)::

    torchrun --standalone --nproc_per_node=2 -m latentwidgets.directions.run \\
        --model dcgan-faces --method pca --out faces-pca --option n_samples=1000000

Each rank draws its own share of the seeded samples, the statistics are all-reduced, and rank 0
writes the record (``<out>.json`` + ``<out>.safetensors``); the result equals a single-process run
on the same seeds up to float rounding. ``--model`` takes anything ``latentwidgets.load`` accepts by
name, or ``package.module:factory`` (a function returning a model). Methods whose statistics are not
yet mergeable refuse to run on more than one process.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import json
import os
import sys
import time
from typing import Any

import torch

#: methods whose statistics are reduced across ranks (the others would fit each rank's share alone)
DISTRIBUTED_METHODS = ("pca", "tensor")


def parse_options(pairs: list[str]) -> dict[str, Any]:
    """``["n_components=6", "layer='main.3'"]`` -> ``{"n_components": 6, "layer": "main.3"}``; bare words stay
    strings."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.isidentifier():
            raise SystemExit(f"--option takes key=value; got {pair!r}")
        try:
            out[key] = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            out[key] = value
    return out


def load_model(spec: str, device: str) -> Any:
    """A model by ``latentwidgets.load`` name, or from ``package.module:factory``."""
    from ..models import load

    if ":" in spec:
        mod, fn = spec.split(":", 1)
        model = load(getattr(importlib.import_module(mod), fn)())
    else:
        model = load(spec)
    return model.to(device)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="a latentwidgets.load name, or package.module:factory")
    ap.add_argument("--method", default="pca")
    ap.add_argument("--out", required=True, help="record path (writes <out>.json and the .safetensors file it names)")
    ap.add_argument("--option", action="append", default=[], help="key=value passed to the method (repeatable)")
    ap.add_argument("--device", default="cpu", help="cpu, or cuda (each rank takes cuda:LOCAL_RANK)")
    args = ap.parse_args(argv)

    import torch.distributed as dist

    from . import find_directions

    world = int(os.environ.get("WORLD_SIZE", "1"))
    device = args.device
    if world > 1:
        if args.method not in DISTRIBUTED_METHODS:
            raise SystemExit(f"method {args.method!r} does not reduce its statistics across processes yet; "
                             f"run it on one process (distributed: {', '.join(DISTRIBUTED_METHODS)})")
        if device.startswith("cuda"):
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
            torch.cuda.set_device(device)
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    try:
        model = load_model(args.model, device)
        rank = dist.get_rank() if world > 1 else 0
        options = parse_options(args.option)
        options.setdefault("progress", rank == 0)
        t0 = time.perf_counter()
        d = find_directions(model, args.method, **options)
        seconds = time.perf_counter() - t0
        if rank == 0:
            path = d.save(args.out)
            print(json.dumps({"record": str(path), "seconds": round(seconds, 3), "world_size": world,
                              "samples": d.samples}))
    finally:
        if world > 1:
            dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
