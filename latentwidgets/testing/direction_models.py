"""Small synthetic models for the tests (directions, widgets): known structure, milliseconds to run."""

from __future__ import annotations

import torch
import torch.nn as nn

from latentwidgets.models.base import LatentModel
from latentwidgets.models.decoder import DecoderModel
from latentwidgets.models.zoo_style import ZooStyleModel
from latentwidgets.zoo.style_net import StyleGenerator


def orthogonal(d: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    q, r = torch.linalg.qr(torch.randn(d, d, generator=g, dtype=torch.float64))
    return (q * torch.sign(torch.diagonal(r))).float()


class PlantedMapping(nn.Module):
    """w = (z * scales) Q^T + offset: w's covariance has eigenvectors Q[:, i] with std scales[i]."""

    def __init__(self, scales, seed: int = 0):
        super().__init__()
        d = len(scales)
        self.register_buffer("scales", torch.tensor(scales, dtype=torch.float32))
        self.register_buffer("q", orthogonal(d, seed))
        self.register_buffer("offset", torch.linspace(-1, 1, d))
        self.head = nn.Linear(d, 3 * 4 * 4)

    def forward(self, z):
        return (z * self.scales) @ self.q.t() + self.offset


class PlantedModel(LatentModel):
    """A 'style-based' model whose w has a planted dominant axis ``q[:, axis]``."""

    has_mapping = True

    def __init__(self, scales=(1.0, 1.0, 5.0, 1.0, 1.0, 1.0), seed: int = 0):
        net = PlantedMapping(scales, seed)
        super().__init__(net)
        self.net = net
        self.name = "planted"
        self.z_dim = self.w_dim = len(scales)
        self.num_layers = 1
        self.resolution = 4

    def _map(self, z):
        return self.net(z)

    def _synthesize(self, latents):
        return torch.sigmoid(self.net.head(latents[:, 0])).view(-1, 3, 4, 4)

    def _hook_modules(self):
        return {"head": self.net.head}


def planted_decoder(z_dim: int = 5, strong_axis: int = 1, gain: float = 10.0) -> DecoderModel:
    """A decoder z -> Linear 'fc' (z axis ``strong_axis`` amplified) -> 3x4x4 image, no mapping."""
    g = torch.Generator().manual_seed(3)
    fc = nn.Linear(z_dim, 24)
    with torch.no_grad():
        w = torch.randn(24, z_dim, generator=g) * 0.1
        w[:, strong_axis] = torch.randn(24, generator=g) * gain / 24 ** 0.5
        fc.weight.copy_(w)
        fc.bias.zero_()
    out = nn.Linear(24, 48)
    net = nn.Sequential()
    net.add_module("fc", fc)
    net.add_module("act", nn.Tanh())
    net.add_module("out", out)
    net.add_module("img", nn.Sigmoid())
    net.add_module("shape", nn.Unflatten(1, (3, 4, 4)))
    return DecoderModel(net, z_dim=z_dim, name="planted-decoder", output_range=(0.0, 1.0))


def plain_decoder_net(z_dim: int = 4, resolution: int = 4) -> nn.Module:
    """A plain generator, z ``[B, z_dim]`` -> Linear ``fc`` -> sigmoid images ``[B, 3, r, r]``: no mapping
    network, no truncation setting (``lw.load(plain_decoder_net())``)."""
    net = nn.Sequential()
    net.add_module("fc", nn.Linear(z_dim, 3 * resolution * resolution))
    net.add_module("img", nn.Sigmoid())
    net.add_module("shape", nn.Unflatten(1, (3, resolution, resolution)))
    return net


class OwnTruncationDecoder(DecoderModel):
    """A plain decoder that keeps its own ``truncation`` setting, as BigGAN does: it scales the sampled
    noise (``sample_z``); no mapping network."""

    def __init__(self, z_dim: int = 4, resolution: int = 4, truncation: float = 0.4):
        torch.manual_seed(0)
        self.truncation = truncation
        super().__init__(plain_decoder_net(z_dim, resolution), z_dim=z_dim, output_range=(0.0, 1.0),
                         name="own-truncation")

    def sample_z(self, n: int, seed: int = 0) -> torch.Tensor:
        return super().sample_z(n, seed) * self.truncation


def tiny_style(seed: int = 0) -> ZooStyleModel:
    """A random-init style generator at 16 px with non-zero style affines (so weights carry structure)."""
    torch.manual_seed(seed)
    net = StyleGenerator(z_dim=8, w_dim=8, channels=(16, 12, 8))
    with torch.no_grad():
        for group in net.synthesis.style_affines():
            for lin in group:
                lin.weight.normal_(0, 0.5)
    return ZooStyleModel(net.eval(), name="tiny-style")


def one_thread():
    """Generator for a module-scoped autouse fixture: these tiny models run fastest on one thread
    (on a loaded 2-core machine, two threads made convolutions many times slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
