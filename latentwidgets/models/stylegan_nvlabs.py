"""Adapter for NVlabs StyleGAN2-ADA / StyleGAN3 generators (objects with ``mapping``, ``synthesis``,
``num_ws``, ``z_dim``, ``c_dim``, ``w_dim``, ``img_resolution``), and the opt-in loader of their pickles.

    G = load_nvlabs_pickle("ffhq.pkl", trust=True, code_dir="path/to/stylegan2-ada-pytorch")
    model = NVlabsStyleGAN(G)      # z (z_dim), w and w+ ([B, num_ws, w_dim]) spaces
    model.layers()                 # ['b4', 'b8', ..., 'b1024']: each block's last conv, before toRGB
    model.style_affines()[i]       # the affine layers reading ws[:, i], as effective nn.Linear

Synthesis uses constant noise (``noise_mode='const'``) so a latent always gives the same image.
Truncation pulls w towards ``G.mapping.w_avg``. Class-conditional generators (``c_dim > 0``) take
their class from ``model.set_class(...)`` or, one class per sample, ``model.using_classes(labels)``
(see :mod:`.conditional`). The class enters through the mapping network: it conditions
``to_synthesis(z)`` (and ``generate``), while ``synthesize(w)`` draws whatever class ``w`` was mapped with.

This module contains no NVlabs code: it drives the object the user brings. Loading a pickle
executes code stored in it, hence ``trust=True``.
"""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from .affine import effective_linear
from .base import LatentModel
from .conditional import ClassConditional
from .files import trusted

_REQUIRED = ("mapping", "synthesis", "num_ws", "z_dim", "c_dim", "w_dim", "img_resolution")


def is_nvlabs_generator(obj: Any) -> bool:
    """True when ``obj`` looks like an NVlabs StyleGAN2-ADA / StyleGAN3 generator."""
    return isinstance(obj, nn.Module) and all(hasattr(obj, a) for a in _REQUIRED)


def _fc(layer: nn.Module, extra_gain: float = 1.0) -> nn.Linear:
    """NVlabs ``FullyConnectedLayer`` -> the linear map it applies (times ``extra_gain``)."""
    wg = float(getattr(layer, "weight_gain", 1.0)) * extra_gain
    bg = float(getattr(layer, "bias_gain", 1.0)) * extra_gain
    return effective_linear(layer.weight, getattr(layer, "bias", None), wg, bg)


class NVlabsStyleGAN(ClassConditional, LatentModel):
    """:class:`LatentModel` over an NVlabs generator ``G`` (see the module docstring).

    Example: ``model = NVlabsStyleGAN(G); img = model.generate(model.sample_z(4, seed=0))``
    """

    has_mapping = True

    def __init__(self, G: nn.Module, name: str = "stylegan-nvlabs", noise_mode: str = "const",
                 class_label: Any | None = None):
        missing = [a for a in _REQUIRED if not hasattr(G, a)]
        if missing:
            raise TypeError(f"{type(G).__name__} is not an NVlabs StyleGAN generator: it lacks {missing} "
                            f"(expected attributes: {list(_REQUIRED)})")
        if noise_mode not in ("const", "random", "none"):
            raise ValueError(f"noise_mode must be 'const', 'random' or 'none'; got {noise_mode!r}")
        super().__init__(G)
        self.G = G
        self.name = name
        self.noise_mode = noise_mode
        self.z_dim, self.w_dim = int(G.z_dim), int(G.w_dim)
        self.num_layers = int(G.num_ws)
        self.resolution = int(G.img_resolution)
        self.num_classes = int(G.c_dim)
        self.stylegan3 = hasattr(G.synthesis, "layer_names")
        if self.num_classes and class_label is not None:
            self.set_class(class_label)

    # ------------------------------------------------------------------ mapping and synthesis
    def _c(self, batch: int) -> torch.Tensor | None:
        if not self.num_classes:
            return None
        return self._class_batch(batch, self.device)

    def _map(self, z: torch.Tensor) -> torch.Tensor:
        ws = self.G.mapping(z.to(self.device), self._c(z.shape[0]), truncation_psi=1)
        return ws[:, 0]

    def w_avg(self) -> torch.Tensor:
        avg = getattr(self.G.mapping, "w_avg", None)
        if avg is None:
            return super().w_avg()
        return avg.to(self.device).float()

    def _synthesize(self, latents: torch.Tensor) -> torch.Tensor:
        img = self.G.synthesis(latents, noise_mode=self.noise_mode)
        return (img.float() + 1) / 2

    # ------------------------------------------------------------------ layers
    def _blocks(self) -> list[nn.Module]:
        syn = self.G.synthesis
        return [getattr(syn, f"b{res}") for res in syn.block_resolutions]

    def _hook_modules(self) -> dict[str, nn.Module]:
        syn = self.G.synthesis
        if self.stylegan3:
            return {name: getattr(syn, name) for name in syn.layer_names}
        # the last conv of each block: equal to the block's feature output for 'skip'/'orig'
        # architectures, and read by the block's own toRGB, so an offset there shows in the image
        return {f"b{res}": getattr(syn, f"b{res}").conv1 for res in syn.block_resolutions}

    def style_affines(self) -> list[list[nn.Linear]]:
        """For each ws index, the affine layers reading it (effective ``nn.Linear`` copies)."""
        out: list[list[nn.Linear]] = [[] for _ in range(self.num_layers)]
        syn = self.G.synthesis
        if self.stylegan3:
            out[0].append(_fc(syn.input.affine))
            for i, name in enumerate(syn.layer_names, start=1):
                layer = getattr(syn, name)
                gain = float(layer.weight_gain) if getattr(layer, "is_torgb", False) else 1.0
                out[i].append(_fc(layer.affine, gain))
            return out
        w_idx = 0
        for block in self._blocks():
            k = w_idx
            for conv in ("conv0", "conv1"):
                if hasattr(block, conv):
                    out[k].append(_fc(getattr(block, conv).affine))
                    k += 1
            if hasattr(block, "torgb"):
                out[k].append(_fc(block.torgb.affine, float(block.torgb.weight_gain)))
            w_idx += block.num_conv
        return out


def load_nvlabs_pickle(path: str | os.PathLike, trust: bool = False, key: str = "G_ema",
                       code_dir: str | os.PathLike | None = None) -> nn.Module:
    """The generator ``key`` (default ``G_ema``) of an NVlabs network pickle.

    Unpickling runs code stored in the file, so this refuses unless ``trust=True``: pass it only for
    files from a source you trust. The pickle refers to NVlabs' ``torch_utils`` and ``dnnlib``
    modules; ``code_dir`` (a folder holding them, e.g. a clone of stylegan2-ada-pytorch) is put on
    ``sys.path`` when given. Their ``legacy.load_network_pkl`` is used when importable.

    Example: ``G = load_nvlabs_pickle("ffhq.pkl", trust=True, code_dir="stylegan2-ada-pytorch")``
    """
    path = Path(path)
    if not trusted(trust):
        raise PermissionError(
            f"{path.name} is a pickle: loading it executes code stored in the file. Pass trust=True "
            "only if you trust its source (e.g. latentwidgets.load(path, trust=True)).")
    if not path.exists():
        raise FileNotFoundError(path)
    if code_dir is not None:
        code_dir = str(Path(code_dir).resolve())
        if code_dir not in sys.path:
            sys.path.insert(0, code_dir)
    try:
        import legacy  # type: ignore  # NVlabs' loader, from code_dir or the user's path
        loader = getattr(legacy, "load_network_pkl", None)
    except ImportError:
        loader = None
    try:
        with open(path, "rb") as f:
            data = loader(f) if loader is not None else pickle.load(f)
    except ModuleNotFoundError as e:
        raise ModuleNotFoundError(
            f"unpickling {path.name} needs NVlabs' code ({e.name!r} is missing): pass code_dir= a folder "
            "holding torch_utils/ and dnnlib/ (a clone of stylegan2-ada-pytorch or stylegan3)") from e
    if isinstance(data, dict):
        if key not in data:
            raise KeyError(f"{path.name} holds {sorted(data)}; choose one with key=...")
        G = data[key]
    else:
        G = data
    if not is_nvlabs_generator(G):
        raise TypeError(f"{path.name}[{key!r}] is a {type(G).__name__}, not an NVlabs generator")
    return G.eval().requires_grad_(False)
