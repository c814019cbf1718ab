"""The latent regressor of Chai et al. (ICLR 2021): a masked image -> the generator's latent, in one pass.

A small conv encoder reads RGB plus a mask channel and predicts per-layer synthesis latents
``[B, L, D]`` (:mod:`.net`). It is trained on generated samples only, with the generator frozen,
under random masks from :func:`sample_masks` (:mod:`.masks`: uniform noise on a 6x6 grid, bilinearly
upsampled, thresholded at a cutoff drawn from U(0.3, 1.0) per batch). Loss = latent reconstruction +
pixel MSE + a perceptual term on the features of the ``sprites-features`` net (:mod:`.losses`; LPIPS
weights cannot be had offline). Training (:mod:`.training`), refinement by optimisation
(:mod:`.refinement`), the shipped regressors (:mod:`.shipped`) and the recipe that trained them
(``python -m latentwidgets.regress.recipe``) each have their module::

    import latentwidgets as lw
    from latentwidgets.regress import LatentRegressor, load_regressor, train_regressor, refine, sample_masks
    model = lw.load("sprites-style")
    reg = load_regressor("sprites-style", model)        # shipped weights (zoo: sprites-style-regressor)
    lat = reg.project(images, mask)                     # [B, L, D] in model.synthesis_space, no grad
    out = model.synthesize(lat)                         # the projected image
    lat = refine(model, lat, images, mask, steps=50)    # optional: optimise on the masked loss
    reg = train_regressor(model, steps=2000, ckpt="reg.resume.safetensors")   # any LatentModel
"""

from .losses import LOSS_WEIGHTS, masked_l1, masked_loss, perceptual_distance, regression_loss
from .masks import sample_masks
from .net import LatentRegressor, latent_stats, project
from .refinement import refine
from .shipped import ZOO_REGRESSORS, load_regressor
from .training import HELD_OUT_SEED, TRAIN_SEED_BASE, train_regressor, training_batch

__all__ = ["LatentRegressor", "load_regressor", "train_regressor", "project", "refine", "sample_masks",
           "masked_loss", "masked_l1", "perceptual_distance", "regression_loss", "latent_stats", "training_batch",
           "LOSS_WEIGHTS", "ZOO_REGRESSORS", "TRAIN_SEED_BASE", "HELD_OUT_SEED"]
