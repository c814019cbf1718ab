"""The ground truth the course grades against: which models have it, the factors, their units and spreads.

Only the sprites models (``sprites-style``, ``sprites-vae``) draw scenes whose factors
:func:`latentwidgets.zoo.sprites.measure` reads back exactly; any other model is refused::

    model = require_sprites(lw.load("sprites-style"))
    f = measure(images)                       # x, y, scale, hue, bg_hue, bg_value [N] and clean [N] bool
    signed_change("hue", after, before)       # circular: 0.95 -> 0.05 is +0.1 turns, not -0.9
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import torch

from ..zoo import sprites

#: the factors a grade can target, with their units
UNITS: dict[str, str] = {"x": "image widths", "y": "image widths (down)", "scale": "image widths",
                         "hue": "turns", "bg_hue": "turns", "bg_value": "HSV value"}
FACTORS = tuple(UNITS)
CIRCULAR = ("hue", "bg_hue")
#: spread of each factor over real scenes (std of its uniform range; a full turn for hues): the
#: yardstick that makes changes of different factors comparable
SPREAD: dict[str, float] = {f: (sprites.RANGES[f][1] - sprites.RANGES[f][0]) / math.sqrt(12) for f in FACTORS}
SPRITES_MODELS = ("sprites-style", "sprites-vae")
#: a model whose unedited samples are clean less often than this (the blurry sprites-vae: under 1%) is
#: graded on all its images, and the clean check is left out (measure still reads a blurry object)
MIN_CLEAN_SAMPLES = 0.5


def require_sprites(model: Any) -> Any:
    """Return ``model`` if the sprites ground truth applies to it, else raise a ValueError saying why."""
    name = getattr(model, "name", type(model).__name__)
    if name not in SPRITES_MODELS or getattr(model, "resolution", None) != sprites.SIZE:
        raise ValueError(f"the course grader needs a sprites model ({', '.join(SPRITES_MODELS)}): only their images "
                         f"have known factors to measure. {name!r} has no ground truth; load one with "
                         f"lw.load('sprites-style').")
    return model


@lru_cache(maxsize=4)
def load_sprites(name: str) -> Any:
    """The embedded sprites model ``name`` (cached: grading a record by its ``model_id`` loads it once)."""
    if name not in SPRITES_MODELS:
        raise ValueError(f"the course grader needs a sprites model ({', '.join(SPRITES_MODELS)}); this record was "
                         f"found on {name or 'an unnamed model'!r}, which has no ground truth. "
                         f"Pass model= a sprites model.")
    from ..models import load
    return load(name)


def measure(images: torch.Tensor) -> dict[str, torch.Tensor]:
    """The sprites factors of ``images [N, 3, 64, 64]``: each factor ``[N]`` float, ``clean`` ``[N]`` bool."""
    m = sprites.measure(images)
    out = {f: m[f].float() for f in FACTORS}
    out["clean"] = m["clean"].bool()
    return out


def gradable(clean: torch.Tensor, unedited: torch.Tensor) -> tuple[torch.Tensor, str | None]:
    """The images to grade on: ``clean`` itself, or all of them (and a note saying why) when the model's
    ``unedited`` samples are rarely clean (:data:`MIN_CLEAN_SAMPLES`)."""
    share = float(unedited.float().mean()) if unedited.numel() else 0.0
    if share >= MIN_CLEAN_SAMPLES:
        return clean, None
    return torch.ones_like(clean), (f"only {share:.0%} of this model's samples are clean (one sharp object): graded "
                                    f"on all images, cleanliness not checked")


def signed_change(factor: str, after: torch.Tensor, before: torch.Tensor) -> torch.Tensor:
    """``after - before`` in the factor's units; for hues the shorter way round the circle, in [-0.5, 0.5)."""
    d = after - before
    return torch.remainder(d + 0.5, 1.0) - 0.5 if factor in CIRCULAR else d
