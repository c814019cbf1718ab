"""latentwidgets_server: the Jupyter server extension that switches Nagle's algorithm off.

Without it every widget frame waits ~40 ms in jupyter_server behind the kernel's ``busy`` message
(benchmarks/frames.py: ``comm_round_trip_ms_p50``); tests/browser/test_explorer_e2e.py checks the
effect in a real JupyterLab. Here: the patch itself, and that the shipped config enables it.
"""

from __future__ import annotations

import importlib
import json
import logging
from pathlib import Path

from latentwidgets_server import patch_kernel_websocket

REPO = Path(__file__).resolve().parents[1]


def fake_handler_class(fail: bool = False):
    class Handler:
        log = logging.getLogger("fake-handler")

        def __init__(self):
            self.calls = []

        def set_nodelay(self, value):
            if fail:
                raise RuntimeError("no stream yet")
            self.calls.append(("nodelay", value))

        async def open(self, kernel_id):
            self.calls.append(("open", kernel_id))
            return "opened"

    return Handler


def run(coro):
    """Run a coroutine to completion in a thread of its own: earlier tests in this process (notebook
    clients, kernels) may leave an event loop running in the main thread."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


def test_patched_open_sets_nodelay_before_opening():
    cls = fake_handler_class()
    assert patch_kernel_websocket(cls) is True
    h = cls()
    assert run(cls.open(h, "k1")) == "opened"
    assert h.calls == [("nodelay", True), ("open", "k1")]


def test_patching_twice_wraps_once():
    cls = fake_handler_class()
    patch_kernel_websocket(cls)
    assert patch_kernel_websocket(cls) is False
    h = cls()
    run(cls.open(h, "k"))
    assert h.calls.count(("nodelay", True)) == 1


def test_a_failing_option_never_breaks_the_connection(caplog):
    cls = fake_handler_class(fail=True)
    patch_kernel_websocket(cls)
    h = cls()
    with caplog.at_level(logging.WARNING, logger="fake-handler"):
        assert run(cls.open(h, "k")) == "opened"
    assert "TCP_NODELAY" in caplog.text


def test_shipped_config_enables_this_extension():
    cfg = json.loads((REPO / "jupyter-config" / "jupyter_server_config.d" / "latentwidgets.json").read_text())
    names = [name for name, on in cfg["ServerApp"]["jpserver_extensions"].items() if on]
    assert names == ["latentwidgets_server"]
    points = importlib.import_module(names[0])._jupyter_server_extension_points()
    assert points == [{"module": "latentwidgets_server"}]
    pyproject = (REPO / "pyproject.toml").read_text()
    assert '"latentwidgets_server"' in pyproject and "jupyter_server_config.d/latentwidgets.json" in pyproject


def test_the_server_process_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, latentwidgets_server; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

