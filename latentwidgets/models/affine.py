"""Effective ``nn.Linear`` copies of the scaled style layers of other code bases.

NVlabs' ``FullyConnectedLayer`` and rosinality's ``EqualLinear`` keep an unscaled weight and multiply
it by a gain at run time, so their ``.weight`` is not the map they apply. Closed-form factorisation
reads ``style_affines()``; it gets ``nn.Linear`` modules holding the weights actually applied::

    lin = effective_linear(layer.weight, layer.bias, weight_gain=layer.weight_gain)
    torch.allclose(lin(w), layer(w))   # for layers without an activation
"""

from __future__ import annotations

import torch
import torch.nn as nn


@torch.no_grad()
def effective_linear(weight: torch.Tensor, bias: torch.Tensor | None, weight_gain: float = 1.0,
                     bias_gain: float = 1.0) -> nn.Linear:
    """A frozen ``nn.Linear`` with weight ``weight * weight_gain`` and bias ``bias * bias_gain``.

    Example: ``effective_linear(torch.randn(8, 4), None, weight_gain=0.5)``
    """
    out_dim, in_dim = weight.shape
    lin = nn.Linear(in_dim, out_dim, bias=bias is not None, device=weight.device, dtype=weight.dtype)
    lin.weight.copy_(weight * weight_gain)
    if bias is not None:
        lin.bias.copy_(bias * bias_gain)
    lin.requires_grad_(False)
    return lin
