"""Tiny random-init configurations of the real third-party generators the adapters support.

Shared by ``tests/test_adapters.py`` and ``benchmarks/adapters.py``. Each builder returns
``(adapter, raw)`` where ``raw(latents [B, D])`` runs the third-party model itself the way its own
code is meant to be called, for the same latent, and returns its image mapped to [0, 1] (clamped), so
tests compare the adapter against it and the benchmark measures the adapter's overhead.

The optional packages are test-only dependencies (``scripts/install_models_extra.sh``); a builder
raises ``ImportError`` when its package is absent. NVlabs' and rosinality's code come from the
``draggan`` wheel (NVlabs' code is non-commercial: it is never copied into latentwidgets).
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn as nn

os.environ.setdefault("HF_HUB_OFFLINE", "1")

Raw = Callable[[torch.Tensor], torch.Tensor]


def _unit(img: torch.Tensor) -> torch.Tensor:
    return ((img.float() + 1) / 2).clamp(0, 1)


def nvlabs_code_dir() -> Path:
    """draggan's copy of NVlabs' StyleGAN2-ADA code, put on sys.path (torch_utils, dnnlib, legacy)."""
    import draggan

    path = Path(draggan.__file__).parent / "stylegan2"
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))
    return path


def nvlabs_networks(c_dim: int = 0, seed: int = 0) -> tuple[nn.Module, nn.Module]:
    """A random-init NVlabs StyleGAN2-ADA G (64 px, channel_base 256, 10 ws of dim 32) and a tiny D."""
    nvlabs_code_dir()
    from training.networks import Discriminator, Generator  # type: ignore

    torch.manual_seed(seed)
    G = Generator(z_dim=32, c_dim=c_dim, w_dim=32, img_resolution=64, img_channels=3,
                  mapping_kwargs=dict(num_layers=2),
                  synthesis_kwargs=dict(channel_base=256, channel_max=32, num_fp16_res=0))
    with torch.no_grad():  # a non-trivial w_avg, as a trained G has
        G.mapping.w_avg.copy_(torch.randn(G.w_dim) * 0.1)
    D = Discriminator(c_dim=c_dim, img_resolution=64, img_channels=3, channel_base=256, channel_max=32,
                      num_fp16_res=0)
    return G.eval().requires_grad_(False), D.eval().requires_grad_(False)


def build_nvlabs(c_dim: int = 0) -> tuple[object, Raw]:
    from latentwidgets.models.stylegan_nvlabs import NVlabsStyleGAN

    G, _ = nvlabs_networks(c_dim)
    model = NVlabsStyleGAN(G, name="nvlabs-tiny")

    def raw(w: torch.Tensor) -> torch.Tensor:
        ws = w.unsqueeze(1).repeat(1, G.num_ws, 1)
        return _unit(G.synthesis(ws, noise_mode="const"))

    return model, raw


def rosinality_class() -> type:
    """rosinality's Generator (draggan's copy, CPU fallbacks) with small channel counts for tests
    (its channel table is fixed at 512 up to 32 px, too big for a CPU test)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from draggan.deprecated.stylegan2.model import Generator

    class SmallGenerator(Generator):
        channels = property(lambda self: {4: 32, 8: 32, 16: 16, 32: 16, 64: 8},
                            lambda self, value: None)

    return SmallGenerator


def build_rosinality() -> tuple[object, Raw]:
    from latentwidgets.models.stylegan_rosinality import RosinalityStyleGAN

    torch.manual_seed(0)
    g = rosinality_class()(32, 32, 2).eval().requires_grad_(False)
    model = RosinalityStyleGAN(g, name="rosinality-tiny")

    def raw(w: torch.Tensor) -> torch.Tensor:
        img, _ = g([w], input_is_latent=True, randomize_noise=False)
        return _unit(img)

    return model, raw


def biggan_net(seed: int = 0) -> nn.Module:
    """A random-init BigGAN-deep (32 px, channel_width 16, 10 classes, 5 blocks + attention)."""
    from pytorch_pretrained_biggan import BigGAN, BigGANConfig

    torch.manual_seed(seed)
    cfg = BigGANConfig(output_dim=32, z_dim=32, class_embed_dim=32, channel_width=16, num_classes=10,
                       layers=[(False, 16, 16), (True, 16, 8), (True, 8, 4), (True, 4, 2), (False, 2, 1)],
                       attention_layer_position=3)
    net = BigGAN(cfg)
    with torch.no_grad():
        nn.init.ones_(net.generator.bn.weight)  # left uninitialised (torch.Tensor(n)) by the package
        nn.init.zeros_(net.generator.bn.bias)
        net.train()  # spectral norm only runs its power iteration in training mode
        for _ in range(5):
            net(torch.zeros(1, cfg.z_dim), torch.eye(cfg.num_classes)[:1], 1.0)
    return net.eval().requires_grad_(False)


def build_biggan() -> tuple[object, Raw]:
    from latentwidgets.models.biggan import BigGANModel

    net = biggan_net()
    model = BigGANModel(net, truncation=0.5, class_label=3, name="biggan-tiny")

    def raw(z: torch.Tensor) -> torch.Tensor:
        label = torch.zeros(z.shape[0], net.config.num_classes)
        label[:, 3] = 1
        return _unit(net(z, label, 0.5))

    return model, raw


def diffusers_vae(kind: str, seed: int = 0) -> nn.Module:
    import diffusers

    torch.manual_seed(seed)
    small = dict(block_out_channels=(8, 16), down_block_types=("DownEncoderBlock2D",) * 2,
                 up_block_types=("UpDecoderBlock2D",) * 2, layers_per_block=1, norm_num_groups=4,
                 sample_size=32)
    if kind == "AutoencoderKL":
        vae = diffusers.AutoencoderKL(latent_channels=4, scaling_factor=0.5, **small)
    elif kind == "VQModel":
        vae = diffusers.VQModel(latent_channels=3, num_vq_embeddings=32, vq_embed_dim=3, **small)
    else:
        vae = diffusers.AutoencoderTiny(encoder_block_out_channels=(8,) * 4, decoder_block_out_channels=(8,) * 4,
                                        num_encoder_blocks=(1,) * 4, num_decoder_blocks=(1,) * 4)
    return vae.eval().requires_grad_(False)


def build_diffusers(kind: str) -> tuple[object, Raw]:
    from latentwidgets.models.diffusers_decoders import diffusers_decoder

    vae = diffusers_vae(kind)
    size = 4 if kind == "AutoencoderTiny" else 8
    model = diffusers_decoder(vae, latent_size=size, name=f"{kind}-tiny")
    scale = float(getattr(vae.config, "scaling_factor", None) or 1.0)

    def raw(z: torch.Tensor) -> torch.Tensor:
        return _unit(vae.decode(z.reshape(z.shape[0], *model.latent_shape) / scale).sample)

    return model, raw


def pythae_vae(seed: int = 0) -> nn.Module:
    from pythae.models import VAE, VAEConfig

    torch.manual_seed(seed)
    return VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=8)).eval().requires_grad_(False)


def build_pythae() -> tuple[object, Raw]:
    from latentwidgets.models.pythae_decoders import pythae_decoder

    vae = pythae_vae()
    model = pythae_decoder(vae, name="pythae-vae-tiny")

    def raw(z: torch.Tensor) -> torch.Tensor:
        return vae.decoder(z)["reconstruction"].reshape(-1, 1, 28, 28).clamp(0, 1).expand(-1, 3, -1, -1)

    return model, raw


class TinyDCGAN(nn.Module):
    """A DCGAN-layout generator (z [B, 16, 1, 1] -> 16 px), defined here: no optional package."""

    def __init__(self, nz: int = 16, ngf: int = 8):
        super().__init__()
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 2, 4, 1, 0, bias=False), nn.BatchNorm2d(ngf * 2), nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False), nn.BatchNorm2d(ngf), nn.ReLU(True),
            nn.ConvTranspose2d(ngf, 3, 4, 2, 1, bias=False), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z)


def build_dcgan() -> tuple[object, Raw]:
    from latentwidgets.models.decoder import DecoderModel

    torch.manual_seed(0)
    net = TinyDCGAN().eval()
    model = DecoderModel(net, name="dcgan-tiny")

    def raw(z: torch.Tensor) -> torch.Tensor:
        return _unit(net(z[:, :, None, None]))

    return model, raw


def build_faces() -> tuple[object, Raw]:
    from latentwidgets.models.faces import load_faces

    model = load_faces()
    net = model.module

    def raw(z: torch.Tensor) -> torch.Tensor:
        return _unit(net(z[:, :, None, None]))

    return model, raw


#: adapter id -> (builder, the optional package it needs or None)
BUILDERS: dict[str, tuple[Callable[[], tuple[object, Raw]], object]] = {
    "nvlabs": (build_nvlabs, "draggan"),
    "rosinality": (build_rosinality, "draggan"),
    "biggan": (build_biggan, "pytorch_pretrained_biggan"),
    "diffusers-kl": (lambda: build_diffusers("AutoencoderKL"), "diffusers"),
    "diffusers-tiny": (lambda: build_diffusers("AutoencoderTiny"), "diffusers"),
    "diffusers-vq": (lambda: build_diffusers("VQModel"), "diffusers"),
    "pythae": (build_pythae, "pythae"),
    "dcgan": (build_dcgan, None),
    "faces": (build_faces, "gan_face_generate"),
}
