"""The layers of latentwidgets: every import inside the package points down (or stays in its layer).

Reads each module under ``latentwidgets/`` with ``ast`` (imports inside functions count too),
resolves relative imports, counts ``from . import x`` as importing module ``x``, and fails listing
every arrow that points up. Ranks, bottom to top: ``_checkpoint``, ``_imaging`` < ``zoo`` <
``models`` < ``directions`` < ``edit`` < {``export``, ``regress``} < ``evaluate`` < ``widgets`` <
``course``. ``testing``, ``ipython_ext`` and the package ``__init__`` are not ranked (nor is
``latentwidgets_server``, a package of its own); importing the package ``__init__`` itself (which
re-exports the widgets) from a ranked module is an arrow to the top.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "latentwidgets"

RANK = {"_checkpoint": 0, "_imaging": 0, "zoo": 1, "models": 2, "directions": 3, "edit": 4, "export": 5,
        "regress": 5, "evaluate": 6, "widgets": 7, "course": 8}
UNRANKED = {"testing", "ipython_ext", "__init__"}
TOP = max(RANK.values()) + 1  # the package __init__ as a target: it imports the widgets


def module_name(path: Path, root: Path = PACKAGE) -> str:
    """``latentwidgets/regress/net.py`` -> ``latentwidgets.regress.net`` (a package's ``__init__`` -> the package)."""
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str, root: Path) -> bool:
    rel = Path(*name.split(".")[1:]) if "." in name else Path()
    base = root / rel
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imported_modules(source: str, module: str, is_package: bool, root: Path = PACKAGE) -> Iterator[tuple[int, str]]:
    """``(line, module)`` for every import in ``source``, function-local ones included; relative
    imports resolved against ``module``; ``from p import x`` names module ``p.x`` when that is a module
    under ``root``, else ``p``.

    >>> list(imported_modules("from .. import zoo", "latentwidgets.models.base", False))
    [(1, 'latentwidgets.zoo')]
    """
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = parts[: len(parts) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield node.lineno, sub if sub.startswith(root.name + ".") and _is_module(sub, root) else target


def rank(module: str) -> int | None:
    """The layer of a module of the package (None: not ranked, or outside the package)."""
    parts = module.split(".")
    if parts[0] != PACKAGE.name:
        return None
    if len(parts) == 1:
        return TOP
    return RANK.get(parts[1])


def upward_arrows(root: Path = PACKAGE) -> list[str]:
    """``path:line (module) -> target`` for every import under ``root`` that points up a layer."""
    bad = []
    for path in sorted(root.rglob("*.py")):
        module = module_name(path, root)
        mine = RANK.get(module.split(".")[1]) if "." in module else None
        if mine is None:
            continue
        source = path.read_text(encoding="utf-8")
        for line, target in imported_modules(source, module, path.name == "__init__.py", root):
            theirs = rank(target)
            if theirs is not None and theirs > mine:
                bad.append(f"{path.relative_to(root.parent)}:{line} ({module}) -> {target}")
    return sorted(set(bad))


def test_no_import_points_up_a_layer():
    bad = upward_arrows()
    assert not bad, f"{len(bad)} import(s) point up the layers:\n" + "\n".join(bad)


def test_every_part_of_the_package_has_a_layer():
    tops = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in PACKAGE.rglob("*.py")}
    unknown = sorted(tops - set(RANK) - UNRANKED)
    assert not unknown, f"give these a layer in tests/test_layers.py (RANK or UNRANKED): {unknown}"


def test_the_reader_catches_local_relative_and_package_imports(tmp_path):
    root = tmp_path / "latentwidgets"
    for rel, text in {
        "__init__.py": "from .widgets import Thing\n",
        "zoo/__init__.py": "def build():\n    from ..models import load\n",
        "models/__init__.py": "from .. import zoo\nimport latentwidgets\n",
        "models/base.py": "from . import helpers\nfrom ..widgets.frame import send\n",
        "models/helpers.py": "",
        "edit.py": "from latentwidgets.directions import Directions\nfrom latentwidgets import load\n",
        "directions/__init__.py": "",
        "widgets/__init__.py": "from ..edit import render\n",
        "widgets/frame.py": "",
        "testing/__init__.py": "from latentwidgets.widgets import Thing\n",
    }.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    assert upward_arrows(root) == [
        "latentwidgets/edit.py:2 (latentwidgets.edit) -> latentwidgets",
        "latentwidgets/models/__init__.py:2 (latentwidgets.models) -> latentwidgets",
        "latentwidgets/models/base.py:2 (latentwidgets.models.base) -> latentwidgets.widgets.frame",
        "latentwidgets/zoo/__init__.py:2 (latentwidgets.zoo) -> latentwidgets.models",
    ]
