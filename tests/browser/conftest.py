"""Fixtures for end-to-end tests in a real JupyterLab in headless Chromium (see latentwidgets/testing/browser.py).

    @pytest.mark.browser
    def test_x(lab_factory):
        lab, page = lab_factory({"nb.ipynb": path}, open="nb.ipynb")
        page.run_all()

Every test here is marked ``browser``; under CI a skip (no Chromium, no playwright) counts as a failure.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from latentwidgets.testing.browser import JupyterLab, LabPage, launch_chromium, missing_requirements


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium():
    why = missing_requirements()
    if why:
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        yield browser
        browser.close()


@pytest.fixture
def lab_factory(chromium):
    """``make(notebooks, open=name)`` -> ``(JupyterLab, LabPage)``; everything stops after the test.
    ``app="notebook"`` serves Notebook 7 instead of JupyterLab."""
    stack = []

    def make(notebooks, open=None, files=None, app="lab"):
        lab = JupyterLab(notebooks=notebooks, files=files, app=app).__enter__()
        stack.append(lab)
        page = None
        if open is not None:
            page = LabPage.open(chromium, lab, open)
            stack.append(page)
        return lab, page

    yield make
    for obj in reversed(stack):
        try:
            obj.close() if isinstance(obj, LabPage) else obj.__exit__(None, None, None)
        except Exception:  # noqa: BLE001 - teardown must reach the server
            pass
