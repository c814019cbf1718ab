"""Shared plumbing for the zoo's training recipes: checkpoints that resume, and a time-boxed loop.

Every recipe (``train_style``, ``train_vae``, ``train_features``) trains on freshly rendered sprites
(the world is infinite, so there is no data set to ship), checkpoints its modules as safetensors
every few minutes, and resumes from the checkpoint when run again::

    args = recipe_args(recipe_parser(__doc__, "training/x.resume.safetensors", minutes=30, batch=64), argv)
    state = resume(args.ckpt, {"net": net, "ema": ema})     # -> step to continue from (0 if new)
    save = lambda step: checkpoint(args, {"net": net, "ema": ema}, {"g": ema}, {"step": step, ...})
    for step in time_boxed(range(state, args.steps), args.minutes, every=(args.every, save)):
        ...

Optimizer moments are not kept across runs (Adam re-warms within a few hundred steps); weights,
EMA weights and the step counter are, so a run can stop anywhere.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, Optional

import torch
import torch.nn as nn
from safetensors.torch import load_file, save_file
from safetensors import safe_open


def save_modules(path: str | os.PathLike, modules: Dict[str, nn.Module], meta: Optional[dict] = None) -> None:
    """Write ``{prefix.param: tensor}`` for every module plus JSON metadata, atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for prefix, module in modules.items():
        for k, v in module.state_dict().items():
            tensors[f"{prefix}.{k}"] = v.detach().cpu().contiguous()
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file(tensors, str(tmp), metadata={"meta": json.dumps(meta or {})})
    os.replace(tmp, path)


def read_meta(path: str | os.PathLike) -> dict:
    """The JSON metadata stored by :func:`save_modules`."""
    with safe_open(str(path), framework="pt") as f:
        return json.loads((f.metadata() or {}).get("meta", "{}"))


def load_modules(path: str | os.PathLike, modules: Dict[str, nn.Module], strict: bool = True) -> dict:
    """Load tensors written by :func:`save_modules` into ``modules``; returns the metadata."""
    tensors = load_file(str(path))
    for prefix, module in modules.items():
        sub = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
        if not sub and strict:
            raise KeyError(f"{path} holds no tensors for '{prefix}'")
        module.load_state_dict(sub, strict=strict)
    return read_meta(path)


def resume(path: str | os.PathLike, modules: Dict[str, nn.Module], optional: Iterable[str] = ()) -> int:
    """Load a checkpoint if it exists; return the step to continue from. Modules named in
    ``optional`` keep their initial weights when the checkpoint predates them."""
    if not Path(path).exists():
        return 0
    with safe_open(str(path), framework="pt") as f:
        present = {k.split(".", 1)[0] for k in f.keys()}
    modules = {k: m for k, m in modules.items() if k in present or k not in set(optional)}
    meta = load_modules(path, modules)
    step = int(meta.get("step", 0))
    print(f"resumed {path} at step {step}", flush=True)
    return step


def time_boxed(steps: Iterable[int], minutes: float, every: Optional[tuple] = None) -> Iterator[int]:
    """Yield steps until they run out or ``minutes`` pass; call ``every[1](step)`` every
    ``every[0]`` seconds and once at the end (also on KeyboardInterrupt or SIGTERM), so nothing is
    lost."""
    t0 = last = time.time()
    step = None

    def _stop(signum, frame):  # SIGTERM (and SIGINT, which background jobs ignore) end the run cleanly
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            signal.signal(sig, _stop)
        except ValueError:  # not in the main thread: leave signals alone
            pass
    try:
        for step in steps:
            yield step
            now = time.time()
            if every and now - last >= every[0]:
                every[1](step + 1)
                last = now
            if now - t0 >= minutes * 60:
                break
    finally:
        if every and step is not None:
            every[1](step + 1)


class EMA:
    """Exponential moving average of a module's parameters and buffers, kept in a twin module."""

    def __init__(self, module: nn.Module, twin: nn.Module, beta: float = 0.999):
        self.module, self.twin, self.beta = module, twin, beta
        twin.load_state_dict(module.state_dict())
        twin.requires_grad_(False)

    @torch.no_grad()
    def update(self, beta: Optional[float] = None) -> None:
        b = self.beta if beta is None else beta
        for p_ema, p in zip(self.twin.parameters(), self.module.parameters()):
            p_ema.lerp_(p, 1 - b)
        for b_ema, b_ in zip(self.twin.buffers(), self.module.buffers()):
            b_ema.copy_(b_)


def recipe_parser(doc: Optional[str], ckpt: str, minutes: float, batch: int) -> argparse.ArgumentParser:
    """The command line every recipe shares: ``--minutes --steps --ckpt --export --threads --batch
    --every --smoke``; a recipe adds its own options to the parser it gets back."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=minutes, help="stop after this many minutes")
    ap.add_argument("--steps", type=int, default=10**9, help="stop after this many total steps")
    ap.add_argument("--ckpt", default=ckpt, help="resume checkpoint (read if it exists, written every --every s)")
    ap.add_argument("--export", default=None, help="also write the shipped weights (prefix 'g') here")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--batch", type=int, default=batch)
    ap.add_argument("--every", type=float, default=180.0, help="seconds between checkpoints")
    ap.add_argument("--smoke", action="store_true", help="a few steps into a temporary folder (what CI runs)")
    return ap


def recipe_args(ap: argparse.ArgumentParser, argv: Optional[list] = None) -> argparse.Namespace:
    """Parse, set the thread count, and for ``--smoke`` redirect the files to a temporary folder and
    cut the run to 3 steps of batch 8."""
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.smoke:
        tmp = Path(tempfile.mkdtemp())
        args.ckpt, args.export = str(tmp / "ckpt.safetensors"), str(tmp / "g.safetensors")
        args.steps, args.batch = 3, 8
    return args


def checkpoint(args: argparse.Namespace, modules: Dict[str, nn.Module], export: Dict[str, nn.Module],
               meta: dict) -> None:
    """Write the resume checkpoint ``args.ckpt`` (all ``modules``) and, with ``--export``, the shipped
    weights (``export``, e.g. ``{"g": ema_net}``)."""
    save_modules(args.ckpt, modules, meta)
    if args.export:
        save_modules(args.export, export, meta)
    print(f"checkpoint at step {meta.get('step')} -> {args.ckpt} {meta.get('eval', '')}".rstrip(), flush=True)


def log_line(step: int, t0: float, **values: float) -> str:
    parts = " ".join(f"{k}={v:.4g}" for k, v in values.items())
    return f"step {step} {time.time() - t0:.0f}s {parts}"


TrainFn = Callable[[int], Dict[str, float]]
