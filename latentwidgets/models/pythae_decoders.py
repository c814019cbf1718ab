"""pythae autoencoders (VAE, beta-VAE, WAE, VQ-VAE, ...) as :class:`DecoderModel`s over their decoder.

    model = pythae_decoder(vae)                   # z_dim = vae.model_config.latent_dim
    model = load_pythae_folder("my_vae/final_model")            # default nets: weights only
    model = load_pythae_folder("my_vae/final_model", trust=True)  # custom nets (cloudpickled)

pythae saves custom encoder/decoder networks with cloudpickle (``encoder.pkl`` / ``decoder.pkl``):
loading those runs code stored in the files, so it needs ``trust=True``. Images leave the decoder
reshaped to ``model_config.input_dim`` (``(C, H, W)``); pythae's default nets end in a sigmoid, so
the output range defaults to (0, 1).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from .decoder import DecoderModel
from .files import trusted


def is_pythae_model(obj: Any) -> bool:
    """True when ``obj`` is a pythae model (has ``model_config.latent_dim`` and a ``decoder``)."""
    return (isinstance(obj, nn.Module) and type(obj).__module__.startswith("pythae")
            and hasattr(getattr(obj, "model_config", None), "latent_dim") and hasattr(obj, "decoder"))


class _Decode(nn.Module):
    def __init__(self, decoder: nn.Module, input_dim: tuple[int, ...]):
        super().__init__()
        self.decoder = decoder
        self.input_dim = tuple(int(v) for v in input_dim)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.decoder(z)["reconstruction"]
        return out.reshape(out.shape[0], *self.input_dim)


def pythae_decoder(model: nn.Module, name: str | None = None,
                   output_range: tuple[float, float] = (0.0, 1.0)) -> DecoderModel:
    """Wrap a pythae model's decoder; hookable layers are its leaf modules (``decoder.layers.0.0``, ...).

    Example: ``pythae_decoder(VAE(VAEConfig(input_dim=(1, 28, 28), latent_dim=8)))``
    """
    if not is_pythae_model(model):
        raise TypeError(f"{type(model).__name__} is not a pythae model")
    cfg = model.model_config
    input_dim = tuple(cfg.input_dim or ())
    if len(input_dim) != 3:
        raise ValueError(f"pythae model input_dim {input_dim} is not an image shape (C, H, W)")
    model.eval()
    return DecoderModel(_Decode(model.decoder, input_dim), z_dim=int(cfg.latent_dim),
                        name=name or type(model).__name__, output_range=output_range)


def load_pythae_folder(folder: str, trust: bool = False, **options: Any) -> DecoderModel:
    """Load a pythae model saved with ``model.save(folder)`` and wrap it with :func:`pythae_decoder`.

    Example: ``load_pythae_folder("runs/VAE_training/final_model")``
    """
    folder = Path(folder)
    pickled = [p.name for p in (folder / "encoder.pkl", folder / "decoder.pkl") if p.exists()]
    if pickled and not trusted(trust):
        raise PermissionError(
            f"{folder} holds custom networks saved with cloudpickle ({', '.join(pickled)}): loading them "
            "executes code stored in the files. Pass trust=True only if you trust their source.")
    try:
        from pythae.models import AutoModel
    except ImportError as e:
        raise ImportError("pythae models need pythae: pip install pythae==0.1.2") from e
    name = json.loads((folder / "model_config.json").read_text()).get("name", "pythae")
    return pythae_decoder(AutoModel.load_from_folder(str(folder)), name=options.pop("name", name.replace("Config", "")),
                          **options)
