"""Recipe that trains ``sprites-vae``: a beta-VAE on freshly rendered sprites scenes.

Objective: Gaussian reconstruction ``sum (x_hat - x)^2 / (2 sigma^2)`` over the 3x64x64 pixels with a
fixed ``sigma = 0.1``, plus ``beta * KL(q(z|x) || N(0, I))`` summed over the 10 latent dimensions, with
``beta = 4`` (linearly warmed up over the first 1,000 steps so the posterior does not collapse before
the decoder learns anything).

With ``sigma = 0.1`` a 1-pixel shift of the object costs over a thousand nats, so every factor is
worth encoding, and ``beta = 4`` presses them onto few, separate axes (why not a Bernoulli
likelihood: ``docs/training.md``). Each step draws new scenes (``sprites.sample``) with a seed
derived from the step, so a resumed run sees new data.

Run (resumes from ``--ckpt`` when it exists; ``--export`` writes the shipped weights)::

    python -m latentwidgets.zoo.train_vae --minutes 60 --threads 1 \
        --ckpt training/sprites-vae.resume.safetensors \
        --export latentwidgets/zoo/weights/sprites-vae.safetensors

``--smoke`` runs a few steps into a temporary folder (what CI runs).
"""

from __future__ import annotations

import sys
import time

import torch

from .._checkpoint import checkpoint, resume, time_boxed
from . import sprites
from .training import log_line, recipe_args, recipe_parser
from .vae_net import SpritesVAE, build_vae

SEED = 0
BATCH = 64
LR = 1e-3
LR_LATE = 3e-4          # from step LATE_STEP on
LATE_STEP = 12000
BETA = 4.0
SIGMA = 0.1             # pixel noise of the Gaussian likelihood
WARMUP = 1000


def vae_loss(vae: SpritesVAE, x: torch.Tensor, beta: float, gen: torch.Generator) -> tuple:
    """``(loss, recon, kl_per_dim)`` per image for a batch ``x`` in [0, 1]."""
    mu, logvar = vae.encode(x)
    eps = torch.randn(mu.shape, generator=gen)
    z = mu + eps * torch.exp(0.5 * logvar)
    recon = (vae.decoder(z) - x).pow(2).sum() / (2 * SIGMA ** 2) / x.shape[0]
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).mean(0)  # [z_dim]
    return recon + beta * kl.sum(), recon, kl


@torch.no_grad()
def quick_eval(vae: SpritesVAE, n: int = 256, seed: int = 987654) -> dict:
    """Reconstruction MSE, active latent dims, and the clean-object rate of prior samples."""
    x, _ = sprites.sample(n, seed=seed)
    mu, logvar = vae.encode(x)
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).mean(0)
    g = torch.Generator().manual_seed(seed)
    samples = vae.decoder(torch.randn(n, vae.z_dim, generator=g))
    return {"mse": round(float((vae.decoder(mu) - x).pow(2).mean()), 5),
            "kl": [round(float(v), 2) for v in kl],
            "clean_samples": float(sprites.measure(samples)["clean"].mean())}


def main(argv=None) -> int:
    ap = recipe_parser(__doc__, "training/sprites-vae.resume.safetensors", minutes=60.0, batch=BATCH)
    ap.add_argument("--beta", type=float, default=BETA)
    args = recipe_args(ap, argv)

    torch.manual_seed(SEED)
    vae = build_vae()
    start = resume(args.ckpt, {"net": vae})
    opt = torch.optim.Adam(vae.parameters(), lr=LR if start < LATE_STEP else LR_LATE)
    gen = torch.Generator().manual_seed(SEED + start)
    t0 = time.time()

    def save(step: int) -> None:
        meta = {"step": step, "recipe": "latentwidgets.zoo.train_vae", "seed": SEED, "batch": args.batch,
                "beta": args.beta, "z_dim": vae.z_dim,
                "sigma": SIGMA,
                "objective": "beta-VAE: Gaussian NLL (sigma 0.1) summed over pixels + beta * KL,"
                             " beta warm-up 1000 steps"}
        checkpoint(args, {"net": vae}, {"g": vae}, meta)

    vae.train()
    for step in time_boxed(range(start, args.steps), args.minutes, every=(args.every, save)):
        if step == LATE_STEP:
            for group in opt.param_groups:
                group["lr"] = LR_LATE
        x, _ = sprites.sample(args.batch, seed=SEED * 10**7 + 1 + step)
        beta = args.beta * min(1.0, (step + 1) / WARMUP)
        loss, recon, kl = vae_loss(vae, x, beta, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % 200 == 0:
            print(log_line(step, t0, loss=loss.item(), recon=recon.item(), kl=kl.sum().item()), flush=True)
        if step % 2000 == 0 and step > start:
            vae.eval()
            print("eval", quick_eval(vae), flush=True)
            vae.train()
    return 0


if __name__ == "__main__":
    sys.exit(main())
