"""The latent regressor of Chai et al. (ICLR 2021): a masked image -> the generator's latent, in one pass.

A small conv encoder reads RGB plus a mask channel (1 = known pixel; hidden pixels are zeroed) and
predicts per-layer synthesis latents ``[B, L, D]`` (``w+`` for style-based models, as an offset from
the mean latent in units of its per-dimension spread; ``z`` for models without a mapping network).
It is trained on generated samples only, with the generator frozen, under random masks from
:func:`sample_masks` (uniform noise on a 6x6 grid, bilinearly upsampled, thresholded at a cutoff
drawn from U(0.3, 1.0) per batch). Loss = latent reconstruction + pixel MSE + a perceptual term on
the features of the ``sprites-features`` net (LPIPS weights cannot be had offline)::

    import latentwidgets as lw
    from latentwidgets.regress import LatentRegressor, load_regressor, train_regressor, refine, sample_masks
    model = lw.load("sprites-style")
    reg = load_regressor("sprites-style", model)        # shipped weights (zoo: sprites-style-regressor)
    lat = reg.project(images, mask)                     # [B, L, D] in model.synthesis_space, no grad
    out = model.synthesize(lat)                         # the projected image
    lat = refine(model, lat, images, mask, steps=50)    # optional: optimise on the masked loss
    reg = train_regressor(model, steps=2000, ckpt="reg.resume.safetensors")   # any LatentModel
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable, Dict, Optional, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from .models.base import LatentModel, frozen

__all__ = ["LatentRegressor", "load_regressor", "train_regressor", "project", "refine", "sample_masks",
           "masked_loss", "perceptual_distance", "latent_stats", "LOSS_WEIGHTS"]

#: default weights of the training loss terms (latent in units of the latent's spread, pixel MSE on
#: [0, 1] images, perceptual distance of sprites-features activations); see :func:`regression_loss`.
#: Chai et al. weigh all three 1 with LPIPS on [-1, 1] images; here pixel MSE on [0, 1] is ~100x
#: smaller than the other terms, and at (latent 1, pixel 10) the held-out masked L1 after 500 steps
#: was 0.065 against 0.050 at these weights (training/regressor.log)
LOSS_WEIGHTS: Dict[str, float] = {"latent": 0.3, "pixel": 100.0, "perceptual": 1.0}
#: the zoo name of the shipped regressor of each zoo generator
ZOO_REGRESSORS = {"sprites-style": "sprites-style-regressor"}
#: seeds of the training batches start here (step s uses TRAIN_SEED_BASE * (seed + 1) + s); evaluation
#: and benchmarks draw from HELD_OUT_SEED upwards, far from any training seed
TRAIN_SEED_BASE = 10**7
HELD_OUT_SEED = 900_000_000


# ================================================================================================ masks
def sample_masks(n: int, size: int = 64, generator: Optional[torch.Generator] = None, grid: int = 6,
                 cutoff: Union[float, Tuple[float, float]] = (0.3, 1.0)) -> torch.Tensor:
    """Chai et al.'s random masks ``[n, 1, size, size]`` (float, 1 = known pixel).

    Uniform noise on a ``grid`` x ``grid`` lattice is bilinearly upsampled to ``size`` and a pixel is
    known where the noise lies below a cutoff drawn once per call from U(``cutoff``) (or fixed, if a
    float), so a batch shares one visible fraction and the masks are smooth blobs on the grid scale.

    >>> g = torch.Generator().manual_seed(0)
    >>> sample_masks(8, size=64, generator=g).shape      # torch.Size([8, 1, 64, 64])
    """
    if n < 0 or size < 1 or grid < 1:
        raise ValueError(f"sample_masks needs n >= 0, size >= 1 and grid >= 1; got n={n}, size={size}, grid={grid}")
    noise = torch.rand(n, 1, grid, grid, generator=generator)
    up = F.interpolate(noise, size=(size, size), mode="bilinear", align_corners=True)
    if isinstance(cutoff, (tuple, list)):
        lo, hi = float(cutoff[0]), float(cutoff[1])
        t = lo + (hi - lo) * float(torch.rand(1, generator=generator))
    else:
        t = float(cutoff)
    return (up < t).float()


# ================================================================================================ checks
def _check_inputs(images: torch.Tensor, mask: torch.Tensor, resolution: Optional[int] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Validate ``images [B, 3, H, W]`` and ``mask [B, 1, H, W]``; errors say how to fix them."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ValueError(f"images must be a float tensor [B, 3, H, W] in [0, 1]; got {shape} "
                         "(add a batch dimension with images[None] for a single image)")
    if resolution is not None and tuple(images.shape[2:]) != (resolution, resolution):
        raise ValueError(f"this regressor reads {resolution}x{resolution} images; got {tuple(images.shape[2:])} "
                         f"(resize with torch.nn.functional.interpolate(images, size={resolution}))")
    if not isinstance(mask, torch.Tensor):
        raise ValueError(f"mask must be a tensor [B, 1, H, W] with 1 = known pixel; got {type(mask).__name__}")
    if mask.dim() == 3:
        mask = mask.unsqueeze(1)
    want = (images.shape[0], 1, images.shape[2], images.shape[3])
    if tuple(mask.shape) != want:
        raise ValueError(f"mask must have shape {want} (one channel, same batch and size as the images; "
                         f"1 = known pixel); got {tuple(mask.shape)}")
    images = images.float()
    mask = mask.float()
    if not torch.isfinite(images).all():
        raise ValueError("images contain NaN or inf: replace them (e.g. torch.nan_to_num(images)) and mark "
                         "those pixels unknown in the mask")
    if not torch.isfinite(mask).all() or float(mask.min()) < 0 or float(mask.max()) > 1:
        raise ValueError("mask values must be finite and in [0, 1] (1 = known pixel, 0 = unknown)")
    return images, mask.to(images.device)


# ================================================================================================ the net
class LatentRegressor(nn.Module):
    """Conv encoder: RGB + mask ``[B, 4, R, R]`` -> per-layer latents ``[B, L, D]``.

    The output is ``latent_mean + latent_std * net(x)``: the net predicts an offset from the
    model's mean latent (``w_avg``) in units of each dimension's spread. Build one sized for a model
    with :meth:`for_model`; train it with :func:`train_regressor`.

    >>> reg = LatentRegressor.for_model(lw.load("sprites-style"))
    >>> reg.project(images, mask).shape                  # [B, 10, 32]
    """

    def __init__(self, num_layers: int, latent_dim: int, resolution: int, space: str = "w",
                 width: int = 24, hidden: int = 256, model_name: str = "model"):
        super().__init__()
        if resolution < 4:
            raise ValueError(f"resolution must be at least 4 pixels; got {resolution}")
        self.num_layers, self.latent_dim, self.resolution = int(num_layers), int(latent_dim), int(resolution)
        self.space, self.width, self.hidden, self.model_name = space, int(width), int(hidden), model_name
        act = nn.SiLU
        layers = [nn.Conv2d(4, width, 3, 1, 1), act()]
        size, c = resolution, width
        while size > 4:  # halve until 4x4 (or less); channels grow to 4 * width
            c_out = min(c * 2, 4 * width) if size < resolution else c
            layers += [nn.Conv2d(c, c_out, 4, 2, 1), nn.GroupNorm(math.gcd(8, c_out), c_out), act(),
                       nn.Conv2d(c_out, c_out, 3, 1, 1), act()]
            size, c = (size + 1) // 2, c_out
        layers.append(nn.AdaptiveAvgPool2d(4))
        self.convs = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(c * 16, hidden), act(),
                                  nn.Linear(hidden, self.num_layers * self.latent_dim))
        nn.init.zeros_(self.head[-1].weight)   # start at the mean latent
        nn.init.zeros_(self.head[-1].bias)
        self.register_buffer("latent_mean", torch.zeros(self.latent_dim))
        self.register_buffer("latent_std", torch.ones(self.latent_dim))

    # ------------------------------------------------------------------------------ construction
    @classmethod
    def for_model(cls, model: LatentModel, width: int = 24, hidden: int = 256, seed: int = 0) -> "LatentRegressor":
        """An untrained regressor sized for ``model`` (any :class:`LatentModel`), seeded, on its device.

        >>> reg = LatentRegressor.for_model(model)       # then train_regressor(model, steps, regressor=reg)
        """
        if not isinstance(model, LatentModel):
            raise TypeError(f"for_model needs a LatentModel (wrap your generator with latentwidgets.load(G)); "
                            f"got {type(model).__name__}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            reg = cls(model.num_layers, model.w_dim, model.resolution, space=model.synthesis_space,
                      width=width, hidden=hidden, model_name=getattr(model, "name", "model"))
        mean, std = latent_stats(model)
        reg.latent_mean.copy_(mean.cpu())
        reg.latent_std.copy_(std.cpu())
        return reg.to(model.device)

    def config(self) -> dict:
        """What :meth:`from_config` needs to rebuild this architecture (stored in saved files)."""
        return {"num_layers": self.num_layers, "latent_dim": self.latent_dim, "resolution": self.resolution,
                "space": self.space, "width": self.width, "hidden": self.hidden, "model_name": self.model_name}

    @classmethod
    def from_config(cls, config: dict) -> "LatentRegressor":
        return cls(**config)

    def check_model(self, model: LatentModel) -> None:
        """Raise if this regressor does not fit ``model``'s latent layout and image size."""
        got = (model.num_layers, model.w_dim, model.resolution, model.synthesis_space)
        want = (self.num_layers, self.latent_dim, self.resolution, self.space)
        if got != want:
            raise ValueError(f"this regressor predicts {self.space} latents [B, {self.num_layers}, {self.latent_dim}] "
                             f"from {self.resolution}px images, but the model has {got[3]} latents "
                             f"[B, {got[0]}, {got[1]}] at {got[2]}px: build one with LatentRegressor.for_model(model) "
                             "and train it with train_regressor(model, steps)")

    # ------------------------------------------------------------------------------ forward
    def forward(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Differentiable ``[B, 3, R, R]`` + ``[B, 1, R, R]`` -> ``[B, L, D]`` (no input checks)."""
        x = torch.cat([(images * 2 - 1) * mask, mask], dim=1)
        offset = self.head(self.convs(x)).view(-1, self.num_layers, self.latent_dim)
        return self.latent_mean + self.latent_std * offset

    @torch.no_grad()
    def project(self, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Per-layer latents ``[B, L, D]`` for images ``[B, 3, H, W]`` in [0, 1] whose known pixels are
        ``mask [B, 1, H, W]`` (1 = known): one forward pass, no gradients, on the regressor's device.

        >>> lat = reg.project(collage, mask); out = model.synthesize(lat)
        """
        images, mask = _check_inputs(images, mask, self.resolution)
        device = self.latent_mean.device
        was_training = self.training
        self.eval()
        try:
            return self(images.to(device), mask.to(device))
        finally:
            self.train(was_training)

    # ------------------------------------------------------------------------------ files
    def save(self, path: Union[str, os.PathLike], meta: Optional[dict] = None) -> None:
        """Write the weights (prefix ``g``) and the config as safetensors + JSON metadata (no pickle)."""
        from .zoo.training import save_modules
        save_modules(path, {"g": self}, {**(meta or {}), "regressor": self.config()})

    @classmethod
    def load(cls, path: Union[str, os.PathLike], map_location: Union[str, torch.device] = "cpu") -> "LatentRegressor":
        """Read a file written by :meth:`save` or by the regressor recipe."""
        from .zoo.training import load_modules, read_meta
        meta = read_meta(path)
        if "regressor" not in meta:
            raise ValueError(f"{path} holds no regressor config: write it with LatentRegressor.save or train_regressor")
        reg = cls.from_config(meta["regressor"])
        load_modules(path, {"g": reg})
        reg.meta = meta
        return reg.to(map_location).eval()


def project(model: LatentModel, regressor: LatentRegressor, images: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``regressor.project(images, mask)`` after checking that the regressor fits ``model``.

    >>> out = model.synthesize(project(model, reg, images, mask))
    """
    regressor.check_model(model)
    return regressor.project(images, mask).to(model.device)


def load_regressor(name: Union[str, os.PathLike], model: Optional[LatentModel] = None) -> LatentRegressor:
    """The shipped regressor of zoo model ``name`` (e.g. ``"sprites-style"``), or one saved at a path.

    With ``model`` it is checked against the model's latent layout and moved to its device.

    >>> reg = load_regressor("sprites-style", lw.load("sprites-style"))
    """
    from . import zoo

    key = str(name)
    if key in ZOO_REGRESSORS or key in ZOO_REGRESSORS.values():
        zoo_name = ZOO_REGRESSORS.get(key, key)
        path = zoo.WEIGHTS_DIR / f"{zoo_name}.safetensors"
        if not path.exists():
            raise FileNotFoundError(f"the regressor {zoo_name!r} is not in this install ({path}); train it with: "
                                    f"{zoo.RECIPES[zoo_name]}")
    else:
        path = Path(name)
        if not path.exists():
            raise FileNotFoundError(f"no regressor named {key!r}: zoo regressors are {sorted(ZOO_REGRESSORS)}; "
                                    "or pass the path of a file written by LatentRegressor.save / train_regressor")
    reg = LatentRegressor.load(path)
    if model is not None:
        reg.check_model(model)
        reg = reg.to(model.device)
    return reg


# ================================================================================================ losses
@torch.no_grad()
def latent_stats(model: LatentModel, n: int = 2048, seed: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """Mean ``[D]`` (the model's ``w_avg`` where it keeps one) and per-dimension std ``[D]`` of the
    synthesis latents of ``n`` seeded samples.

    >>> mean, std = latent_stats(model)
    """
    lat = model.to_synthesis(model.sample_z(n, seed=seed)).float()
    mean = lat.mean(0)
    if model.has_mapping:
        avg = model.w_avg().float()
        if float(avg.abs().sum()) > 0:
            mean = avg.to(lat.device)
    return mean, lat.std(0).clamp(min=1e-6)


def _features(device: torch.device) -> nn.Module:
    """The shared ``sprites-features`` net (cached by :mod:`metrics`), frozen: gradients flow to images only."""
    from . import metrics
    return metrics._features_net(device).requires_grad_(False)


def perceptual_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """LPIPS-style distance per image ``[B]`` between images ``[B, 3, H, W]`` in [0, 1], on the conv
    activations of ``sprites-features`` (each location's channel vector unit-normalised, squared
    differences summed over channels, averaged over locations and over the 4 stages). Differentiable;
    images of another size are resized to 64x64 first.

    >>> perceptual_distance(out, target).mean().backward()
    """
    device = a.device
    net = _features(device)
    if tuple(a.shape[2:]) != (64, 64):
        a = F.interpolate(a, size=(64, 64), mode="bilinear", align_corners=False, antialias=True)
        b = F.interpolate(b, size=(64, 64), mode="bilinear", align_corners=False, antialias=True)
    x = torch.cat([a, b]) * 2 - 1
    total = torch.zeros(a.shape[0], device=device)
    stages = 0
    for layer in net.convs:
        x = layer(x)
        if isinstance(layer, nn.Conv2d):
            continue
        fa, fb = x.chunk(2)
        fa = fa / (fa.pow(2).sum(1, keepdim=True) + 1e-8).sqrt()
        fb = fb / (fb.pow(2).sum(1, keepdim=True) + 1e-8).sqrt()
        total = total + (fa - fb).pow(2).sum(1).mean((1, 2))
        stages += 1
    return total / max(stages, 1)


def masked_loss(out: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, perceptual: float = 1.0) -> torch.Tensor:
    """Per-image loss ``[B]`` on the known pixels only: MSE over ``mask`` + ``perceptual`` x
    :func:`perceptual_distance` of the two images with the unknown pixels zeroed. The loss of
    :func:`refine` and of the projection benchmark's optimisation baseline.

    >>> masked_loss(model.synthesize_grad(lat), collage, mask).sum().backward()
    """
    known = mask.sum((1, 2, 3)).clamp(min=1.0) * out.shape[1]
    mse = ((out - target).pow(2) * mask).sum((1, 2, 3)) / known
    if perceptual:
        mse = mse + perceptual * perceptual_distance(out * mask, target * mask)
    return mse


def masked_l1(out: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean absolute error per image ``[B]`` over the known pixels (``mask`` = 1): the fidelity
    measure of Chai et al.

    >>> masked_l1(model.synthesize(lat), collage, mask).mean()
    """
    known = mask.sum((1, 2, 3)).clamp(min=1.0) * out.shape[1]
    return ((out - target).abs() * mask).sum((1, 2, 3)) / known


def regression_loss(model: LatentModel, regressor: LatentRegressor, images: torch.Tensor, mask: torch.Tensor,
                    latents: torch.Tensor, weights: Optional[Dict[str, float]] = None) -> Dict[str, torch.Tensor]:
    """Chai et al.'s training loss on one batch of generated ``images`` with their true per-layer
    ``latents``: the regressor sees the masked image and must recover the latent (squared error in
    units of the latent spread) and the whole image (pixel MSE + perceptual distance, through the
    frozen generator). Returns the weighted ``loss`` and each term.

    Collages (rows of ``latents`` that are NaN, see :func:`training_batch`) have no true latent and
    no true hidden pixels: they count in the pixel and perceptual terms on their known pixels only."""
    w = {**LOSS_WEIGHTS, **(weights or {})}
    pred = regressor(images, mask)
    known = torch.isfinite(latents).flatten(1).all(1)
    zero = torch.zeros((), device=images.device)
    lat = (((pred - latents) / regressor.latent_std)[known].pow(2).mean()) if bool(known.any()) else zero
    out = model.synthesize_grad(pred)
    m = torch.where(known.view(-1, 1, 1, 1), torch.ones_like(mask), mask)  # where each image is judged
    pix = (((out - images).pow(2) * m).sum((1, 2, 3)) / (m.sum((1, 2, 3)).clamp(min=1.0) * out.shape[1])).mean()
    per = perceptual_distance(out * m, images * m).mean() if w["perceptual"] else zero
    loss = w["latent"] * lat + w["pixel"] * pix + w["perceptual"] * per
    return {"loss": loss, "latent": lat.detach(), "pixel": pix.detach(), "perceptual": per.detach()}


# ================================================================================================ training
@torch.no_grad()
def training_batch(model: LatentModel, batch: int, seed: int, mix: float = 0.5,
                   collage: float = 0.0) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(images, mask, latents)`` for one training step, all from ``seed``: latents of seeded
    samples (for a share ``mix`` of them, on models with several per-layer latents, the layers from a
    random crossover on come from a second sample, so that the regressor learns per-layer latents),
    their images, and Chai masks.

    A share ``collage`` of the rows (the first ones) become collages as a user pastes them: a part
    of another sample (a random rectangle, or for every other row a coarse blob) pasted over the
    image, and known pixels = the Chai mask plus the pasted part. A collage has no true latent: its
    row of ``latents`` is NaN, and :func:`regression_loss` judges it on its known pixels only."""
    g = torch.Generator().manual_seed(int(seed))
    lat = model.broadcast(model.to_synthesis(model.sample_z(batch, seed=seed))).clone()
    if model.num_layers > 1 and mix > 0:
        other = model.to_synthesis(model.sample_z(batch, seed=seed + HELD_OUT_SEED // 2))
        cross = torch.randint(1, model.num_layers, (batch,), generator=g)
        mixed = torch.rand(batch, generator=g) < mix
        layer = torch.arange(model.num_layers)
        take = (mixed[:, None] & (layer[None, :] >= cross[:, None])).to(lat.device)
        lat = torch.where(take[..., None], other[:, None, :].expand_as(lat), lat)
    images = model.synthesize(lat)
    mask = sample_masks(batch, size=model.resolution, generator=g).to(images.device)
    n_c = int(round(collage * batch))
    if n_c:
        r = model.resolution
        src = model.synthesize(model.broadcast(model.to_synthesis(model.sample_z(n_c, seed=seed + HELD_OUT_SEED // 3))))
        paste = sample_masks(n_c, size=r, generator=g, grid=3, cutoff=(0.2, 0.5))
        for i in range(0, n_c, 2):  # rectangles of 12-48 px a side on even rows
            h, w = (int(torch.randint(12 * r // 64, 48 * r // 64 + 1, (1,), generator=g)) for _ in range(2))
            y, x = int(torch.randint(0, r - h + 1, (1,), generator=g)), int(torch.randint(0, r - w + 1, (1,), generator=g))
            paste[i].zero_()
            paste[i, :, y:y + h, x:x + w] = 1
        paste = paste.to(images.device)
        images[:n_c] = paste * src + (1 - paste) * images[:n_c]
        mask[:n_c] = torch.maximum(mask[:n_c], paste)
        lat[:n_c] = float("nan")
    return images, mask, lat


def train_regressor(model: LatentModel, steps: int, regressor: Optional[LatentRegressor] = None, *,
                    batch: int = 16, lr: float = 5e-4, seed: int = 0, weights: Optional[Dict[str, float]] = None,
                    ckpt: Optional[Union[str, os.PathLike]] = None, export: Optional[Union[str, os.PathLike]] = None,
                    minutes: float = math.inf, every: float = 180.0, log_every: int = 0,
                    meta: Optional[dict] = None, progress: bool = True, history: Optional[list] = None,
                    callback: Optional[Tuple[int, Callable[[int, "LatentRegressor"], None]]] = None,
                    collage: float = 0.0) -> LatentRegressor:
    """Train ``regressor`` (new from :meth:`LatentRegressor.for_model` if None) on generated samples of
    ``model`` (frozen) until ``steps`` total steps or ``minutes`` pass; Adam (beta1 0.5, as Chai et al.).

    With ``ckpt`` the run resumes from that file when it exists (weights and step count) and writes it
    every ``every`` seconds and at the end (also on Ctrl-C); ``export`` also receives the weights for
    shipping. Step ``s`` draws its batch from seed ``TRAIN_SEED_BASE * (seed + 1) + s``, so a resumed
    run continues the same data stream. Each step's terms are appended to ``history`` if given; the
    step reached is ``regressor.steps_trained``. ``callback=(k, fn)`` calls ``fn(step, regressor)``
    after every k-th step (e.g. a held-out evaluation; the regressor is in train mode again after).
    ``collage``: the share of each batch drawn as pasted collages (see :func:`training_batch`), for
    regressors that will project collages such as :class:`~latentwidgets.widgets.CollageCanvas` makes.

    >>> reg = train_regressor(model, steps=500, ckpt="training/my-regressor.resume.safetensors")
    """
    from .zoo.training import log_line, resume, save_modules, time_boxed
    import time

    if regressor is None:
        regressor = LatentRegressor.for_model(model, seed=seed)
    regressor.check_model(model)
    regressor.to(model.device)
    start = resume(ckpt, {"g": regressor}) if ckpt else 0
    opt = torch.optim.Adam(regressor.parameters(), lr=lr, betas=(0.5, 0.999))
    t0 = time.time()
    info = {"seed": seed, "batch": batch, "lr": lr, "collage": collage, "weights": {**LOSS_WEIGHTS, **(weights or {})},
            "generator": getattr(model, "name", "model"), **(meta or {})}

    def save(step: int) -> None:
        regressor.steps_trained = step
        m = {**info, "step": step, "regressor": regressor.config()}
        if ckpt:
            save_modules(ckpt, {"g": regressor}, m)
        if export:
            save_modules(export, {"g": regressor}, m)
        if ckpt or export:
            print(f"checkpoint at step {step} -> {ckpt or export}", flush=True)

    regressor.steps_trained = start
    if start >= steps:
        return regressor.eval()
    bar = tqdm(range(start, steps), initial=start, total=steps, desc="train regressor", disable=not progress)
    regressor.train()
    with frozen(model.module):
        for step in time_boxed(bar, minutes, every=(every, save) if (ckpt or export) else None):
            images, mask, lat = training_batch(model, batch, TRAIN_SEED_BASE * (seed + 1) + step, collage=collage)
            terms = regression_loss(model, regressor, images, mask, lat, weights)
            opt.zero_grad(set_to_none=True)
            terms["loss"].backward()
            opt.step()
            values = {k: float(v.detach()) for k, v in terms.items()}
            if history is not None:
                history.append({"step": step, **values})
            if progress:
                bar.set_postfix(loss=f"{values['loss']:.4f}", refresh=False)
            if log_every and step % log_every == 0:
                print(log_line(step, t0, **values), flush=True)
            regressor.steps_trained = step + 1
            if callback and (step + 1) % callback[0] == 0:
                callback[1](step + 1, regressor.eval())
                regressor.train()
    return regressor.eval()


# ================================================================================================ refine
def refine(model: LatentModel, latents: torch.Tensor, images: torch.Tensor, mask: torch.Tensor, steps: int = 50,
           lr: float = 0.05, perceptual: float = 1.0, progress: bool = True) -> torch.Tensor:
    """Optimise per-layer ``latents [B, L, D]`` (e.g. from ``reg.project``) with Adam on
    :func:`masked_loss` against ``images`` where ``mask`` is 1; steps are in units of the latent's
    spread (``lr`` 0.05 moves each dimension by about 5% of its std per step). Each image's latent is
    optimised on its own loss. Returns the refined latents (no grad); Ctrl-C keeps the current ones.

    >>> lat = refine(model, reg.project(x, m), x, m, steps=50)
    """
    images, mask = _check_inputs(images, mask, model.resolution)
    lat0 = model.broadcast(latents).detach().to(model.device).float()
    if lat0.shape[0] != images.shape[0]:
        raise ValueError(f"latents hold {lat0.shape[0]} samples but images hold {images.shape[0]}: pass one latent per image")
    images, mask = images.to(model.device), mask.to(model.device)
    _, std = latent_stats(model, n=512)
    delta = torch.zeros_like(lat0, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=lr)
    with frozen(model.module):
        try:
            for _ in tqdm(range(steps), desc="refine", disable=not progress):
                out = model.synthesize_grad(lat0 + std * delta)
                loss = masked_loss(out, images, mask, perceptual).sum()
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        except KeyboardInterrupt:
            pass
    return (lat0 + std * delta).detach()
