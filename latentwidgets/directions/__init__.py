"""Direction discovery: each method takes a model (and options) and returns a ``Directions`` record.

    from latentwidgets import find_directions
    d = find_directions(model, method="pca", n_components=10)

Methods: ``pca`` (GANSpace), ``closed_form`` (SeFa), ``factors`` (Plumerault et al.), ``tensor``
(Oldfield et al.), ``attribute`` (InterFaceGAN boundaries / GAN-Control controllers).
``help(find_directions)`` lists every method's options.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import textwrap
from pathlib import Path
from typing import Any

from ..models.base import LatentModel
from .record import Directions

__all__ = ["Directions", "find_directions", "METHODS"]

#: method name -> "module:function" (modules load lazily)
METHODS: dict[str, str] = {
    "pca": "latentwidgets.directions.pca:pca_directions",
    "closed_form": "latentwidgets.directions.closed_form:closed_form_directions",
    "factors": "latentwidgets.directions.factors:factor_directions",
    "tensor": "latentwidgets.directions.tensor:tensor_directions",
    "attribute": "latentwidgets.directions.attribute:attribute_directions",
}


def find_directions(model: LatentModel, method: str = "pca", **options: Any) -> Directions:
    """Run discovery ``method`` on ``model``; ``options`` go to the method's function (see :data:`METHODS`).

        d = find_directions(model, "closed_form", n_components=6, layers="coarse")

    Each method, its function, what it does, and its options with their defaults:
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(METHODS)}")
    mod, fn = METHODS[method].split(":")
    try:
        func = getattr(importlib.import_module(mod), fn)
    except (ImportError, AttributeError) as e:
        raise NotImplementedError(f"method {method!r} is not available in this install: {e}") from e
    return func(model, **options)


def _method_help(method: str, target: str) -> str:
    """Help text for one method: its function's docstring summary and options, read from the module's
    source with ``ast`` so that building ``find_directions``'s docstring imports no method module."""
    mod, fn = target.split(":")
    try:
        spec = importlib.util.find_spec(mod)
        source = Path(spec.origin).read_text(encoding="utf-8")  # type: ignore[union-attr, arg-type]
        body = ast.parse(source).body
        node = next(n for n in body if isinstance(n, ast.FunctionDef) and n.name == fn)
    except (ImportError, OSError, StopIteration, SyntaxError, AttributeError, TypeError):
        return f"{method}: see help({mod}.{fn})"
    # module constants used as defaults (steps=DEFAULT_STEPS) are shown with their value
    constants = {t.id: n.value for n in body if isinstance(n, ast.Assign | ast.AnnAssign) and n.value is not None
                 for t in (n.targets if isinstance(n, ast.Assign) else [n.target]) if isinstance(t, ast.Name)}

    def shown(d: ast.expr) -> str:
        if isinstance(d, ast.Name) and d.id in constants:
            d = constants[d.id]
        return ast.unparse(d)

    a = node.args
    positional = a.posonlyargs + a.args
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    params = list(zip(positional, defaults, strict=True))[1:] + list(zip(a.kwonlyargs, a.kw_defaults, strict=True))
    options = ", ".join(p.arg if d is None else f"{p.arg}={shown(d)}" for p, d in params)
    summary = " ".join((ast.get_docstring(node) or "").split("\n\n")[0].split())
    return "\n".join([textwrap.fill(f"{method!r} ({mod.rsplit('.', 1)[-1]}.{fn}): {summary}", 100,
                                    subsequent_indent="    "),
                      textwrap.fill(f"options: {options}", 100, initial_indent="    ", subsequent_indent="        ")])


find_directions.__doc__ = (find_directions.__doc__ or "") + "\n" + "\n\n".join(
    textwrap.indent(_method_help(m, t), "    ") for m, t in METHODS.items())
