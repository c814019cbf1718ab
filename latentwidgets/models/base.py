"""The ``LatentModel`` protocol: one interface over every generator latentwidgets can steer.

An adapter wraps a generator (``nn.Module``) and knows how to

- sample seeded latents ``z`` (:meth:`sample_z`) and map them to the synthesis space
  (:meth:`to_synthesis`: ``w`` for style-based models, identity otherwise);
- synthesise images from one latent per sample ``[B, D]`` or per-layer latents ``[B, L, D]``
  (:meth:`synthesize`); images leave as float ``[B, 3, H, W]`` in [0, 1] on the model's device;
- name its hookable layers (:meth:`layers`), read activations there (:meth:`activations`) and add an
  offset there while synthesising (:meth:`offset`, a context manager);
- (style-based models) list the affine layers that read each per-layer latent
  (:meth:`style_affines`), which closed-form factorisation reads.

Usage::

    model = latentwidgets.load("sprites-style")
    z = model.sample_z(4, seed=0)                 # [4, z_dim]
    w = model.to_synthesis(z)                     # [4, w_dim]
    img = model.synthesize(w)                     # [4, 3, 64, 64] in [0, 1]
    with model.offset("b8", delta):               # activation-space edit
        img2 = model.synthesize(w)

Subclasses implement ``_synthesize(latents [B, L, D])`` and, where they have them, ``_map`` and
``_hook_modules``; everything else (shape checks with clear messages, hooks, device) lives here.

Nothing silent: weights with NaN or inf are refused when the adapter is built, and every frame of
:meth:`synthesize` is checked (cheap next to synthesis): one image tensor ``[B, 3, H, W]`` per latent,
no NaN or inf (a clear error naming the model, not black frames), and (adapters with an
``output_range``) mapped pixels that overshoot [0, 1] by more than half of it warn once that they are
clipped (the output range is wrong).
"""

from __future__ import annotations

import contextlib
import math
import operator
import warnings
from collections.abc import Callable, Iterator, Sequence

import torch
import torch.nn as nn

Latents = torch.Tensor


class LatentShapeError(ValueError):
    """A latent of the wrong shape was given; the message says the expected shape."""


class _StopForward(Exception):
    pass


@contextlib.contextmanager
def frozen(module: nn.Module) -> Iterator[None]:
    """Turn off gradients of ``module``'s parameters for the block, restoring the flags after: latent
    optimisation then skips every weight gradient (about half of a convolution's backward)::

        with frozen(model.module):
            model.synthesize_grad(w).sum().backward()     # gradient w.r.t. w only
    """
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, f in flags:
            p.requires_grad_(f)


class LatentModel:
    """Base class of all adapters. See the module docstring for the protocol."""

    #: short id recorded in the provenance of directions found on this model
    name: str = "model"
    #: dimension of the sampled latent z
    z_dim: int
    #: dimension of the synthesis-space latent (``w`` or ``z``)
    w_dim: int
    #: number of per-layer latent inputs (1 for models with a single latent)
    num_layers: int = 1
    #: True when a mapping network z -> w exists
    has_mapping: bool = False
    #: image side in pixels
    resolution: int
    #: number of classes of a class-conditional generator (0: unconditional); conditional adapters
    #: also offer ``set_class(label)``, ``class_index``, ``class_vector`` and ``using_classes(labels)``
    #: (see :mod:`.conditional`)
    num_classes: int = 0

    def __init__(self, module: nn.Module):
        self.module = module
        self.module.eval()
        self._warned_range = False
        check_weights(module, type(module).__name__)

    # -------------------------------------------------------------------------------- basics
    @property
    def synthesis_space(self) -> str:
        """``"w"`` for models with a mapping network, else ``"z"``."""
        return "w" if self.has_mapping else "z"

    @property
    def device(self) -> torch.device:
        """Where the model's weights are (CPU for a module without any); latents and images follow it."""
        for p in self.module.parameters():
            return p.device
        for b in self.module.buffers():
            return b.device
        return torch.device("cpu")

    def to(self, device: str | torch.device) -> LatentModel:
        """Move the wrapped generator; latents and images follow the model's device."""
        self.module.to(device)
        return self

    def __repr__(self) -> str:
        classes = f", num_classes={self.num_classes}" if self.num_classes else ""
        return (f"{type(self).__name__}(name={self.name!r}, z_dim={self.z_dim}, w_dim={self.w_dim}, "
                f"num_layers={self.num_layers}, resolution={self.resolution}{classes}, device={self.device})")

    # -------------------------------------------------------------------------------- latents
    def sample_z(self, n: int, seed: int = 0) -> torch.Tensor:
        """``n`` Gaussian latents ``[n, z_dim]``, reproducible from ``seed``; the first k rows of
        ``sample_z(n, s)`` equal ``sample_z(k, s)``."""
        n = whole_number(n, "sample_z: n, the number of latents,")
        if n < 0:
            raise ValueError(f"sample_z: n must be >= 0, got {n}")
        seed = whole_number(seed, "sample_z: seed")
        if not -2 ** 63 <= seed < 2 ** 64:
            raise ValueError(f"sample_z: seed must be in [-2**63, 2**64); got {seed}. Use a smaller seed, "
                             "e.g. seed % 2**63")
        g = torch.Generator().manual_seed(seed)
        # torch.randn's CPU stream is prefix-stable only in whole blocks of 16 values: draw a
        # multiple of 16 so that rows do not depend on n (z_dim need not be a multiple of 16)
        m = n * self.z_dim
        flat = torch.randn(-(-m // 16) * 16, generator=g)[:m]
        return flat.view(n, self.z_dim).to(self.device)

    @torch.no_grad()
    def to_synthesis(self, z: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        """Map ``z [B, z_dim]`` to the synthesis space ``[B, w_dim]`` (identity without a mapping).
        ``truncation`` < 1 pulls w towards the average latent where the model has one."""
        z = self._check(z, self.z_dim, "z", allow_layers=False)
        if not self.has_mapping:
            return z
        return self.truncate(self._map(z), truncation)

    def truncate(self, w: torch.Tensor, truncation: float) -> torch.Tensor:
        """Synthesis latents ``w`` (``[B, w_dim]`` or per layer ``[B, L, w_dim]``) pulled towards the
        average latent, ``avg + truncation * (w - avg)``: the truncation trick. ``w`` itself at 1 or on
        a model without a mapping network::

            ws = model.truncate(model.broadcast(model.to_synthesis(z)), 0.7)   # per-layer w, truncated
        """
        if truncation == 1.0 or not self.has_mapping:
            return w
        avg = self.w_avg().to(w.device, w.dtype)
        return avg + truncation * (w - avg)

    def w_avg(self) -> torch.Tensor:
        """The average synthesis latent ``[w_dim]`` (zeros when the model keeps none)."""
        return torch.zeros(self.w_dim, device=self.device)

    def broadcast(self, latents: torch.Tensor) -> torch.Tensor:
        """``[B, D]`` -> ``[B, L, D]`` by repeating over layers; ``[B, L, D]`` passes checked."""
        latents = self._check(latents, self.w_dim, self.synthesis_space)
        if latents.dim() == 2:
            latents = latents.unsqueeze(1).expand(-1, self.num_layers, -1)
        return latents

    # -------------------------------------------------------------------------------- images
    @torch.no_grad()
    def synthesize(self, latents: torch.Tensor) -> torch.Tensor:
        """Images ``[B, 3, H, W]`` in [0, 1] from synthesis latents ``[B, D]`` or ``[B, L, D]``."""
        lat = self.broadcast(latents).to(self.device)
        img = self.check_frame(self._synthesize(lat), lat.shape[0])
        return img.clamp(0, 1)

    @torch.no_grad()
    def generate(self, z: torch.Tensor, truncation: float = 1.0) -> torch.Tensor:
        """``synthesize(to_synthesis(z))``."""
        return self.synthesize(self.to_synthesis(z, truncation))

    def synthesize_grad(self, latents: torch.Tensor) -> torch.Tensor:
        """Like :meth:`synthesize` but differentiable w.r.t. ``latents`` (for inversion/refinement).
        Not clamped, so gradients flow at saturated pixels."""
        return self._synthesize(self.broadcast(latents).to(self.device))

    def map_grad(self, z: torch.Tensor) -> torch.Tensor:
        """Differentiable z -> synthesis latent (identity without a mapping)."""
        z = self._check(z, self.z_dim, "z", allow_layers=False)
        return self._map(z) if self.has_mapping else z

    # -------------------------------------------------------------------------------- layers
    def layers(self) -> list[str]:
        """Names of hookable layers, in forward order."""
        return list(self._hook_modules().keys())

    def _module_at(self, layer: str) -> nn.Module:
        mods = self._hook_modules()
        if layer not in mods:
            raise KeyError(f"unknown layer {layer!r}; this model's hookable layers are {list(mods)}")
        return mods[layer]

    @torch.no_grad()
    def activations(self, latents: torch.Tensor, layer: str) -> torch.Tensor:
        """The output of ``layer`` when synthesising ``latents`` (the rest of the forward is skipped)."""
        module = self._module_at(layer)
        store: dict[str, torch.Tensor] = {}

        def hook(_m, _inp, out):
            store["a"] = out
            raise _StopForward

        handle = module.register_forward_hook(hook)
        try:
            self._synthesize(self.broadcast(latents).to(self.device))
        except _StopForward:
            pass
        finally:
            handle.remove()
        if "a" not in store:
            raise RuntimeError(f"layer {layer!r} was not reached during synthesis")
        return store["a"]

    @contextlib.contextmanager
    def offset(self, layer: str, delta: torch.Tensor | Callable[[torch.Tensor], torch.Tensor]) -> Iterator[None]:
        """Within the block, add ``delta`` (broadcast to the activation, or a function of it that
        returns the offset) to the output of ``layer`` in every forward pass."""
        module = self._module_at(layer)

        def hook(_m, _inp, out):
            d = delta(out) if callable(delta) else delta.to(out.device, out.dtype)
            try:
                return out + d
            except RuntimeError as e:
                raise LatentShapeError(
                    f"offset of shape {tuple(d.shape)} does not broadcast to layer {layer!r} "
                    f"activations of shape {tuple(out.shape)}") from e

        handle = module.register_forward_hook(hook)
        try:
            yield
        finally:
            handle.remove()

    def style_affines(self) -> list[list[nn.Linear]]:
        """For each per-layer latent index, the affine layers reading it (style-based models only)."""
        raise NotImplementedError(f"{type(self).__name__} has no style-affine layers (closed-form "
                                  "factorisation needs a style-based generator)")

    # -------------------------------------------------------------------------------- checks
    def _check(self, t: torch.Tensor, dim: int, space: str, allow_layers: bool = True) -> torch.Tensor:
        if not isinstance(t, torch.Tensor):
            t = torch.as_tensor(t, dtype=torch.float32)
        ok2 = t.dim() == 2 and t.shape[1] == dim
        ok3 = allow_layers and t.dim() == 3 and t.shape[1] == self.num_layers and t.shape[2] == dim
        if not (ok2 or ok3):
            want = f"[B, {dim}]" + (f" or [B, {self.num_layers}, {dim}]" if allow_layers else "")
            raise LatentShapeError(f"{self.name}: expected {space} latents of shape {want}; got {tuple(t.shape)}")
        if not torch.isfinite(t).all():
            raise ValueError(f"{self.name}: {space} latents contain NaN or inf")
        return t.float() if t.dtype != torch.float32 else t

    def check_frame(self, img: object, batch: int, mapped: bool = True) -> torch.Tensor:
        """Raise a clear error when the generator's output is not ``batch`` finite images ``[B, 3, H, W]``;
        warn once when ``mapped`` pixels overshoot [0, 1] by more than half of it (they are clipped)."""
        if isinstance(img, (tuple, list)):
            raise TypeError(f"{self.name} returned a {type(img).__name__} of {len(img)} items, not one image tensor: "
                            "wrap the generator in an nn.Module whose forward returns only the images, "
                            "e.g. forward(z): return net(z)[0]")
        if not isinstance(img, torch.Tensor):
            raise TypeError(f"{self.name} returned {type(img).__name__}, not an image tensor [B, 3, H, W]")
        if img.dim() != 4 or img.shape[1] != 3:
            raise ValueError(f"{self.name} returned a tensor of shape {tuple(img.shape)} for latents [{batch}, "
                             f"{self.w_dim}], not images [B, 1|3, H, W]")
        if img.shape[0] != batch:
            raise ValueError(f"{self.name} returned {img.shape[0]} images for {batch} latents: its forward must keep "
                             "the batch dimension (one image per latent)")
        finite = torch.isfinite(img).flatten(1).all(1)
        if not bool(finite.all()):
            bad = (~finite).nonzero().flatten().tolist()
            raise FloatingPointError(f"{self.name} produced NaN or inf pixels in images {bad[:8]} of {batch}: the "
                                     "generator diverged for these latents (check its weights, its input scale, "
                                     "or the strength of the edit)")
        if mapped and not self._warned_range and hasattr(self, "output_range"):
            lo, hi = float(img.min()), float(img.max())
            if lo < -0.5 or hi > 1.5:
                self._warned_range = True
                warnings.warn(f"{self.name}: images span [{lo:.3g}, {hi:.3g}] after mapping to [0, 1]; pixels "
                              f"outside are clipped. If the generator's output range is not what it was taken to be "
                              f"(output_range={self.output_range}), pass output_range=(low, high) when loading it",
                              stacklevel=3)
        return img

    # -------------------------------------------------------------------------------- to implement
    def _map(self, z: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _synthesize(self, latents: torch.Tensor) -> torch.Tensor:
        """``[B, L, D]`` -> images ``[B, 3, H, W]`` roughly in [0, 1] (the caller clamps)."""
        raise NotImplementedError

    def _hook_modules(self) -> dict[str, nn.Module]:
        return {}


def whole_number(value: object, what: str) -> int:
    """``value`` as an int when it is a whole number (an int, a numpy or 0-d torch integer, or a float such
    as 4.0), else a TypeError saying ``what`` must be one.

    >>> whole_number(4.0, "n")
    4
    """
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if not isinstance(value, bool):
        try:
            return operator.index(value)  # type: ignore[arg-type]
        except TypeError:
            pass
    hint = f", e.g. {math.floor(value)}" if isinstance(value, float) and math.isfinite(value) else ""
    raise TypeError(f"{what} must be a whole number; got {value!r} ({type(value).__name__}){hint}")


def check_weights(module: nn.Module, name: str) -> None:
    """Raise a clear error naming ``name`` and the first parameter or buffer holding NaN or inf."""
    for kind, items in (("parameter", module.named_parameters()), ("buffer", module.named_buffers())):
        for pname, t in items:
            if t.is_floating_point() and not bool(torch.isfinite(t).all()):
                raise ValueError(f"{name} has NaN or inf in its weights ({kind} {pname!r}): the file is damaged or "
                                 "training diverged; load other weights")


def layer_slice(num_layers: int, layers: Sequence[int] | range | slice | tuple | None) -> torch.Tensor:
    """Boolean mask ``[num_layers]`` for a layer range given as ``(start, end)`` (end exclusive),
    ``range``, ``slice`` or ``None`` (all layers)."""
    mask = torch.zeros(num_layers, dtype=torch.bool)
    if layers is None:
        mask[:] = True
        return mask
    if isinstance(layers, tuple) and len(layers) == 2 and all(isinstance(v, int) for v in layers):
        layers = range(layers[0], layers[1])
    if isinstance(layers, slice):
        layers = range(*layers.indices(num_layers))
    idx = list(layers)
    bad = [i for i in idx if not 0 <= i < num_layers]
    if bad:
        raise ValueError(f"layer indices {bad} out of range: this model has {num_layers} per-layer latents "
                         f"(0..{num_layers - 1})")
    mask[idx] = True
    return mask
