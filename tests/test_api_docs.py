"""The API reference builds with one command, without a warning, and documents the public API.

``scripts/build_api_docs.py`` runs as the README shows it; under CI it writes into ``artifacts/api/``
(kept with the run's artifacts), elsewhere into a temp folder.
"""

from __future__ import annotations

import inspect
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import latentwidgets as lw

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "build_api_docs.py"
#: pages the reference must have: the public packages, the discovery methods and the models' adapters
PAGES = ["latentwidgets", "latentwidgets/models", "latentwidgets/directions", "latentwidgets/edit",
         "latentwidgets/export", "latentwidgets/widgets", "latentwidgets/course", "latentwidgets/regress",
         "latentwidgets/zoo", "latentwidgets/evaluate", "latentwidgets/directions/pca",
         "latentwidgets/directions/closed_form", "latentwidgets/directions/factors", "latentwidgets/directions/tensor",
         "latentwidgets/directions/attribute", "latentwidgets/models/stylegan_nvlabs",
         "latentwidgets/models/stylegan_rosinality", "latentwidgets/models/biggan", "latentwidgets/models/decoder",
         "latentwidgets/models/diffusers_decoders", "latentwidgets/models/pythae_decoders"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = ROOT / "artifacts" / "api" if os.environ.get("CI") else tmp_path_factory.mktemp("api")
    res = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out)], cwd=tmp_path_factory.getbasetemp(),
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, f"build_api_docs failed:\n{res.stdout}{res.stderr}"
    assert "warning:" not in res.stderr, res.stderr
    return out


def _ids(page: Path) -> set[str]:
    return set(re.findall(r'id="([^"]+)"', page.read_text(encoding="utf-8")))


def test_every_public_page_exists(reference):
    missing = [p for p in PAGES if not (reference / f"{p}.html").is_file()]
    assert not missing, f"the reference has no page for {missing}"
    index = (reference / "index.html").read_text(encoding="utf-8")
    assert "latentwidgets.html" in index
    assert not (reference / "latentwidgets" / "testing.html").exists()  # the tests' harness stays out


def test_every_name_in_all_is_documented(reference):
    ids = _ids(reference / "latentwidgets.html")
    names = [n for n in lw.__all__ if not n.startswith("__") and not inspect.ismodule(getattr(lw, n))]
    assert not [n for n in names if n not in ids], f"latentwidgets.html lacks {[n for n in names if n not in ids]}"
    assert 'href="latentwidgets/zoo.html"' in (reference / "latentwidgets.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("widget", ["DirectionExplorer", "LayerwiseEditor", "CollageCanvas"])
def test_every_public_method_of_the_widgets_is_documented(reference, widget):
    cls = getattr(lw, widget)
    members = {name: inspect.getattr_static(cls, name) for name in dir(cls) if not name.startswith("_")}
    methods = [name for name, member in members.items()
               if inspect.isfunction(member) and member.__module__.startswith("latentwidgets")]
    assert methods, f"{widget} has no public methods?"
    ids = _ids(reference / "latentwidgets" / "widgets.html")
    missing = [m for m in methods if f"{widget}.{m}" not in ids]
    assert not missing, f"latentwidgets/widgets.html does not document {widget}.{missing}"


def test_find_directions_options_render_as_lists(reference):
    page = (reference / "latentwidgets" / "directions.html").read_text(encoding="utf-8")
    section = page[page.index('id="find_directions"'):]
    signature = re.sub(r"<[^>]+>", "", section[:section.index("</span>:</span>")])
    assert "method: Literal['pca', 'closed_form', 'factors', 'tensor', 'attribute'] = 'pca'" in signature, signature
    assert re.search(r"<li>n_components=10: how many principal components", section)
    pca = (reference / "latentwidgets" / "directions" / "pca.html").read_text(encoding="utf-8")
    assert "<strong>n_components:</strong>" in pca  # the method's Args: section as a list


def test_examples_render_as_code(reference):
    """``"Usage::"`` before a code block shows as "Usage:" and the block as code (not a Google section), and
    an example right after a docstring's summary stays a code block (not a paragraph of joined lines)."""
    pages = {p: p.read_text(encoding="utf-8") for p in reference.rglob("*.html")}
    assert not [p.name for p, html in pages.items() if "::</p>" in html]
    base = pages[reference / "latentwidgets" / "models" / "base.html"]
    assert re.search(r"Usage:</p>\s*<pre><code>model = ", base)
    top = pages[reference / "latentwidgets.html"]
    assert re.search(r"generative models\.</p>\s*<pre><code>import latentwidgets as lw\n", top)
