"""``help(find_directions)`` shows, as a user reads it, the methods in the signature and every method's
options with their defaults and meanings; an option a method does not take is refused with its options."""

import importlib
import inspect
import pydoc
import re
from typing import get_args

import pytest

import latentwidgets as lw
from latentwidgets.directions import METHODS, Method, find_directions


def _method_functions():
    for method, target in METHODS.items():
        mod, fn = target.split(":")
        yield method, mod, fn, getattr(importlib.import_module(mod), fn)


def _documented_options(func) -> dict[str, str]:
    """The ``Args:`` entries of ``func``'s own docstring: name -> the first line of its meaning."""
    doc = inspect.getdoc(func) or ""
    assert "\nArgs:\n" in doc, f"{func.__name__}'s docstring has no Args: section"
    section = doc.split("\nArgs:\n", 1)[1]
    return dict(re.findall(r"^ {4}(\w+): (.*)$", section, flags=re.M))


def test_the_signature_names_every_method():
    assert set(get_args(Method)) == set(METHODS)
    text = pydoc.render_doc(find_directions, renderer=pydoc.plaintext)
    signature = next(line for line in text.splitlines() if line.startswith("find_directions("))
    choices = ", ".join(repr(m) for m in get_args(Method))
    assert f"method: Literal[{choices}] = 'pca'" in signature, signature


@pytest.mark.parametrize("method", list(METHODS))
def test_each_method_documents_every_option_in_its_own_help(method):
    _, mod, fn, func = next(m for m in _method_functions() if m[0] == method)
    params = list(inspect.signature(func).parameters)[1:]  # after the model
    documented = _documented_options(func)
    assert list(documented) == params, f"{fn}'s Args: section must list its options in order: {params}"
    assert all(len(meaning.split()) >= 2 for meaning in documented.values())


def test_help_lists_every_method_and_each_option_with_its_default_and_meaning():
    flat = " ".join(pydoc.render_doc(find_directions, renderer=pydoc.plaintext).split())
    for method, mod, fn, func in _method_functions():
        assert f"{method!r} ({mod.rsplit('.', 1)[-1]}.{fn})" in flat
        meanings = _documented_options(func)
        for p in list(inspect.signature(func).parameters.values())[1:]:
            shown = p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}"
            start = " ".join(meanings[p.name].split()[:4])
            assert f"- {shown}: {start}" in flat, f"help(find_directions) lacks {shown}: {start}... of {method!r}"


def test_an_option_the_method_does_not_take_is_refused_with_its_options():
    model = lw.load("sprites-style")
    with pytest.raises(TypeError, match=r"takes no option 'n_component' \(did you mean 'n_components'\?\); "
                                        r"its options: n_components, layers, sigma_samples, seed, progress"):
        find_directions(model, "closed_form", n_component=3)
    with pytest.raises(TypeError, match="'pca' takes no option 'layers'.*its options: n_components, space"):
        find_directions(model, "pca", layers="coarse")
