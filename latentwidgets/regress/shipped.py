"""The shipped regressors of zoo generators, rebuilt from their weights files' metadata::

    reg = load_regressor("sprites-style", model)      # zoo: sprites-style-regressor
    reg = load_regressor("my-regressor.safetensors")  # a file written by LatentRegressor.save / train_regressor
"""

from __future__ import annotations

import os
from pathlib import Path

from .. import zoo
from ..models.base import LatentModel
from .net import LatentRegressor

#: the zoo name of the shipped regressor of each zoo generator
ZOO_REGRESSORS = {"sprites-style": "sprites-style-regressor"}


def load_regressor(name: str | os.PathLike, model: LatentModel | None = None) -> LatentRegressor:
    """The shipped regressor of zoo model ``name`` (e.g. ``"sprites-style"``), or one saved at a path.

    With ``model`` it is checked against the model's latent layout and moved to its device.

    >>> reg = load_regressor("sprites-style", lw.load("sprites-style"))
    """
    key = str(name)
    if key in ZOO_REGRESSORS or key in ZOO_REGRESSORS.values():
        zoo_name = ZOO_REGRESSORS.get(key, key)
        path = zoo.WEIGHTS_DIR / f"{zoo_name}.safetensors"
        if not path.exists():
            raise FileNotFoundError(f"the regressor {zoo_name!r} is not in this install ({path}); train it with: "
                                    f"{zoo.RECIPES[zoo_name]}")
    else:
        path = Path(name)
        if not path.exists():
            raise FileNotFoundError(f"no regressor named {key!r}: zoo regressors are {sorted(ZOO_REGRESSORS)}; "
                                    "or pass the path of a file written by LatentRegressor.save / train_regressor")
    reg = LatentRegressor.load(path)
    if model is not None:
        reg.check_model(model)
        reg = reg.to(model.device)
    return reg
