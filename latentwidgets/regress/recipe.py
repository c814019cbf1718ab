"""Recipe that trains ``sprites-style-regressor``: Chai et al.'s latent regressor for ``sprites-style``.

The regressor (:class:`latentwidgets.regress.LatentRegressor`) reads a masked image (RGB + mask) and
predicts the generator's 10 per-layer latents ``w+``. It trains on samples of the frozen
``sprites-style`` generator only (half of them style-mixed at a random layer), under Chai et al.'s
random masks (6x6 uniform noise, bilinear up, cutoff ~ U(0.3, 1.0) per batch), with the loss of
:func:`latentwidgets.regress.regression_loss`: 0.3 x the latent squared error in units of the
latent's spread + 100 x pixel MSE + the perceptual distance on ``sprites-features`` activations
(LPIPS cannot be had offline). Adam, beta1 0.5, batch 16. With ``--collage 0.25`` a quarter of each
batch is pasted collages of two samples (a rectangle or a coarse blob of one over the other), judged
on their known pixels only: the inputs ``CollageCanvas`` sends. Why, and from which step the
shipped file used it: ``docs/training.md``.

The generator must already be trained: the recipe reads the shipped ``sprites-style`` weights, and
when those change (the generator is still training) resume on the new ones with the same command;
the regressor then fine-tunes to the new generator.

Run (resumes from ``--ckpt`` when it exists; ``--export`` writes the shipped weights)::

    python -m latentwidgets.regress.recipe --threads 1 --minutes 35 \\
        --ckpt training/sprites-style-regressor.resume.safetensors \\
        --export latentwidgets/zoo/weights/sprites-style-regressor.safetensors

Every ``--eval-every`` steps it prints the masked L1 of projections of held-out samples under Chai
masks (``eval`` lines). ``--smoke`` runs a few steps into a temporary folder (what CI runs).

The shipped file's metadata and the logs in ``training/`` name this recipe by its former module,
``latentwidgets.zoo.train_regressor`` (``docs/training.md``).
"""

from __future__ import annotations

import sys
import time

import torch

from .. import regress
from .._checkpoint import read_meta
from ..models import load
from ..zoo import weights_path
from ..zoo.training import recipe_args, recipe_parser

SEED = 0
BATCH = 16
LR = 5e-4
EVAL_N = 64


@torch.no_grad()
def held_out_l1(model, reg: regress.LatentRegressor, n: int = EVAL_N) -> dict:
    """Masked L1 (known pixels) and full-image L1 of projections of ``n`` held-out samples under Chai
    masks, and the same for the mean latent (what an untrained regressor predicts)."""
    images, mask, _ = regress.training_batch(model, n, regress.HELD_OUT_SEED, mix=0.0)
    out = model.synthesize(reg.project(images, mask))
    mean = model.synthesize(reg.latent_mean.expand(n, reg.num_layers, -1))
    return {"masked_l1": round(float(regress.masked_l1(out, images, mask).mean()), 5),
            "full_l1": round(float((out - images).abs().mean()), 5),
            "mean_latent_masked_l1": round(float(regress.masked_l1(mean, images, mask).mean()), 5)}


def main(argv=None) -> int:
    ap = recipe_parser(__doc__, "training/sprites-style-regressor.resume.safetensors", minutes=35.0, batch=BATCH)
    ap.add_argument("--lr", type=float, default=LR)
    ap.add_argument("--generator", default="sprites-style", help="zoo generator to regress (default sprites-style)")
    for term, value in regress.LOSS_WEIGHTS.items():
        ap.add_argument(f"--{term}-weight", type=float, default=value, help=f"weight of the {term} term")
    ap.add_argument("--collage", type=float, default=0.25, help="share of each batch drawn as pasted collages")
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--eval-every", type=int, default=500)
    args = recipe_args(ap, argv)

    model = load(args.generator)
    reg = regress.LatentRegressor.for_model(model, seed=SEED)
    meta = {"recipe": "latentwidgets.regress.recipe", "generator": args.generator,
            "generator_step": read_meta(weights_path(args.generator)).get("step"),
            "objective": "Chai et al. latent regression: weights x (latent MSE in std units, pixel MSE, "
                         "sprites-features perceptual distance); generated samples only, Chai masks; "
                         f"a share {args.collage} of pasted two-sample collages (known pixels only) from step 12177"}
    t0 = time.time()
    history: list = []

    def evaluate(step: int, r: regress.LatentRegressor) -> None:
        print("eval", f"step={step}", held_out_l1(model, r), flush=True)

    weights = {term: getattr(args, f"{term}_weight") for term in regress.LOSS_WEIGHTS}
    try:
        reg = regress.train_regressor(model, args.steps, reg, batch=args.batch, lr=args.lr, seed=SEED,
                                      weights=weights, ckpt=args.ckpt, export=args.export, minutes=args.minutes,
                                      every=args.every, log_every=args.log_every, meta=meta, progress=False,
                                      history=history, callback=(args.eval_every, evaluate), collage=args.collage)
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: the checkpoint was written on the way out
        print(f"stopped at step {reg.steps_trained}", flush=True)
    if history:
        secs = time.time() - t0
        print(f"{len(history)} steps in {secs:.0f}s ({secs / len(history):.3f} s/step, batch {args.batch}); "
              f"now at step {reg.steps_trained}", flush=True)
        print("eval", f"step={reg.steps_trained}", held_out_l1(model, reg), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
