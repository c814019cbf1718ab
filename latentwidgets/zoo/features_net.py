"""The network of ``sprites-features``: a small conv net that reads a sprites scene's factors (and how
damaged the image is); its 128-d penultimate features define the sprite-FID.

Outputs (see :data:`HEADS`): shape logits; scale, x, y, bg_value normalised to [-1, 1] over their
real-scene ranges; (cos, sin) of 2 pi hue and of 2 pi bg_hue; rotation as (cos, sin) of 1x, 2x and 4x
the angle (a square repeats every 90 degrees, an ellipse every 180, a heart every 360, so only the
harmonics a shape determines are trained); the kind of image damage (none, blur, noise, warp, blobs,
ghost, shading) and its strength. The damage heads make the features move when an image is
imperfect, which is what a realism distance must see::

    from latentwidgets.zoo.features_net import build_features
    net = build_features()              # random init; zoo.build("sprites-features") loads weights
    net = features_network(device)      # the shipped net, frozen, one per device (sprite-FID, perceptual loss)
    feats = net.features(images)        # [B, 128]
    pred = net.predict(images)          # dict: shape, scale, x, y, bg_value, hue, bg_hue, rotation...
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from . import sprites

FEATURE_DIM = 128
CORRUPTIONS = ("none", "blur", "noise", "warp", "blobs", "ghost", "shading")
#: name -> (start, end) columns of the output vector
HEADS: dict[str, tuple] = {}
_sizes = [("shape", 3), ("regress", 4), ("hue", 2), ("bg_hue", 2), ("rot1", 2), ("rot2", 2), ("rot4", 2),
          ("corruption", len(CORRUPTIONS)), ("strength", 1)]
_o = 0
for _name, _n in _sizes:
    HEADS[_name] = (_o, _o + _n)
    _o += _n
N_OUT = _o
REGRESSED = ("scale", "x", "y", "bg_value")


class SpritesFeatures(nn.Module):
    """Conv net: images ``[B, 3, 64, 64]`` in [0, 1] -> outputs ``[B, N_OUT]``; see the module doc."""

    def __init__(self, feature_dim: int = FEATURE_DIM):
        super().__init__()
        self.feature_dim = feature_dim
        act = nn.SiLU
        self.convs = nn.Sequential(
            nn.Conv2d(3, 32, 4, 2, 1), act(),     # 32
            nn.Conv2d(32, 48, 4, 2, 1), act(),    # 16
            nn.Conv2d(48, 96, 4, 2, 1), act(),    # 8
            nn.Conv2d(96, 128, 4, 2, 1), act(),   # 4
        )
        self.embed = nn.Sequential(nn.Flatten(), nn.Linear(128 * 4 * 4, feature_dim), act())
        self.head = nn.Linear(feature_dim, N_OUT)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features ``[B, feature_dim]`` of images ``[B, 3, 64, 64]`` in [0, 1]."""
        if x.dim() != 4 or tuple(x.shape[1:]) != (3, 64, 64):
            raise ValueError(f"sprites-features expects images [B, 3, 64, 64] in [0, 1]; got {tuple(x.shape)} "
                             "(resize with torch.nn.functional.interpolate first)")
        return self.embed(self.convs(x * 2 - 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Factor estimates (dict of ``[B]``), in the units of :mod:`sprites`, plus ``corruption``
        (index into :data:`CORRUPTIONS`) and ``strength`` (0..1)."""
        return decode(self(x))


def _angle(cs: torch.Tensor) -> torch.Tensor:
    return torch.atan2(cs[:, 1], cs[:, 0])


def decode(out: torch.Tensor) -> dict[str, torch.Tensor]:
    """Turn raw outputs ``[B, N_OUT]`` into factor estimates (see :meth:`SpritesFeatures.predict`)."""
    h = {k: out[:, a:b] for k, (a, b) in HEADS.items()}
    res: dict[str, torch.Tensor] = {"shape": h["shape"].argmax(1)}
    for i, k in enumerate(REGRESSED):
        lo, hi = sprites.RANGES[k]
        res[k] = lo + (h["regress"][:, i] + 1) / 2 * (hi - lo)
    res["hue"] = torch.remainder(_angle(h["hue"]) / (2 * math.pi), 1.0)
    res["bg_hue"] = torch.remainder(_angle(h["bg_hue"]) / (2 * math.pi), 1.0)
    res["rotation"] = torch.remainder(_angle(h["rot1"]), 2 * math.pi)
    res["corruption"] = h["corruption"].argmax(1)
    res["strength"] = h["strength"][:, 0]
    return res


def build_features(feature_dim: int = FEATURE_DIM) -> SpritesFeatures:
    """The ``sprites-features`` architecture at random init.

    >>> build_features().features(torch.zeros(2, 3, 64, 64)).shape
    torch.Size([2, 128])
    """
    return SpritesFeatures(feature_dim)


_SHIPPED: dict[str, SpritesFeatures] = {}


def features_network(device: str | torch.device = "cpu") -> SpritesFeatures:
    """The shipped ``sprites-features`` net on ``device``, in eval mode with frozen weights (gradients
    flow to the images only); built once per device and shared by the sprite-FID
    (:mod:`latentwidgets.evaluate.metrics`) and the regressor's perceptual loss.

    >>> features_network("cpu").features(images)        # [B, 128]
    """
    key = str(device)
    if key not in _SHIPPED:
        from . import build
        _SHIPPED[key] = build("sprites-features").to(device).eval().requires_grad_(False)
    return _SHIPPED[key]
