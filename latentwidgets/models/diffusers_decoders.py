"""diffusers autoencoders (``AutoencoderKL``, ``AutoencoderTiny``, ``VQModel``) as :class:`DecoderModel`s.

The latent is the decoder's spatial latent ``[C, h, w]`` flattened to ``z_dim = C * h * w``
(``model.latent_shape``). It lives in the *scaled* space diffusion models use, where latents have
roughly unit variance: the decoder receives ``z / scaling_factor + shift_factor``. Hookable layers
are the decoder's blocks (``mid``, ``up0``, ... or ``block0``, ... for AutoencoderTiny)::

    vae = AutoencoderKL.from_pretrained("path/to/vae")      # a local folder; set HF_HUB_OFFLINE=1
    model = diffusers_decoder(vae, latent_size=32)          # 32x32 latents -> 256 px images
    model.latent_shape                                      # (4, 32, 32)
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn

from .decoder import DecoderModel

KINDS = ("AutoencoderKL", "AutoencoderTiny", "VQModel")


def diffusers_kind(obj: Any) -> str | None:
    """The supported diffusers class ``obj`` is an instance of (by class hierarchy name), or None."""
    if not isinstance(obj, nn.Module):
        return None
    for cls in type(obj).__mro__:
        if cls.__name__ in KINDS and cls.__module__.startswith("diffusers"):
            return cls.__name__
    return None


class _Decode(nn.Module):
    """``z (scaled) -> vae.decode(z / scaling_factor + shift).sample``."""

    def __init__(self, vae: nn.Module):
        super().__init__()
        self.vae = vae
        cfg = vae.config
        self.scale = float(getattr(cfg, "scaling_factor", None) or 1.0)
        self.shift = float(getattr(cfg, "shift_factor", None) or 0.0)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(z / self.scale + self.shift).sample


def _decoder_layers(kind: str, vae: nn.Module) -> dict[str, str]:
    dec = vae.decoder
    if kind == "AutoencoderTiny":
        return {f"block{i}": f"vae.decoder.layers.{j}" for i, j in enumerate(
            j for j, m in enumerate(dec.layers) if type(m).__name__ == "AutoencoderTinyBlock")}
    out = {"mid": "vae.decoder.mid_block"} if getattr(dec, "mid_block", None) is not None else {}
    out.update({f"up{i}": f"vae.decoder.up_blocks.{i}" for i in range(len(dec.up_blocks))})
    return out


@torch.no_grad()
def _upscale(wrapper: _Decode, channels: int, device: torch.device) -> int:
    out = wrapper(torch.zeros(1, channels, 4, 4, device=device))
    return out.shape[-1] // 4


def diffusers_decoder(vae: nn.Module, latent_size: int | None = None, name: str | None = None) -> DecoderModel:
    """Wrap a diffusers ``AutoencoderKL``, ``AutoencoderTiny`` or ``VQModel``; ``latent_size`` is the
    side of the spatial latent (default: the config's ``sample_size`` over the decoder's upscaling,
    else 8). Images come out at ``latent_size * upscaling`` pixels.

    Example: ``diffusers_decoder(AutoencoderTiny(), latent_size=8)``
    """
    kind = diffusers_kind(vae)
    if kind is None:
        raise TypeError(f"{type(vae).__name__} is not one of the supported diffusers autoencoders {KINDS}")
    vae.eval()
    wrapper = _Decode(vae)
    channels = int(vae.config.latent_channels)
    device = next(vae.parameters()).device
    if latent_size is None:
        sample = getattr(vae.config, "sample_size", None)
        if isinstance(sample, (list, tuple)):
            sample = sample[0]
        latent_size = max(1, int(sample) // _upscale(wrapper, channels, device)) if sample else 8
    shape = (channels, int(latent_size), int(latent_size))
    return DecoderModel(wrapper, latent_shape=shape, name=name or kind, output_range=(-1.0, 1.0),
                        layers=_decoder_layers(kind, vae))


def load_diffusers_folder(folder: str, **options: Any) -> DecoderModel:
    """Load a diffusers autoencoder saved with ``save_pretrained`` from a local folder (offline) and
    wrap it with :func:`diffusers_decoder`.

    Example: ``load_diffusers_folder("my-vae", latent_size=16)``
    """
    import json
    import os
    from pathlib import Path

    cfg_path = Path(folder) / "config.json"
    cls_name = json.loads(cfg_path.read_text()).get("_class_name") if cfg_path.exists() else None
    if cls_name not in KINDS:
        raise ValueError(f"{folder} is not a diffusers {'/'.join(KINDS)} folder "
                         f"(config.json _class_name: {cls_name!r})")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import diffusers
    except ImportError as e:
        raise ImportError("diffusers autoencoders need diffusers: pip install diffusers") from e
    vae = getattr(diffusers, cls_name).from_pretrained(str(folder), local_files_only=True)
    return diffusers_decoder(vae, **options)
