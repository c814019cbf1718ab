"""Frame transport shared by every latentwidgets widget: encode images, answer front-end requests.

The front end (``static/transport.js``) keeps at most one request in flight and always asks for the
latest state; this module is the kernel half of that protocol:

- JS -> Python ``{"type": "lw:request", "id": str, "state": dict | None, "format"?: str}``
  (``state=None`` asks for the current state and frame, e.g. when a new view opens);
- Python -> JS ``{"type": "lw:frame", "id", "seq", "origin": "front" | "python", "state",
  "frames": [{"width", "height", "format"}], "timing": {...}, ...}`` with one binary buffer per image
  (raw RGBA bytes, or a JPEG file), or ``{"type": "lw:error", "id", "seq", "message"}``.
  ``timing`` holds ``compute_ms``, ``encode_ms``, ``bytes``, and ``kernel_in`` / ``kernel_out``: the
  kernel's wall clock (ms since the epoch) when the request reached the handler and when the frame
  was handed to the comm, so the page can split a round trip into its hops.

Frames are encoded once: raw RGBA for small images (free to encode, exact pixels) and JPEG above a
size threshold or when asked (loopback vs. remote kernels)::

    server = FrameServer(widget, render=lambda state: (images, applied_state))
    server.push(images, state)                     # after a change made from Python
    meta, data = encode_image(images[0], fmt="auto")
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import torch

from .._imaging import decode, encode, to_uint8

#: encodings the front end can decode
FORMATS = ("auto", "raw", "jpeg")
#: "auto" sends raw RGBA up to this many pixels per image (128x128 = 64 KiB) and JPEG above it
RAW_MAX_PIXELS = 128 * 128

log = logging.getLogger(__name__)

RenderResult = tuple[torch.Tensor, dict[str, Any]]


def choose_format(width: int, height: int, fmt: str = "auto", raw_max_pixels: int = RAW_MAX_PIXELS) -> str:
    """``"raw"`` or ``"jpeg"`` for an image of this size under the requested format."""
    if fmt not in FORMATS:
        raise ValueError(f"frame format must be one of {FORMATS}; got {fmt!r}")
    if fmt != "auto":
        return fmt
    return "raw" if width * height <= raw_max_pixels else "jpeg"


def encode_image(image: torch.Tensor, fmt: str = "auto", quality: int = 85,
                 raw_max_pixels: int = RAW_MAX_PIXELS) -> tuple[dict[str, Any], bytes]:
    """Encode one image ``[3, H, W]`` in [0, 1] for the front end: ``(meta, bytes)``.

    ``meta`` is ``{"width", "height", "format"}``; raw frames are ``H*W*4`` RGBA bytes, JPEG frames a
    JPEG file (``quality``); both from :mod:`latentwidgets._imaging`.

        meta, data = encode_image(torch.rand(3, 64, 64))          # raw: 16384 bytes
        meta, data = encode_image(torch.rand(3, 256, 256), "jpeg")
    """
    if image.dim() != 3:
        raise ValueError(f"encode_image takes one image [3, H, W]; got {tuple(image.shape)}")
    h, w = int(image.shape[-2]), int(image.shape[-1])
    kind = choose_format(w, h, fmt, raw_max_pixels)
    data = to_uint8(image, alpha=True).numpy().tobytes() if kind == "raw" else encode(image, "jpeg", quality)
    return {"width": w, "height": h, "format": kind}, data


def decode_frame(meta: dict[str, Any], data: bytes) -> torch.Tensor:
    """Inverse of :func:`encode_image` (for tests and tools): ``[3, H, W]`` float in [0, 1]."""
    w, h = int(meta["width"]), int(meta["height"])
    if meta["format"] != "raw":
        return decode(data)
    arr = torch.frombuffer(bytearray(data), dtype=torch.uint8).reshape(h, w, 4)[..., :3]
    return arr.permute(2, 0, 1).float() / 255


def encode_frames(images: torch.Tensor, fmt: str = "auto", quality: int = 85,
                  raw_max_pixels: int = RAW_MAX_PIXELS) -> tuple[list[dict[str, Any]], list[bytes]]:
    """Encode a batch ``[B, 3, H, W]``: one ``(meta, bytes)`` per image, as two lists."""
    metas, buffers = [], []
    for img in images if images.dim() == 4 else images.unsqueeze(0):
        m, b = encode_image(img, fmt, quality, raw_max_pixels)
        metas.append(m)
        buffers.append(b)
    return metas, buffers


def error_message(exc: BaseException) -> str:
    """One line for the widget: ``TypeName: message`` (the traceback goes to the kernel log)."""
    msg = str(exc).strip() or repr(exc)
    return f"{type(exc).__name__}: {msg}"


class FrameServer:
    """Kernel half of the frame protocol, attached to one anywidget.

    ``render(state)`` applies ``state`` (a dict, or None for "the current state"), computes the
    images and returns ``(images [B, 3, H, W], applied_state)``. Requests are answered in the
    kernel's message thread (the front end sends at most one at a time, so no queue forms); an
    exception becomes an ``lw:error`` reply and ``on_error(message)`` is called, and the next
    request is served as usual.

        server = FrameServer(widget, render, encoding="auto")
        ...
        server.close()            # stop answering; releases the message handler
    """

    def __init__(self, widget: Any, render: Callable[[dict[str, Any] | None], RenderResult], *,
                 encoding: str = "auto", quality: int = 85, raw_max_pixels: int = RAW_MAX_PIXELS,
                 on_error: Callable[[str], None] | None = None,
                 on_frame: Callable[[dict[str, Any]], None] | None = None,
                 send: Callable[[dict[str, Any], list[bytes]], None] | None = None):
        choose_format(1, 1, encoding)  # validates
        self.widget = widget
        self.render = render
        self.encoding = encoding
        self.quality = quality
        self.raw_max_pixels = raw_max_pixels
        self.on_error = on_error
        self.on_frame = on_frame
        self._send = send or (lambda content, buffers: widget.send(content, buffers))
        self.seq = 0
        self.closed = False
        self.last_timing: dict[str, float] = {}
        #: the full traceback of the last failed request (the widget shows only its message)
        self.last_traceback: str = ""
        widget.on_msg(self._on_msg)

    # ------------------------------------------------------------------------------ protocol
    def _on_msg(self, _widget: Any, content: Any, buffers: Sequence[Any]) -> None:
        if self.closed or not isinstance(content, dict) or content.get("type") != "lw:request":
            return  # other messages (anywidget commands, other protocols) are not ours
        self.handle_request(content)

    def handle_request(self, content: dict[str, Any]) -> None:
        """Answer one ``lw:request`` message (also callable directly, e.g. from tests)."""
        rid = content.get("id")
        kernel_in = time.time() * 1e3
        t0 = time.perf_counter()
        try:
            images, state = self.render(content.get("state"))
        except Exception as exc:  # noqa: BLE001 - any error in the compute path shows in the widget
            self.send_error(rid, exc)
            return
        self.send_frame(images, state, rid=rid, origin="front", fmt=content.get("format"), t0=t0,
                        kernel_in=kernel_in)

    def push(self, images: torch.Tensor, state: dict[str, Any], compute_ms: float | None = None) -> None:
        """Send a frame nobody asked for (the state changed on the Python side); views follow it."""
        self.send_frame(images, state, rid=None, origin="python", compute_ms=compute_ms)

    def send_frame(self, images: torch.Tensor, state: dict[str, Any], *, rid: Any = None, origin: str = "front",
                   fmt: str | None = None, t0: float | None = None, compute_ms: float | None = None,
                   kernel_in: float | None = None) -> None:
        """Encode ``images`` and send them as one ``lw:frame`` message (``rid``: the request answered)."""
        if self.closed:
            return
        t1 = time.perf_counter()
        fmt = fmt if fmt in FORMATS else self.encoding
        metas, buffers = encode_frames(images, fmt, self.quality, self.raw_max_pixels)
        t2 = time.perf_counter()
        self.seq += 1
        timing = {"compute_ms": compute_ms if compute_ms is not None else ((t1 - t0) * 1e3 if t0 else None),
                  "encode_ms": (t2 - t1) * 1e3, "bytes": sum(len(b) for b in buffers), "kernel_in": kernel_in}
        self.last_timing = timing
        content = {"type": "lw:frame", "id": rid, "seq": self.seq, "origin": origin, "state": state,
                   "frames": metas, "timing": timing}
        timing["kernel_out"] = time.time() * 1e3
        self._send(content, buffers)
        if self.on_frame is not None:
            self.on_frame(content)

    def send_error(self, rid: Any, exc: BaseException) -> None:
        message = error_message(exc)
        self.last_traceback = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        log.debug("frame request failed\n%s", self.last_traceback)
        self.seq += 1
        if not self.closed:
            self._send({"type": "lw:error", "id": rid, "seq": self.seq, "message": message}, [])
        if self.on_error is not None:
            self.on_error(message)

    def close(self) -> None:
        """Stop answering and detach from the widget (idempotent)."""
        if self.closed:
            return
        self.closed = True
        try:
            self.widget.on_msg(self._on_msg, remove=True)
        except Exception:  # noqa: BLE001 - the widget may be closed already
            pass
