"""Jupyter server extension of latentwidgets: send kernel messages without Nagle's delay.

jupyter_server's kernel websocket leaves Nagle's algorithm on. Every comm message a widget answers
is preceded by a small ``status: busy`` message; the reply that follows it a few milliseconds later
is then held in the server until the browser acknowledges ``busy``, and browsers delay that
acknowledgement by up to 40 ms (delayed ACK). Each widget round trip costs ~45 ms on loopback for
that reason alone (benchmarks/frames.py measures it as ``comm_round_trip_ms_p50``). This extension
sets ``TCP_NODELAY`` on every kernel websocket, so messages leave as soon as they are written.

It is a separate top-level package so that the server process never imports torch. The wheel
enables it through ``etc/jupyter/jupyter_server_config.d/latentwidgets.json``; restart JupyterLab
after installing. To enable it by hand::

    jupyter server extension enable latentwidgets_server
    # or: jupyter lab --ServerApp.jpserver_extensions="{'latentwidgets_server': True}"
"""

from __future__ import annotations

import functools
from typing import Any

__all__ = ["patch_kernel_websocket", "_jupyter_server_extension_points", "_load_jupyter_server_extension"]

_MARK = "_latentwidgets_nodelay"


def patch_kernel_websocket(handler_class: Any) -> bool:
    """Make ``handler_class.open`` switch Nagle's algorithm off first; False if already patched.

        from jupyter_server.services.kernels.websocket import KernelWebsocketHandler
        patch_kernel_websocket(KernelWebsocketHandler)
    """
    original = handler_class.open
    if getattr(original, _MARK, False):
        return False

    @functools.wraps(original)
    def open(self: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: A001 - tornado's name
        try:
            self.set_nodelay(True)
        except Exception as exc:  # noqa: BLE001 - never break the kernel connection over an option
            self.log.warning("latentwidgets_server: could not set TCP_NODELAY: %s", exc)
        return original(self, *args, **kwargs)

    setattr(open, _MARK, True)
    handler_class.open = open
    return True


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "latentwidgets_server"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from jupyter_server.services.kernels.websocket import KernelWebsocketHandler

    patch_kernel_websocket(KernelWebsocketHandler)
    serverapp.log.info("latentwidgets_server: TCP_NODELAY on kernel websockets (no Nagle delay for widget frames)")
