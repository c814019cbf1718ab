"""Shared plumbing for the zoo's training recipes: the command line they share, EMA, log lines.

Every recipe (``train_style``, ``train_vae``, ``train_features``) trains on freshly rendered sprites
(the world is infinite, so there is no data set to ship), checkpoints its modules as safetensors
every few minutes, and resumes from the checkpoint when run again::

    args = recipe_args(recipe_parser(__doc__, "training/x.resume.safetensors", minutes=30, batch=64), argv)
    state = resume(args.ckpt, {"net": net, "ema": ema})     # -> step to continue from (0 if new)
    save = lambda step: checkpoint(args, {"net": net, "ema": ema}, {"g": ema}, {"step": step, ...})
    for step in time_boxed(range(state, args.steps), args.minutes, every=(args.every, save)):
        ...

Optimizer moments are not kept across runs (Adam re-warms within a few hundred steps); weights,
EMA weights and the step counter are, so a run can stop anywhere. The checkpoint I/O (``resume``,
``checkpoint``, ``time_boxed``) lives in :mod:`latentwidgets._checkpoint`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
import torch.nn as nn


class EMA:
    """Exponential moving average of a module's parameters and buffers, kept in a twin module."""

    def __init__(self, module: nn.Module, twin: nn.Module, beta: float = 0.999):
        self.module, self.twin, self.beta = module, twin, beta
        twin.load_state_dict(module.state_dict())
        twin.requires_grad_(False)

    @torch.no_grad()
    def update(self, beta: float | None = None) -> None:
        b = self.beta if beta is None else beta
        for p_ema, p in zip(self.twin.parameters(), self.module.parameters(), strict=True):
            p_ema.lerp_(p, 1 - b)
        for b_ema, b_ in zip(self.twin.buffers(), self.module.buffers(), strict=True):
            b_ema.copy_(b_)


def recipe_parser(doc: str | None, ckpt: str, minutes: float, batch: int) -> argparse.ArgumentParser:
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


def recipe_args(ap: argparse.ArgumentParser, argv: list | None = None) -> argparse.Namespace:
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


def log_line(step: int, t0: float, **values: float) -> str:
    parts = " ".join(f"{k}={v:.4g}" for k, v in values.items())
    return f"step {step} {time.time() - t0:.0f}s {parts}"

