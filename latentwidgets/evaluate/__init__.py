"""Every measurement: realism of images, fidelity of edits, the zoo's quality report.

Tests, benchmarks and notebooks measure through this package; nothing below it (zoo, models,
directions, edit, export, regress) imports it. Import the module you need::

    from latentwidgets.evaluate import metrics
    metrics.sprite_fid(fake, real)                     # sprite-FID, factor W1, clean-object rate

    python -m latentwidgets.evaluate.zoo_report --json report.json   # size, speed, realism of the zoo

Directions and edits against the sprites ground truth: ``correlation`` (measured samples, best
|corr| of a direction with each factor), ``mod`` (Oldfield et al.'s MOD, edit picks, strength
matching), ``mod_protocol`` (the fidelity benchmark's MOD protocol: budgets, candidates, sample
sets, TCA fit), ``factors`` (calibrated factor traversals), ``controllers`` (attribute control).

This file stays light: it imports nothing, so ``import latentwidgets.evaluate.x`` costs only ``x``.
"""
