"""Reading weight files for the loaders: safetensors and ``torch.save`` files, weights only unless the caller
opts in with exactly ``trust=True``; every failure names the file and the fix.

    state = read_weights("g.safetensors")              # {name: tensor}
    state = read_weights("550000.pt")                  # torch.load(weights_only=True)
    net = read_weights("whole_model.pt", trust=True)   # a pickled nn.Module: runs code from the file
    trusted("no")                                      # TypeError: trust= must be True or False
"""

from __future__ import annotations

import argparse
import importlib
import os
import pickle
from pathlib import Path
from typing import Any

import torch


def trusted(trust: Any) -> bool:
    """``trust`` as a bool: only ``True`` opts in to unpickling; anything but ``True``/``False`` is refused.

    >>> trusted(False)
    False
    """
    if trust is True or trust is False:
        return trust
    raise TypeError(f"trust= must be True or False; got {trust!r}. Pass trust=True only for files from a source "
                    "you trust: unpickling runs code stored in the file")


def read_weights(path: str | os.PathLike, trust: bool = False) -> Any:
    """The contents of a ``.safetensors`` file (a dict of tensors) or of a ``torch.save`` file, read with
    ``weights_only=True`` (plain containers, tensors and ``argparse.Namespace``); with ``trust=True`` a
    file holding other pickled objects (a whole ``nn.Module``) is unpickled.

    >>> state = read_weights("weights.safetensors")
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        try:
            return load_file(str(path))
        except Exception as e:  # noqa: BLE001 - safetensors raises its own error type for damaged files
            raise ValueError(f"{path} is not a readable safetensors file ({type(e).__name__}: {e}): it is damaged "
                             "or truncated (an interrupted download?) or not safetensors; download or export it "
                             "again") from e
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        unsupported = next((line.strip() for line in str(e).splitlines() if "Unsupported global" in line), None)
        if unsupported is None:
            raise ValueError(f"{path} is not a readable PyTorch file ({str(e).splitlines()[-1].strip()}): it is "
                             "damaged or truncated, or was not written by torch.save") from e
        if not trusted(trust):
            raise PermissionError(
                f"{path.name} holds pickled Python objects, not only weights ({unsupported.split(': ', 1)[-1][:160]}), "
                "e.g. a whole nn.Module saved with torch.save(model); reading it runs code stored in the file. "
                "Either save the weights alone (torch.save(model.state_dict(), path)) and pass module= an "
                "instance of the architecture (or generator_class= for a rosinality checkpoint), or, if you trust "
                "the file's source, load(path, trust=True)") from e
    except (RuntimeError, EOFError, OSError) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"{path} is not a readable PyTorch file ({type(e).__name__}: {str(e).splitlines()[0]}): it "
                         "is damaged or truncated, or was not written by torch.save") from e
    return _load_trusted(path)


def _load_trusted(path: Path) -> Any:
    """A ``torch.save`` file whose pickled objects the user trusts (``trust=True``): still read with
    ``weights_only=True``, allowing exactly the globals the file names (its classes, e.g. the
    ``nn.Module`` subclasses of a whole saved model), which are imported here."""
    allowed = [_import_global(name) for name in torch.serialization.get_unsafe_globals_in_checkpoint(str(path))]
    with torch.serialization.safe_globals(allowed):
        return torch.load(str(path), map_location="cpu", weights_only=True)


def _import_global(name: str) -> Any:
    """The object a pickle names ``"package.module.Qual.name"``: the longest importable module prefix,
    then attributes."""
    parts = name.split(".")
    for i in range(len(parts) - 1, 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(f"cannot import {name!r}, which the trusted file's pickle names: install or import the "
                      "package that defines it first")
