"""The embedded default world: procedural sprites, tiny nets, and their shipped weights.

Nothing here downloads anything: the weights ship inside the package as safetensors, each made by a
committed recipe (``train_*.py`` in this folder; the regressor's in ``latentwidgets.regress.recipe``;
see ``RECIPES``)::

    from latentwidgets import zoo
    zoo.available()              # {'sprites-style': '...', 'sprites-vae': '...', 'sprites-features': '...', ...}
    zoo.generative()             # only the generators (not sprites-features nor sprites-style-regressor)
    net = zoo.build("sprites-style")   # the raw nn.Module with its weights (latentwidgets.load wraps it)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch.nn as nn

WEIGHTS_DIR = Path(__file__).parent / "weights"

_DESCRIPTIONS: dict[str, str] = {
    "sprites-style": "style-based generator (mapping z->w, 10 per-layer styles, 64x64), "
                     "distilled from an entangling teacher",
    "sprites-vae": "beta-VAE (conv encoder and decoder) on the sprites world, 64x64",
    "sprites-features": "sprites factor regressor; its penultimate features define the sprite-FID",
    "sprites-style-regressor": "latent regressor for sprites-style (masked image -> w+, Chai et al.); "
                               "load with latentwidgets.load_regressor('sprites-style', model)",
}

#: shipped networks that are not generators (no ``latentwidgets.load``, no place in the quality report)
AUXILIARY = ("sprites-features", "sprites-style-regressor")
#: shipped weights that :func:`build` does not build: their loader lives in a higher layer, which
#: rebuilds the network from the file's metadata (``latentwidgets.regress.load_regressor``)
WEIGHTS_ONLY = ("sprites-style-regressor",)

#: the command that trained each shipped weight file (also stored in each file's metadata)
RECIPES: dict[str, str] = {
    "sprites-style": "python -m latentwidgets.zoo.train_style --threads 1 --minutes 60 "
                     "--ckpt training/sprites-style.resume.safetensors "
                     "--export latentwidgets/zoo/weights/sprites-style.safetensors"
                     "  (resumes; repeat until the report passes)",
    "sprites-vae": "python -m latentwidgets.zoo.train_vae --threads 1 --minutes 70 "
                   "--ckpt training/sprites-vae.resume.safetensors "
                   "--export latentwidgets/zoo/weights/sprites-vae.safetensors",
    "sprites-features": "python -m latentwidgets.zoo.train_features --threads 1 --minutes 40 "
                        "--ckpt training/sprites-features.resume.safetensors "
                        "--export latentwidgets/zoo/weights/sprites-features.safetensors",
    "sprites-style-regressor": "python -m latentwidgets.regress.recipe --threads 1 --minutes 35 "
                               "--ckpt training/sprites-style-regressor.resume.safetensors "
                               "--export latentwidgets/zoo/weights/sprites-style-regressor.safetensors  "
                               "(resumes; re-run after the sprites-style weights change)",
}


def _builders() -> dict[str, Callable[[], nn.Module]]:
    from .style_net import StyleGenerator
    from .teacher import Z_DIM

    out: dict[str, Callable[[], nn.Module]] = {"sprites-style": lambda: StyleGenerator(z_dim=Z_DIM)}
    try:
        from .vae_net import build_vae
        out["sprites-vae"] = build_vae
    except ImportError:
        pass
    try:
        from .features_net import build_features
        out["sprites-features"] = build_features
    except ImportError:
        pass
    return out


def generative() -> dict[str, str]:
    """The shipped zoo models that ``latentwidgets.load`` turns into generators (``available`` minus
    :data:`AUXILIARY`)."""
    return {k: v for k, v in available().items() if k not in AUXILIARY}


def available() -> dict[str, str]:
    """Names of the embedded models whose weights ship with this install, with a description."""
    buildable = set(_builders()) | set(WEIGHTS_ONLY)
    return {k: v for k, v in _DESCRIPTIONS.items() if (WEIGHTS_DIR / f"{k}.safetensors").exists()
            and k in buildable}


def weights_path(name: str) -> Path:
    """The shipped safetensors file of zoo model ``name`` (``zoo.weights_path("sprites-vae")``); an
    unknown name or missing file says which names exist or the recipe that makes the file."""
    if name not in _DESCRIPTIONS:
        raise KeyError(f"unknown zoo model {name!r}; available: {sorted(available())}")
    path = WEIGHTS_DIR / f"{name}.safetensors"
    if not path.exists():
        raise FileNotFoundError(f"the weights of {name!r} are not in this install ({path}); "
                                f"train them with: {RECIPES[name]}")
    return path


def build(name: str, untrained: bool = False) -> nn.Module:
    """The raw network of zoo model ``name`` with its shipped weights (random init if ``untrained``)."""
    from .._checkpoint import load_modules

    builders = _builders()
    if name in WEIGHTS_ONLY:
        raise KeyError(f"zoo.build does not build {name!r}: {_DESCRIPTIONS[name]}")
    if name not in builders:
        raise KeyError(f"unknown zoo model {name!r}; available: {sorted(available())}")
    net = builders[name]()
    if not untrained:
        load_modules(weights_path(name), {"g": net})
    net.eval()
    return net
