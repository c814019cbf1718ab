"""Direction discovery: each method takes a model (and options) and returns a ``Directions`` record.

    from latentwidgets import find_directions
    d = find_directions(model, method="pca", n_components=10)

Methods: ``pca`` (GANSpace), ``closed_form`` (SeFa), ``factors`` (Plumerault et al.), ``tensor``
(Oldfield et al.), ``attribute`` (InterFaceGAN boundaries / GAN-Control controllers).
"""

from __future__ import annotations

import importlib
from typing import Any, Dict

from .record import Directions

__all__ = ["Directions", "find_directions", "METHODS"]

#: method name -> "module:function" (modules load lazily)
METHODS: Dict[str, str] = {
    "pca": "latentwidgets.directions.pca:pca_directions",
    "closed_form": "latentwidgets.directions.closed_form:closed_form_directions",
    "factors": "latentwidgets.directions.factors:factor_directions",
    "tensor": "latentwidgets.directions.tensor:tensor_directions",
    "attribute": "latentwidgets.directions.attribute:attribute_directions",
}


def find_directions(model: Any, method: str = "pca", **options: Any) -> Directions:
    """Run discovery ``method`` on ``model`` (see :data:`METHODS`); options go to the method."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(METHODS)}")
    mod, fn = METHODS[method].split(":")
    try:
        func = getattr(importlib.import_module(mod), fn)
    except (ImportError, AttributeError) as e:
        raise NotImplementedError(f"method {method!r} is not available in this install: {e}") from e
    return func(model, **options)
