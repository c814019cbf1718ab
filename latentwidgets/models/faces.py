"""Real pretrained weights: the 64x64 face DCGAN of the ``gan-face-generate`` wheel (optional).

    model = latentwidgets.load("dcgan-faces")     # or load_faces()
    model.z_dim, model.resolution                 # 100, 64
    model.layers()                                # ['main.0', 'main.1', ...]: its modules by name

Licence: the package's code is MIT, but its weights were trained on DigiFace-1M, whose licence
allows **non-commercial research use only**. These weights are an optional demo and test model;
they are not part of latentwidgets and not installed with it. Install them with::

    pip install --no-deps gan-face-generate==1.1.1

(``--no-deps``: the package declares torchvision and wandb, which it does not need for its
generator and which would replace this environment's torch.) The weights load with
``torch.load(..., weights_only=True)``: no code is unpickled.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .decoder import DecoderModel

NAME = "dcgan-faces"
LICENCE = ("gan-face-generate weights: trained on DigiFace-1M (non-commercial research use only); "
           "package code MIT")
INSTALL = "pip install --no-deps gan-face-generate==1.1.1"


def faces_available() -> bool:
    """True when the optional ``gan-face-generate`` package (with its weights file) is installed."""
    try:
        import gan_face_generate
    except ImportError:
        return False
    return (Path(gan_face_generate.__file__).parent / "weights.tar").exists()


def load_faces(device: str = "cpu") -> DecoderModel:
    """The gan-face-generate DCGAN (z 100 -> 64x64 faces) as a :class:`DecoderModel`.

    Its weights were trained on DigiFace-1M: non-commercial research use only.

    Example: ``model = load_faces(); img = model.generate(model.sample_z(4, seed=0))``
    """
    try:
        import gan_face_generate
        from gan_face_generate.models import Generator
    except ImportError as e:
        raise ImportError(f"{NAME} needs the optional package gan-face-generate: {INSTALL} "
                          f"({LICENCE})") from e
    path = Path(gan_face_generate.__file__).parent / "weights.tar"
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    net = Generator(ngpu=0, nc=3, nz=100, ngf=64)
    net.load_state_dict(state["netG_state_dict"] if "netG_state_dict" in state else state)
    net.to(device).eval()
    return DecoderModel(net, z_dim=100, latent_shape=(100, 1, 1), name=NAME, output_range=(-1.0, 1.0))
