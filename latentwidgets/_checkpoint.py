"""Checkpoint I/O: modules to safetensors with JSON metadata, resuming, and a time-boxed loop.

Every write goes to a temp file beside the target and is renamed into place (``os.replace``), so a
kill at any moment leaves the old file or the new one, never neither; a temp file a kill left
behind is removed by the next save of the same target::

    save_modules("run.safetensors", {"net": net, "ema": ema}, {"step": 100})
    step = resume("run.safetensors", {"net": net, "ema": ema})      # 100 (0 if the file is missing)
    read_meta("run.safetensors")                                     # {'step': 100}
    for step in time_boxed(range(step, 1000), minutes=30, every=(180, save)):
        ...

This is the bottom layer: it imports nothing from latentwidgets.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import os
import re
import secrets
import signal
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import torch.nn as nn
from safetensors import safe_open
from safetensors.torch import load_file, save_file

__all__ = ["atomic_path", "write_atomic", "save_modules", "read_meta", "load_modules", "resume", "time_boxed",
           "checkpoint"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, temp_of: str | os.PathLike | None = None) -> Iterator[Path]:
    """A temp path beside ``path`` to write to; renamed onto ``path`` when the block ends without
    error, removed when it raises. Temp files of the same target that an earlier kill left behind
    are removed first. ``temp_of`` names the temp file (and the stale temps to remove) after another
    path of the same folder: for targets whose name changes from save to save (a content hash), so
    the next save still finds what a kill left behind.

    >>> with atomic_path("record.json") as tmp:
    ...     tmp.write_text("{}")
    """
    path = Path(path)
    family = Path(temp_of) if temp_of is not None else path
    path.parent.mkdir(parents=True, exist_ok=True)
    stale = re.compile(re.escape(family.name) + r"\.\d+-[0-9a-f]+\.tmp")
    for old in path.parent.glob(f"{glob.escape(family.name)}.*.tmp"):
        if stale.fullmatch(old.name):
            old.unlink(missing_ok=True)
    tmp = path.with_name(f"{family.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
        _sync_folder(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike, data: bytes, temp_of: str | os.PathLike | None = None) -> Path:
    """Write ``data`` to ``path`` through :func:`atomic_path` (flushed to disk before the rename), so
    ``path`` holds the old bytes or the new ones, never a part; returns ``path``.

    >>> write_atomic("record.json", b"{}")
    """
    with atomic_path(path, temp_of) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return Path(path)


def _sync_folder(folder: Path) -> None:
    """Flush a rename to disk (POSIX; a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def save_modules(path: str | os.PathLike, modules: dict[str, nn.Module], meta: dict | None = None) -> None:
    """Write ``{prefix.param: tensor}`` for every module plus JSON metadata, atomically.

    >>> save_modules("ckpt.safetensors", {"g": net}, {"step": 10})
    """
    tensors = {}
    for prefix, module in modules.items():
        for k, v in module.state_dict().items():
            tensors[f"{prefix}.{k}"] = v.detach().cpu().contiguous()
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"meta": json.dumps(meta or {})})


def read_meta(path: str | os.PathLike) -> dict:
    """The JSON metadata stored by :func:`save_modules`.

    >>> read_meta("ckpt.safetensors")["step"]
    """
    with safe_open(str(path), framework="pt") as f:
        return json.loads((f.metadata() or {}).get("meta", "{}"))


def load_modules(path: str | os.PathLike, modules: dict[str, nn.Module], strict: bool = True) -> dict:
    """Load tensors written by :func:`save_modules` into ``modules``; returns the metadata.

    >>> meta = load_modules("ckpt.safetensors", {"g": net})
    """
    tensors = load_file(str(path))
    for prefix, module in modules.items():
        sub = {k[len(prefix) + 1:]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
        if not sub and strict:
            raise KeyError(f"{path} holds no tensors for '{prefix}'")
        module.load_state_dict(sub, strict=strict)
    return read_meta(path)


def resume(path: str | os.PathLike, modules: dict[str, nn.Module], optional: Iterable[str] = ()) -> int:
    """Load a checkpoint if it exists; return the step to continue from. Modules named in
    ``optional`` keep their initial weights when the checkpoint predates them.

    >>> start = resume("training/x.resume.safetensors", {"net": net, "ema": ema})
    """
    if not Path(path).exists():
        return 0
    with safe_open(str(path), framework="pt") as f:
        present = {k.split(".", 1)[0] for k in f.keys()}
    modules = {k: m for k, m in modules.items() if k in present or k not in set(optional)}
    meta = load_modules(path, modules)
    step = int(meta.get("step", 0))
    print(f"resumed {path} at step {step}", flush=True)
    return step


def time_boxed(steps: Iterable[int], minutes: float, every: tuple | None = None) -> Iterator[int]:
    """Yield steps until they run out or ``minutes`` pass; call ``every[1](step)`` every
    ``every[0]`` seconds and once at the end (also on KeyboardInterrupt or SIGTERM), so nothing is
    lost.

    >>> for step in time_boxed(range(start, steps), 30, every=(180, save)): ...
    """
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


def checkpoint(args: argparse.Namespace, modules: dict[str, nn.Module], export: dict[str, nn.Module],
               meta: dict) -> None:
    """Write the resume checkpoint ``args.ckpt`` (all ``modules``) and, with ``args.export``, the
    shipped weights (``export``, e.g. ``{"g": ema_net}``).

    >>> checkpoint(args, {"net": net, "ema": ema_net}, {"g": ema_net}, {"step": step})
    """
    save_modules(args.ckpt, modules, meta)
    if args.export:
        save_modules(args.export, export, meta)
    print(f"checkpoint at step {meta.get('step')} -> {args.ckpt} {meta.get('eval', '')}".rstrip(), flush=True)
