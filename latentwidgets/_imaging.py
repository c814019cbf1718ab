"""The one image encoder: float image tensors in [0, 1] -> 8-bit pixels, PNG/JPEG bytes, ``data:`` URLs.

Images everywhere in latentwidgets are float tensors ``[B, 3, H, W]`` (or one ``[3, H, W]``) in
[0, 1]. The frame transport, the exports and the notebook formatters all turn them into bytes here,
with one rounding rule (clamp to [0, 1], times 255, round half to even)::

    from latentwidgets._imaging import to_uint8, encode, data_url, tile
    rgba = to_uint8(images, alpha=True)          # uint8 [B, H, W, 4] on the CPU
    png = encode(images[0], "png")               # bytes of a PNG file
    url = data_url(tile(images), "jpeg")         # 'data:image/jpeg;base64,...' (samples side by side)

A bottom-layer module: it imports only torch (and Pillow when bytes are asked for).
"""

from __future__ import annotations

import base64
import io

import torch

__all__ = ["IMAGE_FORMATS", "to_uint8", "tile", "encode", "data_url", "decode"]

#: file formats :func:`encode` writes
IMAGE_FORMATS = ("png", "jpeg")


def to_uint8(images: torch.Tensor, alpha: bool = False) -> torch.Tensor:
    """``[B, 3, H, W]`` (or ``[3, H, W]``; 1 channel is grey) in [0, 1] -> uint8 ``[B, H, W, 3]`` on the CPU.

    ``alpha=True`` adds an opaque alpha channel: ``[B, H, W, 4]`` (RGBA, what a canvas takes).

        to_uint8(torch.rand(2, 3, 64, 64), alpha=True).shape   # (2, 64, 64, 4)
    """
    if images.dim() == 3:
        images = images.unsqueeze(0)
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be [B, 3, H, W] (or [B, 1, H, W]) in [0, 1]; got {tuple(images.shape)}")
    x = images.detach().float().clamp(0, 1).mul(255).round().to(torch.uint8).cpu()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)
    x = x.permute(0, 2, 3, 1)
    if alpha:
        x = torch.cat([x, torch.full((*x.shape[:3], 1), 255, dtype=torch.uint8)], dim=3)
    return x.contiguous()


def tile(images: torch.Tensor) -> torch.Tensor:
    """``[B, 3, H, W]`` -> ``[3, H, B*W]``: the samples side by side (no gaps); ``[3, H, W]`` as it is.

        tile(torch.rand(4, 3, 64, 64)).shape   # (3, 64, 256)
    """
    if images.dim() == 3:
        return images
    return torch.cat(list(images), dim=2)


def encode(image: torch.Tensor, fmt: str = "png", quality: int = 85) -> bytes:
    """One image ``[3, H, W]`` in [0, 1] as the bytes of a PNG (optimised) or JPEG (``quality``) file.

        open("x.png", "wb").write(encode(img, "png"))
    """
    from PIL import Image

    if fmt not in IMAGE_FORMATS:
        raise ValueError(f"image format must be one of {IMAGE_FORMATS}; got {fmt!r}")
    if image.dim() != 3:
        raise ValueError(f"encode takes one image [3, H, W]; got {tuple(image.shape)} (tile a batch first)")
    buf = io.BytesIO()
    pil = Image.fromarray(to_uint8(image)[0].numpy(), "RGB")
    if fmt == "jpeg":
        pil.save(buf, "JPEG", quality=int(quality))
    else:
        pil.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def data_url(image: torch.Tensor, fmt: str = "jpeg", quality: int = 85) -> str:
    """One image ``[3, H, W]`` as a ``data:image/<fmt>;base64,...`` URL (for self-contained HTML).

        f"<img src='{data_url(img, 'png')}'>"
    """
    return f"data:image/{fmt};base64," + base64.b64encode(encode(image, fmt, quality)).decode("ascii")


def decode(data: bytes) -> torch.Tensor:
    """The inverse of :func:`encode` (for tests and tools): ``[3, H, W]`` float in [0, 1].

        decode(encode(img, "png"))   # == img to the nearest 8-bit level
    """
    import numpy as np
    from PIL import Image

    arr = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).copy()
    return torch.from_numpy(arr).permute(2, 0, 1).float() / 255
