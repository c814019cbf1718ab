"""Adapters that put every supported generator behind the :class:`LatentModel` protocol.

``load`` is the one entry point::

    model = load("sprites-style")        # an embedded zoo model
    model = load(my_module, z_dim=100)   # any nn.Module mapping z to an image
"""

from __future__ import annotations

from typing import Any

from .base import LatentModel, LatentShapeError, layer_slice

__all__ = ["LatentModel", "LatentShapeError", "layer_slice", "load"]


def _load_zoo(name: str) -> LatentModel:
    from .. import zoo

    if name == "sprites-style":
        from .zoo_style import ZooStyleModel
        return ZooStyleModel(zoo.build(name), name=name)
    if name == "sprites-vae":
        from .decoder import DecoderModel
        vae = zoo.build(name)
        return DecoderModel(vae.decoder, z_dim=vae.z_dim, name=name, output_range=(0.0, 1.0))
    raise KeyError(f"{name!r} is not a generative zoo model; generative zoo models: "
                   f"{[k for k in zoo.available() if k != 'sprites-features']}")


def load(source: Any, **options: Any) -> LatentModel:
    """Wrap ``source`` in a :class:`LatentModel`.

    ``source`` may be a zoo name (see ``latentwidgets.zoo.available()``), a ``LatentModel``
    (returned as is) or an ``nn.Module`` mapping z to an image (``z_dim=`` required if it cannot be
    inferred). Unrecognised input raises an error listing what is accepted.
    """
    from .. import zoo

    if isinstance(source, LatentModel):
        return source
    if isinstance(source, str) and (source in zoo.available() or source in zoo._DESCRIPTIONS):
        return _load_zoo(source)
    try:
        import torch.nn as nn
        if isinstance(source, nn.Module):
            from .decoder import DecoderModel
            return DecoderModel(source, **options)
    except ImportError:  # pragma: no cover
        pass
    raise ValueError(
        f"latentwidgets.load could not recognise {source!r}. It accepts: a zoo name "
        f"({', '.join(sorted(zoo.available()))}), a LatentModel, or an nn.Module mapping z to an image "
        "(pass z_dim=...)."
    )
