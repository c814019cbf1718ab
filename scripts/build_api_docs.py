"""Build the HTML API reference of latentwidgets with pdoc, in one command.

    .venv/bin/python scripts/build_api_docs.py                 # -> artifacts/api/index.html
    .venv/bin/python scripts/build_api_docs.py --out /tmp/api

Needs the ``docs`` extra (pdoc 16; the ``test`` extra has it too). Documents the package and every
public module under it, found on disk (nothing imported to find them): every name in a package's
``__all__``, the models' adapters, the discovery methods, the widgets with their methods. Not
documented: private modules (``_name``), ``__main__`` and ``latentwidgets.testing`` (the tests' own
harness). Docstrings are read as Google style (``Args:`` sections become lists) over reST inline markup.
Any warning while building (a module that fails to import, an annotation pdoc cannot resolve) is
printed and fails the build (exit status 1), so that the reference never silently loses a page; only
other packages' deprecation notices, raised while they are imported, are not the reference's concern.
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "latentwidgets"
#: modules left out of the reference (the tests' harness)
EXCLUDED = ("latentwidgets.testing",)


def module_names(package_dir: Path) -> list[str]:
    """Dotted names of the public modules under ``package_dir``, packages before their modules."""
    names = []
    for path in sorted(package_dir.rglob("*.py")):
        parts = list(path.relative_to(package_dir.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        name = ".".join(parts)
        if any(p.startswith("_") for p in parts) or any(name == e or name.startswith(e + ".") for e in EXCLUDED):
            continue
        names.append(name)
    return names


def build(out: Path) -> list[str]:
    """Write the reference into ``out`` (``index.html``, one page per module, ``search.js``); returns the
    warnings raised while building, as text."""
    import pdoc.doc
    import pdoc.docstrings
    import pdoc.render

    import latentwidgets

    package_dir = Path(latentwidgets.__file__).resolve().parent
    pdoc.render.configure(docformat="google", footer_text=f"latentwidgets {latentwidgets.__version__}")
    google = pdoc.docstrings.google

    def google_then_literal_markers(docstring: str) -> str:
        """Google-style sections, then reST's literal-block marker read as in reST ("a call::" -> "a call:",
        "::" alone on its line -> nothing), which pdoc would show as it is (the indented block after it is
        a code block either way). After, not before: "Usage::" must not become a Google section."""
        return re.sub(r"^[ \t]*::$", "", re.sub(r"(?<=\S)::$", ":", google(docstring), flags=re.M), flags=re.M)

    getdoc = pdoc.doc._safe_getdoc

    def getdoc_keeping_examples(obj: object) -> str:
        """The docstring dedented by the margin of its closing quotes rather than by its least indented line
        (``inspect.cleandoc``), so that a summary followed only by an indented example keeps the example
        indented: a code block, not a paragraph."""
        doc, raw = getdoc(obj), getattr(obj, "__doc__", None)
        lines = raw.expandtabs().split("\n") if isinstance(raw, str) else []
        if len(lines) < 3 or lines[-1].strip() or inspect.cleandoc(raw) != doc:
            return doc
        margin = len(lines[-1])
        if any(line[:margin].strip() for line in lines[1:]):
            return doc
        return "\n".join([lines[0].strip()] + [line[margin:].rstrip() for line in lines[1:]]).strip()

    pdoc.docstrings.google = google_then_literal_markers
    pdoc.doc._safe_getdoc = getdoc_keeping_examples
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            modules = {name: pdoc.doc.Module.from_name(name) for name in module_names(package_dir)}
            pages = {name: pdoc.render.html_module(module, modules) for name, module in modules.items()}
            index = pdoc.render.html_index(modules)
            search = pdoc.render.search_index(modules)
    finally:
        pdoc.docstrings.google = google
        pdoc.doc._safe_getdoc = getdoc
    for name, html in pages.items():
        page = out / f"{name.replace('.', '/')}.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(html, encoding="utf-8")
    (out / "index.html").write_text(index, encoding="utf-8")
    (out / "search.js").write_text(search, encoding="utf-8")
    # another package's deprecation notice (raised while importing it) says nothing about the reference
    ours = (package_dir, Path(pdoc.doc.__file__).resolve().parent)
    return [f"{w.filename}:{w.lineno}: {w.category.__name__}: {w.message}" for w in caught
            if not issubclass(w.category, DeprecationWarning | PendingDeprecationWarning)
            or any(Path(w.filename).resolve().is_relative_to(d) for d in ours)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "artifacts" / "api",
                        help="folder to write the reference into (default: artifacts/api)")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))  # document this checkout's package, wherever the command runs from
    problems = build(args.out)
    for line in problems:
        print(f"warning: {line}", file=sys.stderr)
    if problems:
        print(f"build_api_docs: {len(problems)} warning(s) while building the reference", file=sys.stderr)
        return 1
    print(f"API reference: {args.out / 'index.html'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
