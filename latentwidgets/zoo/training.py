"""Shared plumbing for the zoo's training recipes: checkpoints that resume, and a time-boxed loop.

Every recipe (``train_style``, ``train_vae``, ``train_features``) trains on freshly rendered sprites
(the world is infinite, so there is no data set to ship), checkpoints its modules as safetensors
every few minutes, and resumes from the checkpoint when run again::

    state = resume(path, {"net": net, "ema": ema})          # -> step to continue from (0 if new)
    for step in time_boxed(range(state, total), minutes=30, every=(180, save)):
        ...

Optimizer moments are not kept across runs (Adam re-warms within a few hundred steps); weights,
EMA weights and the step counter are, so a run can stop anywhere.
"""

from __future__ import annotations

import json
import os
import signal
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


def resume(path: str | os.PathLike, modules: Dict[str, nn.Module]) -> int:
    """Load a checkpoint if it exists; return the step to continue from."""
    if not Path(path).exists():
        return 0
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


def log_line(step: int, t0: float, **values: float) -> str:
    parts = " ".join(f"{k}={v:.4g}" for k, v in values.items())
    return f"step {step} {time.time() - t0:.0f}s {parts}"


TrainFn = Callable[[int], Dict[str, float]]
