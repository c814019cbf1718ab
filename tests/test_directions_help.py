"""``help(find_directions)`` lists every method with each of its options and their defaults."""

import importlib
import inspect
import pydoc

from latentwidgets.directions import METHODS, find_directions


def test_help_lists_every_method_and_each_option_with_its_default():
    text = pydoc.render_doc(find_directions, renderer=pydoc.plaintext)
    flat = " ".join(text.split())
    for method, target in METHODS.items():
        mod, fn = target.split(":")
        func = getattr(importlib.import_module(mod), fn)
        assert f"{method!r} ({mod.rsplit('.', 1)[-1]}.{fn})" in flat
        params = list(inspect.signature(func).parameters.values())[1:]   # after the model
        assert params, f"{fn} takes no options?"
        for p in params:
            shown = p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}"
            assert shown in flat, f"help(find_directions) does not show {shown} of {method!r}"
