"""Adapter for the zoo's style-based generator (``sprites-style``, :mod:`latentwidgets.zoo.style_net`).

    model = ZooStyleModel(zoo.build("sprites-style"))
    model.layers()        # ['b4', 'b8', 'b16', 'b32', 'b64']: block outputs, coarse to fine
"""

from __future__ import annotations

import torch
import torch.nn as nn

from ..zoo.style_net import StyleGenerator
from .base import LatentModel


class ZooStyleModel(LatentModel):
    """The zoo's style-based generator behind the ``LatentModel`` protocol: mapping z -> w, one w per layer.

        model = ZooStyleModel(zoo.build("sprites-style"))     # what latentwidgets.load("sprites-style") returns
    """

    has_mapping = True

    def __init__(self, net: StyleGenerator, name: str = "sprites-style"):
        super().__init__(net)
        self.net = net
        self.name = name
        self.z_dim, self.w_dim = net.z_dim, net.w_dim
        self.num_layers = net.num_ws
        self.resolution = net.resolution

    def _map(self, z: torch.Tensor) -> torch.Tensor:
        return self.net.mapping(z)

    def w_avg(self) -> torch.Tensor:
        return self.net.w_avg.to(self.device)

    def _synthesize(self, latents: torch.Tensor) -> torch.Tensor:
        return self.net.synthesis(latents)

    def _hook_modules(self) -> dict[str, nn.Module]:
        syn = self.net.synthesis
        names = syn.layer_names()
        return {names[0]: syn.convs[0], **{names[i]: syn.convs[2 * i] for i in range(1, len(names))}}

    def style_affines(self) -> list[list[nn.Linear]]:
        return self.net.synthesis.style_affines()
