"""Jupyter widgets (anywidget): UI state and frames, no math; the compute layer draws every image.

    from latentwidgets.widgets import DirectionExplorer
    DirectionExplorer(model, directions, seed=0, n=4)

The shared frame transport (``transport.py`` + ``static/transport.js``) serves every widget.
"""

from __future__ import annotations

from .collage import CollageCanvas
from .explorer import DirectionExplorer
from .layerwise import LayerwiseEditor

__all__ = ["CollageCanvas", "DirectionExplorer", "LayerwiseEditor"]
