"""Every measurement: realism of images, fidelity of edits, the zoo's quality report.

Tests, benchmarks and notebooks measure through this package; nothing below it (zoo, models,
directions, edit, export, regress) imports it. Import the module you need::

    from latentwidgets.evaluate import metrics
    metrics.sprite_fid(fake, real)                     # sprite-FID, factor W1, clean-object rate

    python -m latentwidgets.evaluate.zoo_report --json report.json   # size, speed, realism of the zoo

This file stays light: it imports nothing, so ``import latentwidgets.evaluate.x`` costs only ``x``.
"""
