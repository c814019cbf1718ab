"""Tiny models and configurations shared by the test suite and the benchmarks; not part of the user API.

    from latentwidgets.testing import adapter_configs       # tiny random-init third-party generators
    from latentwidgets.testing.direction_models import tiny_style, PlantedModel   # known structure
    from latentwidgets.testing.sprite_decoder import LinearSprites                 # planted factor directions

Nothing in the library imports this package; it imports nothing here, so each module costs only itself.
"""
