"""The tiny style-based generator behind ``sprites-style``.

StyleGAN2's layout at toy scale: a mapping MLP z -> w, a learned constant 4x4 input, weight-
demodulated ("modulated") 3x3 convolutions whose per-input-channel scales come from affine style
layers reading w, and skip-connected toRGB outputs at every resolution. Each modulated layer reads
its own per-layer latent, so ``synthesis`` takes ``ws`` of shape ``[B, num_ws, w_dim]``::

    net = StyleGenerator()
    ws = net.mapping(torch.randn(4, net.z_dim)).unsqueeze(1).repeat(1, net.num_ws, 1)
    images = net.synthesis(ws)        # [4, 3, 64, 64], roughly in [0, 1]

The output is composited, as the sprites world is: the skip-connected toRGB layers sum to a
coverage logit map ``a``, a colour head reads the last per-layer latent and gives an object and a
background colour, and ``image = sigmoid(a) * object + (1 - sigmoid(a)) * background``. Geometry
thus lives in the coarse and middle latents and colour in the finest one.

An input transform (as in StyleGAN3) reads the first per-layer latent and moves, turns and scales a
coordinate frame; its coordinate channels (a small bank of generic features of the frame: u, v,
their squares and product, |u|, |v|, and the L1 and L-infinity norms) join the input of every
convolution, which makes placing an object at a precise position, and giving it straight or curved
edges, cheap for such a small net. No noise inputs: sprites have
no stochastic detail.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from itertools import pairwise

import torch
import torch.nn as nn
import torch.nn.functional as F


class MappingNetwork(nn.Module):
    """MLP z -> w. Unlike StyleGAN, z is *not* normalised to unit length first: the norm of a
    Gaussian latent carries information (here the teacher uses it), and normalising threw it away
    (measured: x position stuck at 3 px error with it, falling below 1.2 px without it)."""

    def __init__(self, z_dim: int, w_dim: int, hidden: int = 128, depth: int = 4):
        super().__init__()
        dims = [z_dim] + [hidden] * (depth - 1) + [w_dim]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(dims))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = z
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.leaky_relu(x, 0.2)
        return x


class ModulatedConv(nn.Module):
    """3x3 convolution modulated by a style: ``affine`` (w -> per-input-channel scale) is the layer
    that closed-form factorisation reads. Demodulation normalises each output channel."""

    def __init__(self, c_in: int, c_out: int, w_dim: int, coords: bool = True, kernel: int = 3,
                 demodulate: bool = True, activate: bool = True):
        super().__init__()
        self.coords = coords
        c_total = c_in + (FrameHead.CHANNELS if coords else 0)
        self.affine = nn.Linear(w_dim, c_total)
        nn.init.zeros_(self.affine.weight)
        nn.init.ones_(self.affine.bias)
        self.weight = nn.Parameter(torch.randn(c_out, c_total, kernel, kernel) / math.sqrt(c_total * kernel * kernel))
        self.bias = nn.Parameter(torch.zeros(c_out))
        self.demodulate, self.activate, self.padding = demodulate, activate, kernel // 2

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints from before the coordinate bank grew (5 -> 9 channels) load with the new
        # input channels switched off: zero weights, unit style, so the function is unchanged
        w, a_w, a_b = prefix + "weight", prefix + "affine.weight", prefix + "affine.bias"
        if w in state_dict and state_dict[w].shape[1] < self.weight.shape[1]:
            extra = self.weight.shape[1] - state_dict[w].shape[1]
            old = state_dict[w]
            state_dict[w] = torch.cat([old, old.new_zeros(old.shape[0], extra, *old.shape[2:])], 1)
            a_old = state_dict[a_w]
            state_dict[a_w] = torch.cat([a_old, a_old.new_zeros(extra, a_old.shape[1])], 0)
            state_dict[a_b] = torch.cat([state_dict[a_b], state_dict[a_b].new_ones(extra)], 0)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: torch.Tensor, w: torch.Tensor, coords: torch.Tensor | None = None) -> torch.Tensor:
        if self.coords:
            if coords is None:
                raise ValueError("this layer reads coordinate channels: pass coords=")
            x = torch.cat([x, coords], dim=1)
        style = self.affine(w)  # [B, C_in]
        out = F.conv2d(x * style[:, :, None, None], self.weight, padding=self.padding)
        if self.demodulate:
            # equivalent to demodulating the per-sample weight, without a grouped convolution
            wsq = self.weight.pow(2).sum(dim=(2, 3))  # [C_out, C_in]
            d = torch.rsqrt(style.pow(2) @ wsq.t() + 1e-8)  # [B, C_out]
            out = out * d[:, :, None, None]
        out = out + self.bias.view(1, -1, 1, 1)
        return F.leaky_relu(out, 0.2) * math.sqrt(2) if self.activate else out


class FrameHead(nn.Module):
    """The input transform (as StyleGAN3's input layer): from the first per-layer latent, a
    translation, rotation and scale of the coordinate frame that every convolution reads.
    ``grid(res)`` gives ``[B, 9, res, res]``: transformed pixel-centre coordinates u, v, then
    u^2, v^2, uv (conic edges are linear in these), |u|, |v|, |u| + |v| and max(|u|, |v|) (straight
    edges, turned by the frame). Placing, turning and sizing an object is then cheap for a tiny net."""

    CHANNELS = 9

    def __init__(self, w_dim: int):
        super().__init__()
        self.affine = nn.Linear(w_dim, 5)  # tx, ty, a, b (angle as (1 + a, b)), log scale
        nn.init.zeros_(self.affine.weight)
        nn.init.zeros_(self.affine.bias)

    def forward(self, w: torch.Tensor):
        p = self.affine(w)
        t = p[:, 0:2]
        cs = torch.stack([1 + p[:, 2], p[:, 3]], 1)
        cs = cs / cs.norm(dim=1, keepdim=True).clamp(min=1e-6)
        return t, cs, torch.exp(-p[:, 4].clamp(-3, 3))

    @staticmethod
    def grid(frame, res: int) -> torch.Tensor:
        t, cs, inv_scale = frame
        b = t.shape[0]
        g = (torch.arange(res, device=t.device, dtype=t.dtype) + 0.5) / res * 2 - 1
        ys, xs = g.view(1, res, 1), g.view(1, 1, res)
        dx, dy = xs - t[:, 0].view(b, 1, 1), ys - t[:, 1].view(b, 1, 1)
        c, s = cs[:, 0].view(b, 1, 1), cs[:, 1].view(b, 1, 1)
        k = inv_scale.view(b, 1, 1)
        u, v = (c * dx + s * dy) * k, (-s * dx + c * dy) * k
        au, av = u.abs(), v.abs()
        return torch.stack([u, v, u * u, v * v, u * v, au, av, au + av, torch.maximum(au, av)], dim=1)


class ColorHead(nn.Module):
    """Object and background colours from the last per-layer latent (the finest style input)."""

    def __init__(self, w_dim: int, hidden: int = 64):
        super().__init__()
        self.affine = nn.Linear(w_dim, hidden)
        self.out = nn.Linear(hidden, 6)

    def forward(self, w: torch.Tensor):
        rgb = torch.sigmoid(self.out(F.leaky_relu(self.affine(w), 0.2)))
        return rgb[:, :3], rgb[:, 3:]


class SynthesisNetwork(nn.Module):
    """Constant 4x4 -> 64x64 RGB (composited, see module doc). Layer ``i`` of ``ws`` feeds conv ``i``; toRGB
    outputs read the latent of the next block's first conv, as in StyleGAN2, so ``num_ws = len(convs) + 1``."""

    def __init__(self, w_dim: int, channels: Sequence[int] = (64, 64, 48, 32, 24), start: int = 4):
        super().__init__()
        self.channels = list(channels)
        self.const = nn.Parameter(torch.randn(1, channels[0], start, start))
        convs: list[ModulatedConv] = [ModulatedConv(channels[0], channels[0], w_dim)]
        torgb: list[ModulatedConv] = [ModulatedConv(channels[0], 1, w_dim, coords=False, kernel=1,
                                                    demodulate=False, activate=False)]
        for c_prev, c in pairwise(channels):
            convs += [ModulatedConv(c_prev, c, w_dim), ModulatedConv(c, c, w_dim)]
            torgb.append(ModulatedConv(c, 1, w_dim, coords=False, kernel=1, demodulate=False, activate=False))
        self.convs, self.torgb = nn.ModuleList(convs), nn.ModuleList(torgb)
        self.colors = ColorHead(w_dim)
        self.frame = FrameHead(w_dim)
        self.num_ws = len(convs) + 1
        self.resolution = start * 2 ** (len(channels) - 1)
        # log of a gain on the coverage logit: edges one pixel wide need logit slopes that the
        # demodulated convolutions reach only slowly; exp() lets training sharpen them in few steps
        self.log_edge_gain = nn.Parameter(torch.zeros(()))
        # sampling-time sharpness (1 while training): a pixel loss makes the net hedge where it is
        # unsure of an edge, so edges come out wider than the world's; the shipped weights carry a
        # factor calibrated so that sample edges are as wide as real ones (train_style.calibrate_sharpness)
        self.register_buffer("edge_sharpness", torch.ones(()))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        state_dict.setdefault(prefix + "log_edge_gain", torch.zeros(()))  # checkpoints from before the gain
        state_dict.setdefault(prefix + "edge_sharpness", torch.ones(()))  # ... and before calibration
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def layer_names(self) -> list[str]:
        """Hookable block outputs, coarse to fine (``b4`` .. ``b64``): the feature maps after each block."""
        return [f"b{4 * 2 ** i}" for i in range(len(self.channels))]

    def forward(self, ws: torch.Tensor, return_features: bool = False, return_logit: bool = False):
        x = self.const.expand(ws.shape[0], -1, -1, -1)
        frame = self.frame(ws[:, 0])
        x = self.convs[0](x, ws[:, 0], FrameHead.grid(frame, x.shape[-1]))
        logit = self.torgb[0](x, ws[:, 1])
        feats = [x]
        for i in range(1, len(self.channels)):
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            grid = FrameHead.grid(frame, x.shape[-1])
            x = self.convs[2 * i - 1](x, ws[:, 2 * i - 1], grid)
            x = self.convs[2 * i](x, ws[:, 2 * i], grid)
            logit = F.interpolate(logit, scale_factor=2, mode="bilinear", align_corners=False)
            logit = logit + self.torgb[i](x, ws[:, 2 * i + 1])
            feats.append(x)
        obj, bg = self.colors(ws[:, -1])
        logit = (logit - 2.0) * self.log_edge_gain.exp() * self.edge_sharpness
        alpha = torch.sigmoid(logit)
        img = alpha * obj[:, :, None, None] + (1 - alpha) * bg[:, :, None, None]
        if return_logit:
            return img, logit
        return (img, feats) if return_features else img

    def style_affines(self) -> list[list[nn.Linear]]:
        """For each latent index i, the affine layers that read ``ws[:, i]`` (a conv, and for odd i
        also the toRGB that shares it; index 0 also feeds the input transform, the last index the
        final toRGB and the colour head)."""
        out: list[list[nn.Linear]] = [[c.affine] for c in self.convs] + [[]]
        for i, t in enumerate(self.torgb):
            out[2 * i + 1].append(t.affine)
        out[-1].append(self.colors.affine)
        out[0].append(self.frame.affine)
        return out


class StyleGenerator(nn.Module):
    """Mapping + synthesis; ``forward(z)`` gives images ``[B, 3, 64, 64]`` (clamped to [0, 1])."""

    def __init__(self, z_dim: int = 16, w_dim: int = 32, channels: Sequence[int] = (64, 64, 48, 32, 24)):
        super().__init__()
        self.z_dim, self.w_dim = z_dim, w_dim
        self.mapping = MappingNetwork(z_dim, w_dim)
        self.synthesis = SynthesisNetwork(w_dim, channels)
        self.num_ws = self.synthesis.num_ws
        self.resolution = self.synthesis.resolution
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        w = self.mapping(z)
        return self.synthesis(w.unsqueeze(1).expand(-1, self.num_ws, -1)).clamp(0, 1)
