"""Faults while saving a Directions record: a process killed at random moments (and exactly between the two
renames), a disk that fails half-way through a write. The old record or the new one always loads, the error
propagates, and no temp file or orphan outlives the next save."""

from __future__ import annotations

import errno
import itertools
import os
import random
import signal
import time
from pathlib import Path

import pytest
import torch

from latentwidgets import _checkpoint
from latentwidgets.directions import Directions


def _record(k: int, width: int = 64, state: int = 0) -> Directions:
    g = torch.Generator().manual_seed(k)
    big = {"big": torch.randn(state, generator=g)} if state else {}
    return Directions(torch.randn(k, width, generator=g), "z", sigma=torch.rand(k, generator=g) + 0.5,
                      names=[f"d{i}" for i in range(k)], state=big)


def _files(folder: Path) -> list:
    return sorted(p.name for p in folder.iterdir())


def _loads_as_old_or_new(path: Path, old: Directions, new: Directions) -> str:
    got = Directions.load(path)
    for label, rec in (("old", old), ("new", new)):
        if len(got) == len(rec) and torch.equal(got.vectors, rec.vectors) and got.names == rec.names:
            assert torch.equal(got.state.get("big", torch.zeros(0)), rec.state.get("big", torch.zeros(0)))
            return label
    raise AssertionError(f"{path} loads as neither the old nor the new record: {got}")


def _in_child(work) -> int:
    """Run ``work(ready)`` in a forked child (torch already imported: no interpreter start-up per kill);
    ``ready()`` tells the parent the child got going. Returns the child's pid once it is ready."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            os.close(read)
            work(lambda: os.write(write, b"1"))
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    os.read(read, 1)
    os.close(read)
    return pid


def _saves_forever(path: Path):
    def work(ready):
        recs = [_record(3, state=300_000), _record(5, state=200_000)]
        for i in itertools.count():
            recs[i % 2].save(path)
            if i == 0:
                ready()
    return work


fork_only = pytest.mark.skipif(not hasattr(os, "fork"), reason="kills a forked saver")


@fork_only
def test_a_kill_at_any_moment_leaves_the_old_or_the_new_record(tmp_path):
    path = tmp_path / "run.v1"
    old, new = _record(3, state=300_000), _record(5, state=200_000)
    old.save(path)
    rng = random.Random(0)
    for _ in range(25):
        pid = _in_child(_saves_forever(path))
        time.sleep(rng.uniform(0.0, 0.05))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        _loads_as_old_or_new(path, old, new)
    new.save(path)                    # the next save removes every temp file and orphan a kill left
    assert _loads_as_old_or_new(path, old, new) == "new"
    files = _files(tmp_path)
    assert len(files) == 2 and "run.v1.json" in files and not any(f.endswith(".tmp") for f in files), files


def _killed_after_rename(path: Path, n: int):
    """A save that dies (like a kill: no cleanup runs) right after its n-th rename."""
    def work(ready):
        real, calls = os.replace, []

        def replace(src, dst):
            real(src, dst)
            calls.append(dst)
            if len(calls) == n:
                os._exit(9)

        os.replace = replace
        ready()
        _record(5).save(path)
    return work


@fork_only
@pytest.mark.parametrize("renames, loads_as", [(1, "old"), (2, "new")])
def test_a_kill_between_the_renames_leaves_a_loadable_pair(tmp_path, renames, loads_as):
    path = tmp_path / "run"
    old, new = _record(3), _record(5)
    old.save(path)
    _, status = os.waitpid(_in_child(_killed_after_rename(path, renames)), 0)
    assert os.waitstatus_to_exitcode(status) == 9
    assert _loads_as_old_or_new(path, old, new) == loads_as
    assert len(_files(tmp_path)) == 3          # the JSON, its tensors, and the other save's tensors
    _record(7).save(path)
    assert len(Directions.load(path)) == 7 and len(_files(tmp_path)) == 2


class _FullDisk:
    """``open`` for the checkpoint writer whose files take ``budget`` bytes, then fail as a full disk does."""

    def __init__(self, budget: int, fail_on: int):
        self.budget, self.fail_on, self.opened = budget, fail_on, 0

    def __call__(self, path, mode="r", *args, **kwargs):
        f = open(path, mode, *args, **kwargs)
        self.opened += 1
        if self.opened != self.fail_on:
            return f
        budget = self.budget

        class Failing:
            def __enter__(self):
                return self

            def __exit__(self, *exc):
                f.close()

            def write(self, data):
                f.write(data[:budget])
                f.flush()
                raise OSError(errno.ENOSPC, "No space left on device")

            def __getattr__(self, name):
                return getattr(f, name)

        return Failing()


@pytest.mark.parametrize("fail_on", [1, 2], ids=["tensors", "json"])
def test_a_disk_that_fails_half_way_keeps_the_old_record(tmp_path, monkeypatch, fail_on):
    path = tmp_path / "run"
    old, new = _record(3, state=10_000), _record(5, state=10_000)
    old.save(path)
    before = _files(tmp_path)
    monkeypatch.setattr(_checkpoint, "open", _FullDisk(budget=100, fail_on=fail_on), raising=False)
    with pytest.raises(OSError, match="No space left"):
        new.save(path)
    monkeypatch.undo()
    assert _loads_as_old_or_new(path, old, new) == "old"
    assert _files(tmp_path) == before            # no temp file, no orphan tensors
    new.save(path)
    assert _loads_as_old_or_new(path, old, new) == "new" and len(_files(tmp_path)) == 2
