"""A real JupyterLab in headless Chromium, driven by Python Playwright (browser tests and benchmarks).

- :class:`JupyterLab` starts ``jupyter lab`` (or, with ``app="notebook"``, Jupyter Notebook 7) on
  127.0.0.1 (free port, token, ``--allow-root``, ``expose_app_in_browser``) with temporary
  config/runtime/settings/workspace folders, the news toast and autosave switched off, serving a
  temporary copy of the notebooks (the repo's files are never written).
- :func:`launch_chromium` starts Debian's Chromium (``/usr/lib/chromium/chromium``, or
  ``$CHROMIUM_PATH``); never the Playwright browser download.
- :class:`LabPage` opens a notebook, runs all cells through ``window.jupyterapp.commands``,
  executes code in the notebook's own kernel to read Python state back, switches JupyterLab's theme
  (:meth:`LabPage.set_theme`) and measures the WCAG contrast of what a widget shows
  (:meth:`LabPage.contrasts`, :func:`contrast_ratio`).

    with JupyterLab(notebooks={"quickstart.ipynb": path}) as lab, sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = LabPage.open(browser, lab, "quickstart.ipynb")
        page.run_all()
        print(page.python("print(1 + 1)"))           # '2'
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

#: logs and screenshots go to ``artifacts/`` of the source checkout
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]


def chromium_path() -> str | None:
    """The Chromium binary to drive (``$CHROMIUM_PATH`` or Debian's), or None if absent."""
    for cand in (os.environ.get("CHROMIUM_PATH"), "/usr/lib/chromium/chromium"):
        if cand and Path(cand).exists():
            return cand
    return None


def missing_requirements() -> str | None:
    """Why the browser tests cannot run here (None when they can)."""
    if chromium_path() is None:
        return "Chromium not found: apt-get install -y chromium (or set CHROMIUM_PATH)"
    try:
        import playwright  # noqa: F401
    except ImportError:
        return ("Python playwright missing: pip install playwright (the browser comes from Debian, never from "
                "Playwright's own download)")
    if shutil.which("jupyter", path=str(Path(sys.executable).parent)) is None:
        try:
            import jupyterlab  # noqa: F401
        except ImportError:
            return "jupyterlab missing: pip install -e '.[test]'"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch_chromium(playwright: Any, **kwargs: Any) -> Any:
    """A headless Chromium browser from the system binary."""
    path = chromium_path()
    if path is None:
        raise RuntimeError(missing_requirements())
    return playwright.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_FLAGS, **kwargs)


class JupyterLab:
    """``jupyter lab`` in a temporary sandbox; use as a context manager.

    ``notebooks`` maps names (relative paths under the served root) to source files, copied in;
    ``files`` maps names to text written there. ``app="notebook"`` serves Jupyter Notebook 7
    instead (same server, same ``window.jupyterapp``; each notebook in its own page)::

        with JupyterLab(notebooks={"nb.ipynb": path}, app="notebook") as nb7: ...
    """

    #: the command line of each front end: module, the flag that exposes ``window.jupyterapp``, extras
    _APPS = {
        "lab": ("jupyterlab", "--LabApp.expose_app_in_browser=True",
                ["--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]),
        "notebook": ("notebook", "--JupyterNotebookApp.expose_app_in_browser=True", []),
    }

    def __init__(self, notebooks: Mapping[str, str | Path] | None = None,
                 files: Mapping[str, str] | None = None, startup_timeout: float = 120.0,
                 env: Mapping[str, str] | None = None, app: str = "lab"):
        if app not in self._APPS:
            raise ValueError(f"app is one of {sorted(self._APPS)}; got {app!r}")
        self.app = app
        self.notebooks = dict(notebooks or {})
        self.files = dict(files or {})
        self.startup_timeout = startup_timeout
        self.extra_env = dict(env or {})
        self.token = secrets.token_hex(16)
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.tmp: Path | None = None
        self.log_path: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def tree_url(self, path: str) -> str:
        """The address that opens notebook ``path`` in this front end (token included)."""
        where = "lab/tree" if self.app == "lab" else "notebooks"
        return f"{self.url}/{where}/{path}?token={self.token}"

    @property
    def root(self) -> Path:
        assert self.tmp is not None
        return self.tmp / "root"

    def add_notebook(self, name: str, source: str | Path) -> Path:
        dest = self.root / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, dest)
        return dest

    def __enter__(self) -> JupyterLab:
        self.tmp = Path(tempfile.mkdtemp(prefix="lw-lab-"))
        dirs = {k: self.tmp / k for k in ("config", "data", "runtime", "settings", "workspaces", "root")}
        for d in dirs.values():
            d.mkdir()
        settings = {
            "@jupyterlab/apputils-extension/notification.jupyterlab-settings":
                {"fetchNews": "false", "checkForUpdates": False},
            "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
        }
        for rel, value in settings.items():
            p = dirs["settings"] / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(json.dumps(value))
        for name, src in self.notebooks.items():
            self.add_notebook(name, src)
        for name, text in self.files.items():
            p = dirs["root"] / name
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
        self.port = free_port()
        env = dict(os.environ)
        env.update({
            # a private data dir: a user-level "python3" kernelspec cannot shadow this environment's
            # kernel (the labextensions and kernelspec of sys.prefix are still found)
            "JUPYTER_CONFIG_DIR": str(dirs["config"]), "JUPYTER_DATA_DIR": str(dirs["data"]),
            "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
            "JUPYTERLAB_SETTINGS_DIR": str(dirs["settings"]), "JUPYTERLAB_WORKSPACES_DIR": str(dirs["workspaces"]),
            "JUPYTER_PLATFORM_DIRS": "1", "PYTHONUNBUFFERED": "1",
        })
        env.update(self.extra_env)
        ARTIFACTS.mkdir(exist_ok=True)
        self.log_path = ARTIFACTS / f"jupyter{self.app}-{self.port}.log"
        module, expose, extra = self._APPS[self.app]
        cmd = [sys.executable, "-m", module, "--no-browser", "--ip=127.0.0.1", f"--port={self.port}",
               f"--IdentityProvider.token={self.token}", "--allow-root", expose,
               f"--ServerApp.root_dir={dirs['root']}", "--ServerApp.port_retries=0", *extra]
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=dirs["root"],
                                     start_new_session=True)
        try:
            self._wait_ready()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}; log: {self.log_path}\n"
                                   + self.log_tail())
            try:
                with urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.25)
        raise TimeoutError(f"jupyter lab did not answer within {self.startup_timeout:.0f}s; log: {self.log_path}\n"
                           + self.log_tail())

    def log_tail(self, n: int = 40) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def __exit__(self, *exc: Any) -> None:
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=15)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.proc.wait(timeout=5)
        self.proc = None
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
            self.tmp = None


# JavaScript run in the page ------------------------------------------------------------------------
_JS_PANEL = """
(path) => {
  const app = window.jupyterapp;
  if (!app) return null;
  const w = app.shell.currentWidget;
  if (!w || !w.sessionContext || !w.context || w.context.path !== path) return null;
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  return k ? k.status : 'nokernel';
}
"""

_JS_RUN_ALL = """
async () => {
  const app = window.jupyterapp;
  const panel = app.shell.currentWidget;
  await panel.sessionContext.ready;
  await app.commands.execute('notebook:run-all-cells');
  const errors = [];
  const cells = panel.content.model.cells;
  for (let i = 0; i < cells.length; i++) {
    const c = cells.get(i);
    if (c.type !== 'code') continue;
    for (const o of c.outputs.toJSON()) {
      if (o.output_type === 'error') errors.push({cell: i, ename: o.ename, evalue: o.evalue,
        traceback: (o.traceback || []).join('\\n').replace(/\\u001b\\[[0-9;]*m/g, '')});
    }
  }
  return errors;
}
"""

_JS_EXECUTE = """
async (code) => {
  const panel = window.jupyterapp.shell.currentWidget;
  const kernel = panel.sessionContext.session.kernel;
  const future = kernel.requestExecute({ code, store_history: false, silent: false, allow_stdin: false });
  let out = '';
  let err = null;
  future.onIOPub = (msg) => {
    const t = msg.header.msg_type;
    if (t === 'stream') out += msg.content.text;
    else if (t === 'execute_result') out += msg.content.data['text/plain'];
    else if (t === 'error') err = msg.content.ename + ': ' + msg.content.evalue + '\\n' +
      (msg.content.traceback || []).join('\\n').replace(/\\u001b\\[[0-9;]*m/g, '');
  };
  await future.done;
  return { out, err };
}
"""


_JS_SET_THEME = """
async (name) => {
  const app = window.jupyterapp;
  await app.commands.execute('apputils:change-theme', { theme: name });
  const deadline = Date.now() + 30000;
  while (document.body.dataset.jpThemeName !== name) {
    if (Date.now() > deadline) throw new Error(`theme ${name} did not load (now ${document.body.dataset.jpThemeName})`);
    await new Promise((r) => setTimeout(r, 100));
  }
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  return document.body.dataset.jpThemeLight;
}
"""

# For each text-bearing control of every element matching the selector: its text colour and the
# background it is drawn on (each ancestor's background composited over the page's, white at the
# bottom; alpha respected), as [r, g, b] in 0..255, plus its kind, text and whether it is styled
# (a visible background or border: a host's reset leaves bare text). Disabled and invisible
# controls are left out (WCAG exempts inactive controls).
_JS_CONTRASTS = r"""
(selector) => {
  const parse = (c) => {
    const m = /rgba?\(([^)]+)\)/.exec(c || '');
    if (!m) return null;
    const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, bottom) => [0, 1, 2].map((i) => top[i] * top[3] + bottom[i] * (1 - top[3])).concat(1);
  const backdrop = (el) => {
    const chain = [];
    for (let e = el; e; e = e.parentElement || (e.getRootNode && e.getRootNode().host) || null) {
      chain.push(getComputedStyle(e).backgroundColor);
    }
    let bg = [255, 255, 255, 1];
    for (const c of chain.reverse()) {
      const p = parse(c);
      if (p && p[3] > 0) bg = over(p, bg);
    }
    return bg;
  };
  const kinds = [
    ['pressed', 'button[aria-pressed="true"], .lw-selected, [aria-selected="true"], [aria-current="true"]'],
    ['button', 'button'],
    ['input', 'input[type="number"], input[type="text"], select, textarea'],
    ['readout', '.lw-readout, .lw-value, output, label, figcaption, .lw-title, .lw-name, .lw-caption'],
  ];
  const deep = (node, sel) => {  // (into open shadow roots too: marimo renders widgets in one)
    const found = [...node.querySelectorAll(sel)];
    for (const el of node.querySelectorAll('*')) if (el.shadowRoot) found.push(...deep(el.shadowRoot, sel));
    return found;
  };
  const out = [];
  const seen = new Set();
  for (const root of deep(document, selector)) {
    for (const [kind, sel] of kinds) {
      for (const el of root.querySelectorAll(sel)) {
        if (seen.has(el)) continue;
        seen.add(el);
        const style = getComputedStyle(el);
        const text = ('value' in el && kind === 'input' ? String(el.value) : el.innerText || '').trim();
        if (!text || el.disabled || el.closest('[hidden]') || style.visibility === 'hidden' ||
            el.getClientRects().length === 0) continue;
        const bg = backdrop(el);
        const fg = over(parse(style.color) || [0, 0, 0, 1], bg);
        const border = parseFloat(style.borderTopWidth) > 0 && (parse(style.borderTopColor) || [0, 0, 0, 0])[3] > 0;
        const ownBg = (parse(style.backgroundColor) || [0, 0, 0, 0])[3] > 0;
        out.push({ kind, tag: el.tagName, text: text.slice(0, 40), cls: String(el.className || el.tagName),
                   fg: fg.slice(0, 3), bg: bg.slice(0, 3), styled: border || ownBg });
      }
    }
  }
  return out;
}
"""


def contrast_ratio(fg: list[float], bg: list[float]) -> float:
    """The WCAG 2 contrast ratio of two sRGB colours ``[r, g, b]`` (0..255): 1 (same) to 21.

        contrast_ratio([0, 0, 0], [255, 255, 255])    # 21.0
    """
    def luminance(rgb: list[float]) -> float:
        lin = [c / 255 / 12.92 if c / 255 <= 0.03928 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb]
        return 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]

    hi, lo = sorted((luminance(fg), luminance(bg)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def contrasts(page: Any, selector: str) -> list[dict[str, Any]]:
    """The text controls inside the elements matching ``selector`` on a Playwright ``page`` (open shadow
    roots included), with their colours on screen and WCAG contrast ratio:
    ``[{kind, tag, text, cls, fg, bg, styled, ratio}]`` (kind: pressed, button, input or readout).

        low = [c for c in contrasts(page, ".lw-widget") if c["ratio"] < 3]
    """
    found = page.evaluate(_JS_CONTRASTS, selector)
    for item in found:
        item["ratio"] = round(contrast_ratio(item["fg"], item["bg"]), 2)
    return found


class NotebookError(AssertionError):
    """A cell or a harness snippet raised in the kernel."""


class LabPage:
    """One notebook open in JupyterLab (or Notebook 7, after ``JupyterLab(app="notebook")``) in a Chromium page."""

    def __init__(self, page: Any, lab: JupyterLab, path: str):
        self.page = page
        self.lab = lab
        self.path = path

    @classmethod
    def open(cls, browser: Any, lab: JupyterLab, path: str, timeout: float = 120.0,
             viewport: dict[str, int] | None = None) -> LabPage:
        ctx = browser.new_context(viewport=viewport or {"width": 1400, "height": 1000})
        page = ctx.new_page()
        page.set_default_timeout(timeout * 1000)
        page.goto(lab.tree_url(path))
        self = cls(page, lab, path)
        self.wait_kernel_idle(timeout)
        return self

    def wait_kernel_idle(self, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        status = None
        while time.monotonic() < deadline:
            status = self.page.evaluate(_JS_PANEL, self.path)
            if status == "idle":
                return
            time.sleep(0.2)
        raise TimeoutError(f"the kernel of {self.path} did not become idle within {timeout:.0f}s (status {status}); "
                           f"server log:\n{self.lab.log_tail()}")

    def run_all(self, timeout: float = 600.0) -> None:
        """Run every cell; raise :class:`NotebookError` with the first cell error."""
        errors = self.page.evaluate(_JS_RUN_ALL)
        self.wait_kernel_idle(timeout)
        if errors:
            e = errors[0]
            raise NotebookError(f"cell {e['cell']} of {self.path} raised {e['ename']}: {e['evalue']}\n{e['traceback']}")

    def python(self, code: str) -> str:
        """Run ``code`` in the notebook's kernel; its printed output (raises NotebookError on error)."""
        res = self.page.evaluate(_JS_EXECUTE, code)
        if res["err"]:
            raise NotebookError(f"kernel code failed: {res['err']}\ncode:\n{code}")
        return res["out"]

    def python_json(self, code: str) -> Any:
        """Run ``code`` whose last printed line is JSON; that value."""
        out = self.python(code).strip().splitlines()
        if not out:
            raise NotebookError(f"kernel code printed nothing:\n{code}")
        return json.loads(out[-1])

    def set_theme(self, name: str) -> bool:
        """Switch JupyterLab to theme ``name`` ("JupyterLab Light", "JupyterLab Dark") and wait until it
        is applied; True for a light theme.

            page.set_theme("JupyterLab Dark")
        """
        return self.page.evaluate(_JS_SET_THEME, name) == "true"

    def contrasts(self, selector: str) -> list[dict[str, Any]]:
        """:func:`contrasts` of this notebook's page.

            low = [c for c in page.contrasts(".lw-widget") if c["ratio"] < 3]
        """
        return contrasts(self.page, selector)

    def screenshot(self, name: str, **kwargs: Any) -> Path:
        """Save a screenshot as a test artifact: ``artifacts/browser/<name>.png``."""
        out = ARTIFACTS / "browser" / f"{name}.png"
        out.parent.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(out), **kwargs)
        return out

    def close(self) -> None:
        self.page.context.close()
