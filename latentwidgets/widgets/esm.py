"""Serve the plain ES modules in ``static/`` to anywidget as one module, with no build step.

anywidget loads a widget's ``_esm`` from a string, so relative imports cannot be resolved by the
browser. The front-end files stay plain ES modules (vitest imports them directly), and this module
inlines their local imports when a widget class is defined::

    class DirectionExplorer(anywidget.AnyWidget):
        _esm = esm_source("explorer.js")

Supported (and used by our modules): single-line ``import { a, b as c } from "./x.js";`` of sibling
files, and ``export`` in front of ``function``, ``async function``, ``class``, ``const`` or ``let`` in
the imported files. Each imported file is wrapped in its own function scope, included once, in
dependency order. The entry file keeps its own exports (``export default``).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

#: folder of the served front-end files (ships in the wheel as package data)
STATIC = Path(__file__).parent / "static"

_IMPORT = re.compile(r'^\s*import\s*\{([^}]*)\}\s*from\s*["\'](\./[^"\']+)["\'];?\s*$', re.M)
_EXPORT = re.compile(r"^export\s+(?:async\s+)?(function\*?|class|const|let)\s+([A-Za-z_$][\w$]*)", re.M)
_BAD = re.compile(r"^\s*(import\s+[^{(\s]|import\s*\*|export\s*\{|export\s+default)", re.M)


def _var(path: Path) -> str:
    return "__lw_" + re.sub(r"\W", "_", path.stem)


def _bindings(names: str) -> str:
    parts = []
    for item in names.split(","):
        item = item.strip()
        if not item:
            continue
        if " as " in item:
            a, b = (s.strip() for s in item.split(" as "))
            parts.append(f"{a}: {b}")
        else:
            parts.append(item)
    return ", ".join(parts)


def _rewrite_imports(src: str, here: Path, order: list[Path], seen: dict[Path, str], stack: tuple[Path, ...]) -> str:
    def repl(m: re.Match[str]) -> str:
        dep = (here.parent / m.group(2)).resolve()
        _include(dep, order, seen, stack)
        return f"const {{ {_bindings(m.group(1))} }} = {_var(dep)};"

    return _IMPORT.sub(repl, src)


def _include(path: Path, order: list[Path], seen: dict[Path, str], stack: tuple[Path, ...]) -> None:
    if path in seen:
        return
    if path in stack:
        raise ValueError(f"import cycle among front-end modules: {' -> '.join(p.name for p in stack + (path,))}")
    if not path.is_file():
        raise FileNotFoundError(f"front-end module {path} not found (imported from {stack[-1].name if stack else '?'})")
    src = path.read_text(encoding="utf-8")
    bad = _BAD.search(src)
    if bad:
        raise ValueError(f"{path.name}: '{bad.group(0).strip()}' is not supported in an imported front-end module; "
                         "use named imports from './file.js' and 'export function/const/class'")
    body = _rewrite_imports(src, path, order, seen, stack + (path,))
    names = [m.group(2) for m in _EXPORT.finditer(body)]
    body = _EXPORT.sub(lambda m: m.group(0)[len("export"):].lstrip(), body)
    seen[path] = (f"// ---- {path.name} (inlined by latentwidgets.widgets.esm)\n"
                  f"const {_var(path)} = (() => {{\n{body}\nreturn {{ {', '.join(names)} }};\n}})();\n")
    order.append(path)


@cache
def _cached(entry: str, mtimes: tuple[float, ...]) -> str:
    path = (STATIC / entry).resolve()
    order: list[Path] = []
    seen: dict[Path, str] = {}
    body = _rewrite_imports(path.read_text(encoding="utf-8"), path, order, seen, (path,))
    return "".join(seen[p] for p in order) + f"// ---- {path.name}\n" + body


def esm_source(entry: str) -> str:
    """The ES module text for ``static/<entry>`` with its local imports inlined.

        src = esm_source("explorer.js")   # one self-contained module for anywidget's _esm
    """
    mtimes = tuple(p.stat().st_mtime for p in sorted(STATIC.glob("*.js")))
    return _cached(entry, mtimes)


def css_source(name: str) -> str:
    """The stylesheet ``static/<name>``, preceded by the rules every view shares (``static/base.css``)."""
    shared = (STATIC / "base.css").read_text(encoding="utf-8")
    return shared + "\n" + (STATIC / name).read_text(encoding="utf-8")
