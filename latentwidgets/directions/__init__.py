"""Direction discovery: each method takes a model (and options) and returns a ``Directions`` record.

    from latentwidgets import find_directions
    d = find_directions(model, method="pca", n_components=10)

Methods: ``pca`` (GANSpace), ``closed_form`` (SeFa), ``factors`` (Plumerault et al.), ``tensor``
(Oldfield et al.), ``attribute`` (InterFaceGAN boundaries / GAN-Control controllers).
``help(find_directions)`` lists every method's options with their defaults and meanings; an option the
method does not take is refused with the list of those it takes.
"""

from __future__ import annotations

import ast
import difflib
import importlib
import importlib.util
import inspect
import re
import textwrap
from pathlib import Path
from typing import Any, Literal

from ..models.base import LatentModel
from .record import Directions

__all__ = ["Directions", "find_directions", "METHODS", "Method"]

#: the discovery methods' names (``find_directions``'s ``method``)
Method = Literal["pca", "closed_form", "factors", "tensor", "attribute"]

#: method name -> "module:function" (modules load lazily)
METHODS: dict[str, str] = {
    "pca": "latentwidgets.directions.pca:pca_directions",
    "closed_form": "latentwidgets.directions.closed_form:closed_form_directions",
    "factors": "latentwidgets.directions.factors:factor_directions",
    "tensor": "latentwidgets.directions.tensor:tensor_directions",
    "attribute": "latentwidgets.directions.attribute:attribute_directions",
}


def find_directions(model: LatentModel, method: Method = "pca", **options: Any) -> Directions:
    """Run discovery ``method`` on ``model``; ``options`` are the method's keyword arguments, listed below.

        d = find_directions(model, "closed_form", n_components=6, layers="coarse")

    An option the method does not take is refused, with the list of those it takes. Each method, its
    function (whose ``help`` says more), what it does, and its options as ``name=default: meaning``:
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {sorted(METHODS)}")
    mod, fn = METHODS[method].split(":")
    try:
        func = getattr(importlib.import_module(mod), fn)
    except (ImportError, AttributeError) as e:
        raise NotImplementedError(f"method {method!r} is not available in this install: {e}") from e
    accepted = list(inspect.signature(func).parameters)[1:]  # after the model
    for name in options:
        if name not in accepted:
            close = difflib.get_close_matches(name, accepted, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise TypeError(f"method {method!r} takes no option {name!r}{hint}; its options: {', '.join(accepted)} "
                            f"(help(find_directions) says what each does)")
    return func(model, **options)


def _option_meanings(doc: str) -> dict[str, str]:
    """``name -> meaning`` from the ``Args:`` section of a (cleaned) Google-style docstring."""
    lines = doc.splitlines()
    start = next((i for i, line in enumerate(lines) if line.strip() == "Args:"), len(lines))
    meanings: dict[str, str] = {}
    name = None
    for line in lines[start + 1:]:
        entry = re.match(r" {4}(\w+): (.*)", line)
        if entry:
            name, meanings[entry[1]] = entry[1], entry[2].strip()
        elif name and line.startswith(" " * 8):
            meanings[name] += " " + line.strip()
        else:
            break
    return meanings


def _method_help(method: str, target: str) -> str:
    """Help text for one method: its function's docstring summary and options (default and meaning), read
    from the module's source with ``ast`` so that building ``find_directions``'s docstring imports no
    method module."""
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
    doc = ast.get_docstring(node) or ""
    meanings = _option_meanings(doc)
    summary = " ".join(doc.split("\n\n")[0].split())
    # a paragraph and a bulleted list: plain text for help(), Markdown for the API reference
    lines = [textwrap.fill(f"{method!r} ({mod.rsplit('.', 1)[-1]}.{fn}): {summary}", 100, subsequent_indent="    "), ""]
    for p, d in params:
        shown_name = p.arg if d is None else f"{p.arg}={shown(d)}"
        meaning = meanings.get(p.arg, f"see help({fn})")
        lines.append(textwrap.fill(f"{shown_name}: {meaning}", 100, initial_indent="- ", subsequent_indent="  ",
                                   break_long_words=False, break_on_hyphens=False))
    return "\n".join(lines)


find_directions.__doc__ = (find_directions.__doc__ or "") + "\n" + "\n\n".join(
    textwrap.indent(_method_help(m, t), "    ") for m, t in METHODS.items())
# the signature as help() and IDEs show it names the methods (the annotations are strings under
# ``from __future__ import annotations``; ``Method`` would show as its alias name)
find_directions.__signature__ = inspect.signature(find_directions).replace(  # type: ignore[attr-defined]
    parameters=[p.replace(annotation=Method) if p.name == "method" else p
                for p in inspect.signature(find_directions).parameters.values()])
