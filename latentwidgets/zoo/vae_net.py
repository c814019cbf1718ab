"""The network of ``sprites-vae``: a small convolutional beta-VAE for 64x64 sprites scenes.

Encoder: four stride-2 convs (64 -> 4 px) and two dense layers to the posterior mean and log
variance. Decoder: the mirror image, ending in a sigmoid so images are in [0, 1]::

    from latentwidgets.zoo.vae_net import build_vae
    vae = build_vae()                  # z_dim 10
    mu, logvar = vae.encode(images)    # images [B, 3, 64, 64] in [0, 1]
    recon = vae.decoder(mu)            # [B, 3, 64, 64] in [0, 1]

``latentwidgets.load("sprites-vae")`` wraps ``vae.decoder`` as a :class:`DecoderModel`.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn

Z_DIM = 10
CHANNELS = (32, 32, 64, 64)
HIDDEN = 256


class VAEDecoder(nn.Module):
    """z ``[B, z_dim]`` -> image ``[B, 3, 64, 64]`` in [0, 1]."""

    def __init__(self, z_dim: int = Z_DIM, channels: tuple[int, ...] = CHANNELS, hidden: int = HIDDEN):
        super().__init__()
        self.z_dim = z_dim
        c = list(channels)[::-1]  # 64, 64, 32, 32
        self.fc = nn.Sequential(OrderedDict([
            ("fc1", nn.Linear(z_dim, hidden)), ("act1", nn.ReLU()),
            ("fc2", nn.Linear(hidden, c[0] * 4 * 4)), ("act2", nn.ReLU()),
        ]))
        self.c0 = c[0]
        ups = OrderedDict()
        chans = c + [3]
        for i in range(4):  # 4 -> 8 -> 16 -> 32 -> 64
            ups[f"up{8 << i}"] = nn.ConvTranspose2d(chans[i], chans[i + 1], 4, 2, 1)
            if i < 3:
                ups[f"act{8 << i}"] = nn.ReLU()
        self.ups = nn.Sequential(ups)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(z))

    def logits(self, z: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid output (what the Bernoulli likelihood of training reads)."""
        h = self.fc(z).view(z.shape[0], self.c0, 4, 4)
        return self.ups(h)


class VAEEncoder(nn.Module):
    """image ``[B, 3, 64, 64]`` in [0, 1] -> ``[B, 2 * z_dim]`` (posterior mean, then log variance)."""

    def __init__(self, z_dim: int = Z_DIM, channels: tuple[int, ...] = CHANNELS, hidden: int = HIDDEN):
        super().__init__()
        layers = []
        prev = 3
        for ch in channels:
            layers += [nn.Conv2d(prev, ch, 4, 2, 1), nn.ReLU()]
            prev = ch
        self.convs = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(prev * 4 * 4, hidden), nn.ReLU(),
                                  nn.Linear(hidden, 2 * z_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.convs(x))


class SpritesVAE(nn.Module):
    """beta-VAE with ``.encoder``, ``.decoder``, ``.z_dim`` and :meth:`encode`."""

    def __init__(self, z_dim: int = Z_DIM):
        super().__init__()
        self.z_dim = z_dim
        self.encoder = VAEEncoder(z_dim)
        self.decoder = VAEDecoder(z_dim)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior ``(mu, logvar)``, each ``[B, z_dim]``, of images ``[B, 3, 64, 64]`` in [0, 1]."""
        if x.dim() != 4 or tuple(x.shape[1:]) != (3, 64, 64):
            raise ValueError(f"encode() expects images [B, 3, 64, 64] in [0, 1]; got {tuple(x.shape)}")
        h = self.encoder(x)
        return h[:, :self.z_dim], h[:, self.z_dim:].clamp(-12, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction from the posterior mean."""
        return self.decoder(self.encode(x)[0])


def build_vae(z_dim: int = Z_DIM) -> SpritesVAE:
    """The ``sprites-vae`` architecture at random init (``zoo.build('sprites-vae')`` loads weights).

    >>> vae = build_vae(); vae.decoder(torch.zeros(2, vae.z_dim)).shape
    torch.Size([2, 3, 64, 64])
    """
    return SpritesVAE(z_dim)
