"""Training the latent regressor on generated samples of a frozen model, batch by batch from seeds.

Nothing is held: step ``s`` draws its batch (latents, images, Chai masks, optional pasted collages)
from seed ``TRAIN_SEED_BASE * (seed + 1) + s``, so memory stays at one batch and a resumed run
continues the same stream; checkpoints are written temp-then-rename::

    reg = train_regressor(model, steps=2000, ckpt="reg.resume.safetensors")   # any LatentModel
    images, mask, latents = training_batch(model, 16, seed=HELD_OUT_SEED, mix=0.0)   # a held-out batch
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable

import torch
from tqdm.auto import tqdm

from .._checkpoint import resume, save_modules, time_boxed
from ..models.base import LatentModel, frozen
from ..zoo.training import log_line
from .losses import LOSS_WEIGHTS, regression_loss
from .masks import sample_masks
from .net import LatentRegressor

#: seeds of the training batches start here (step s uses TRAIN_SEED_BASE * (seed + 1) + s); evaluation
#: and benchmarks draw from HELD_OUT_SEED upwards, far from any training seed
TRAIN_SEED_BASE = 10**7
HELD_OUT_SEED = 900_000_000


@torch.no_grad()
def training_batch(model: LatentModel, batch: int, seed: int, mix: float = 0.5,
                   collage: float = 0.0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
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
            y = int(torch.randint(0, r - h + 1, (1,), generator=g))
            x = int(torch.randint(0, r - w + 1, (1,), generator=g))
            paste[i].zero_()
            paste[i, :, y:y + h, x:x + w] = 1
        paste = paste.to(images.device)
        images[:n_c] = paste * src + (1 - paste) * images[:n_c]
        mask[:n_c] = torch.maximum(mask[:n_c], paste)
        lat[:n_c] = float("nan")
    return images, mask, lat


def train_regressor(model: LatentModel, steps: int, regressor: LatentRegressor | None = None, *,
                    batch: int = 16, lr: float = 5e-4, seed: int = 0, weights: dict[str, float] | None = None,
                    ckpt: str | os.PathLike | None = None, export: str | os.PathLike | None = None,
                    minutes: float = math.inf, every: float = 180.0, log_every: int = 0,
                    meta: dict | None = None, progress: bool = True, history: list | None = None,
                    callback: tuple[int, Callable[[int, LatentRegressor], None]] | None = None,
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
