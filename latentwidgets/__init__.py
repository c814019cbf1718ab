"""latentwidgets: Jupyter widgets for exploring and steering the latent spaces of generative models.

    import latentwidgets as lw
    model = lw.load("sprites-style")             # embedded default, offline
    images = model.generate(model.sample_z(8, seed=0))
"""

from __future__ import annotations

from . import zoo
from .models import LatentModel, load
from .widgets import DirectionExplorer

__version__ = "0.1.0"
__all__ = ["LatentModel", "load", "zoo", "__version__", "DirectionExplorer"]
