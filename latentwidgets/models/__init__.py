"""Adapters that put every supported generator behind the :class:`LatentModel` protocol.

``load`` is the one entry point::

    model = load("sprites-style")                    # an embedded zoo model
    model = load("dcgan-faces")                      # optional pretrained faces (see .faces)
    model = load(G)                                  # NVlabs StyleGAN2-ADA/3 G, rosinality Generator,
                                                     # BigGAN, diffusers/pythae autoencoder, nn.Module
    model = load(cgan)                               # forward(z, labels): class indices or one-hot
    model = load(cgan, n_classes=10)                 # ... where the number of classes cannot be read
    model = load("ffhq.pkl", trust=True)             # NVlabs pickle (runs code: opt in)
    model = load("550000.pt", generator_class=Generator)      # rosinality checkpoint
    model = load("weights.safetensors", module=MyNet())       # a state dict for your architecture
    model = load("my-vae-folder")                    # diffusers AutoencoderKL/Tiny/VQModel folder
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .base import LatentModel, LatentShapeError, layer_slice

__all__ = ["LatentModel", "LatentShapeError", "layer_slice", "load"]


def _load_zoo(name: str) -> LatentModel:
    from .. import zoo

    if name == "sprites-style":
        from .zoo_style import ZooStyleModel
        return ZooStyleModel(zoo.build(name), name=name)  # type: ignore[arg-type]
    if name == "sprites-vae":
        from .decoder import DecoderModel
        vae = zoo.build(name)
        return DecoderModel(vae.decoder, z_dim=vae.z_dim, name=name, output_range=(0.0, 1.0))  # type: ignore[arg-type]
    hint = (" (a latent regressor: latentwidgets.load_regressor('sprites-style', model))"
            if name.endswith("-regressor") else "")
    raise KeyError(f"{name!r} is not a generative zoo model{hint}; generative zoo models: {sorted(zoo.generative())}")


ACCEPTS = (
    "a zoo name ({zoo}); 'dcgan-faces' (optional gan-face-generate weights); a LatentModel; a model "
    "object: NVlabs StyleGAN2-ADA/StyleGAN3 generator (mapping, synthesis, num_ws), rosinality StyleGAN2 "
    "Generator, pytorch_pretrained_biggan BigGAN, diffusers AutoencoderKL/AutoencoderTiny/VQModel, a pythae "
    "model, any nn.Module mapping z to an image (z_dim=... if it cannot be read from its first layer), or a "
    "class-conditional one, forward(z, labels) (n_classes=... if it cannot be inferred); "
    "or a path: an NVlabs .pkl (with trust=True), a rosinality .pt (with generator_class= or generator=), "
    "a .safetensors/.pt/.pth state dict (with module= an nn.Module of its architecture; a whole pickled module "
    "with trust=True), a diffusers "
    "autoencoder folder, a pythae model folder, or a BigGAN folder (config.json + pytorch_model.bin)"
)


def _accepts() -> str:
    from .. import zoo
    return ACCEPTS.format(zoo=", ".join(sorted(zoo.generative())) or "none installed")


def _wrap_module(module: Any, **options: Any) -> LatentModel:
    """The adapter for a model object, recognised by its attributes (no optional import needed)."""
    from ..zoo.style_net import StyleGenerator
    from .biggan import BigGANModel, is_biggan
    from .diffusers_decoders import diffusers_decoder, diffusers_kind
    from .pythae_decoders import is_pythae_model, pythae_decoder
    from .stylegan_nvlabs import NVlabsStyleGAN, is_nvlabs_generator
    from .stylegan_rosinality import RosinalityStyleGAN, is_rosinality_generator

    if isinstance(module, StyleGenerator):
        from .zoo_style import ZooStyleModel
        return ZooStyleModel(module, **options)
    if is_nvlabs_generator(module):
        return NVlabsStyleGAN(module, **options)
    if is_rosinality_generator(module):
        return RosinalityStyleGAN(module, **options)
    if is_biggan(module):
        return BigGANModel(module, **options)
    if diffusers_kind(module):
        return diffusers_decoder(module, **options)
    if is_pythae_model(module):
        return pythae_decoder(module, **options)
    from .conditional_decoder import ConditionalDecoderModel, label_parameter
    if label_parameter(module, n_classes_given=options.get("n_classes") is not None):
        return ConditionalDecoderModel(module, **options)
    if options.get("n_classes") is not None:
        raise ValueError(f"n_classes= is for class-conditional modules, forward(z, labels); "
                         f"{type(module).__name__}.forward takes z only")
    options.pop("n_classes", None)
    from .decoder import DecoderModel
    return DecoderModel(module, **options)


def _load_state_dict_file(path: Path, module: Any, trust: bool, options: dict[str, Any]) -> LatentModel:
    import torch.nn as nn

    from .files import read_weights

    state = read_weights(path, trust=trust)
    if isinstance(state, nn.Module):  # a whole pickled module, read because trust=True
        if module is not None:
            raise ValueError(f"{path.name} holds a whole {type(state).__name__}, not a state dict: drop module=")
        return _wrap_module(state, **{"name": path.stem, **options})
    if isinstance(state, dict) and module is None and "g_ema" in state:
        raise ValueError(f"{path.name} is a rosinality StyleGAN2 checkpoint: pass generator_class=Generator "
                         "(rosinality's model.py) or generator=Generator(size, style_dim, n_mlp)")
    if module is None:
        keys = list(state)[:6] if isinstance(state, dict) else type(state).__name__
        raise ValueError(
            f"{path.name} holds weights only (keys {keys}...), not an architecture: pass module= an nn.Module "
            "of the architecture they belong to, e.g. load(path, module=MyGenerator(), z_dim=...)")
    if isinstance(state, dict):
        # one nested state dict ({'netG_state_dict': ...}, {'g': ...}) or prefixed keys ('g.' from save_modules)
        nested = [v for v in state.values() if isinstance(v, dict)]
        if len(nested) == 1 and not any(hasattr(v, "shape") for v in state.values()):
            state = nested[0]
        own = set(module.state_dict())
        if not own & set(state):
            prefixes = {k.split(".", 1)[0] for k in state if "." in k}
            for p in prefixes:
                sub = {k[len(p) + 1:]: v for k, v in state.items() if k.startswith(p + ".")}
                if own & set(sub):
                    state = sub
                    break
    missing, unexpected = module.load_state_dict(state, strict=False)
    if missing or unexpected:
        raise ValueError(f"{path.name} does not fit {type(module).__name__}: missing {list(missing)[:5]}, "
                         f"unexpected {list(unexpected)[:5]}")
    return _wrap_module(module, **options)


def _load_path(path: Path, options: dict[str, Any]) -> LatentModel:
    import json

    from .files import trusted

    trust = trusted(options.pop("trust", False))
    module = options.pop("module", None)
    if path.is_dir():
        cfg = path / "config.json"
        meta = json.loads(cfg.read_text()) if cfg.exists() else {}
        if "_class_name" in meta:
            from .diffusers_decoders import load_diffusers_folder
            return load_diffusers_folder(str(path), **options)
        if (path / "model_config.json").exists() and (path / "model.pt").exists():
            from .pythae_decoders import load_pythae_folder
            return load_pythae_folder(str(path), trust=trust, **options)
        if "channel_width" in meta and (path / "pytorch_model.bin").exists():
            from .biggan import load_biggan
            return load_biggan(str(path), **options)
        raise ValueError(f"latentwidgets.load: the folder {path} is not a diffusers autoencoder, pythae or "
                         f"BigGAN folder. It accepts: {_accepts()}")
    if path.suffix == ".pkl":
        from .stylegan_nvlabs import NVlabsStyleGAN, load_nvlabs_pickle
        G = load_nvlabs_pickle(path, trust=trust, key=options.pop("key", "G_ema"),
                               code_dir=options.pop("code_dir", None))
        return NVlabsStyleGAN(G, **{"name": path.stem, **options})
    if path.suffix in (".pt", ".pth", ".ckpt", ".bin", ".tar") and (
            "generator_class" in options or "generator" in options):
        from .stylegan_rosinality import load_rosinality
        return load_rosinality(path, **options)
    if path.suffix in (".safetensors", ".pt", ".pth", ".ckpt", ".bin", ".tar"):
        return _load_state_dict_file(path, module, trust, options)
    raise ValueError(f"latentwidgets.load could not recognise the file {path.name} (suffix {path.suffix!r}). "
                     f"It accepts: {_accepts()}")


def load(source: Any, **options: Any) -> LatentModel:
    """Wrap ``source`` in a :class:`LatentModel`.

    ``source`` may be a zoo name (see ``latentwidgets.zoo.available()``), ``"dcgan-faces"``, a
    ``LatentModel`` (returned as is), a model object (NVlabs, rosinality, BigGAN, diffusers, pythae,
    any ``nn.Module`` mapping z to an image) or a path (see the module docstring); ``options`` go to
    the adapter or loader (``trust=True`` for pickles, ``module=`` for bare state dicts, ...).
    Unrecognised input raises an error listing what is accepted. The generator is probed once (two
    seeded samples) so that weights or outputs with NaN or inf, tuples, a wrong batch size or image
    shape fail here, with the model named, rather than at the first frame.

    Example: ``model = load("sprites-style")``
    """
    if isinstance(source, LatentModel):
        return source
    model = _build(source, options)
    model.generate(model.sample_z(2, seed=0))
    return model


def _build(source: Any, options: dict[str, Any]) -> LatentModel:
    import os

    from .. import zoo

    if isinstance(source, str) and (source in zoo.available() or source in zoo._DESCRIPTIONS):
        return _load_zoo(source)
    if isinstance(source, str) and source in ("dcgan-faces", "faces"):
        from .faces import load_faces
        return load_faces(**options)
    try:
        import torch.nn as nn
    except ImportError:  # pragma: no cover
        nn = None  # type: ignore[assignment]
    if nn is not None and isinstance(source, nn.Module):
        # ``trust`` is about unpickling files: a module already in memory needs none (accepted, so one call
        # shape works for a path and for the object it holds)
        return _wrap_module(source, **{k: v for k, v in options.items() if k != "trust"})
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if path.exists():
            return _load_path(path, dict(options))
        raise FileNotFoundError(f"latentwidgets.load: {str(source)!r} is neither a known model name nor an "
                                f"existing path. It accepts: {_accepts()}")
    raise ValueError(f"latentwidgets.load could not recognise {type(source).__name__} {source!r:.80}. "
                     f"It accepts: {_accepts()}")
