"""latentwidgets: Jupyter widgets for exploring and steering the latent spaces of generative models.

    import latentwidgets as lw
    model = lw.load("sprites-style")             # embedded default, offline
    images = model.generate(model.sample_z(8, seed=0))
    d = lw.find_directions(model, "pca", n_components=6)
    lw.DirectionExplorer(model, d, n=4)           # live sliders in JupyterLab
    reg = lw.load_regressor("sprites-style", model)   # masked image -> latent in one pass
"""

from __future__ import annotations

from . import zoo
from .directions import Directions, find_directions
from .edit import Edit, render_edits
from .models import LatentModel, load
from .regress import LatentRegressor, load_regressor
from .widgets import CollageCanvas, DirectionExplorer, LayerwiseEditor


def load_ipython_extension(ipython):  # noqa: ANN001 - IPython's shell
    """``%load_ext latentwidgets``: rich output for Directions records and image tensors."""
    from .ipython_ext import load_ipython_extension as _load

    _load(ipython)


def unload_ipython_extension(ipython):  # noqa: ANN001
    """``%unload_ext latentwidgets``."""
    from .ipython_ext import unload_ipython_extension as _unload

    _unload(ipython)


__version__ = "0.1.0"
__all__ = ["LatentModel", "load", "zoo", "__version__", "find_directions", "Directions", "Edit", "render_edits",
           "DirectionExplorer", "LayerwiseEditor", "CollageCanvas", "LatentRegressor", "load_regressor"]
