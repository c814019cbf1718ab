"""Frame benchmark: DirectionExplorer vs. the GANSpace Colab way, dragged in a real JupyterLab.

A headless Chromium (Debian's, via Python Playwright) opens a generated notebook in JupyterLab that
shows, for ``sprites-style`` and its PCA directions,

1. ``DirectionExplorer(model, directions[:6], n=1)``;
2. the GANSpace Colab UI: ipywidgets sliders (``continuous_update=False`` as in the Colab) wired by
   ``interactive_output`` to a function that renders with the same model and the same edit path
   (``render_edits``), resizes to 500x500 with LANCZOS and ``display``s the PIL image;
3. (printed only, ``--no-continuous`` skips it) the same Colab UI with ``continuous_update=True``.

Each gets the same drag: mouse down on the slider, 2 s of moves at 60 input events/s covering the
same strength change (0 -> 2.4 sigma of direction 0), then release. Everything is timed in the page
(``performance.now()``): an input event's latency is the time until the first frame drawn whose
request left the page after that event (a frame that shows the event's value or a newer one);
explorer frames report their own request time and draw time, baseline frames are the ``<img>``
elements the Output widget inserts (drawn = decoded), matched to the last slider update sent
to the kernel before them. ``final_frame_lag_ms`` is release -> last frame drawn (0 when the final
frame was already on screen). ``model_forward_ms`` is the median time of ``render_edits`` for one
sample, measured in the same kernel; ``overhead_ms_p50`` = latency p50 - that.

Besides, it splits the explorer's round trip into hops with the timestamps its frames carry (request
sent -> kernel handler -> frame handed to the comm -> message received -> decoded -> drawn), and
times a bare anywidget echo (a custom message answered at once, no model) in the same JupyterLab:
``comm_round_trip_ms_p50`` / ``_p95`` is the floor any widget frame pays on this stack.
``server_nodelay`` says whether the latentwidgets server extension (``latentwidgets_server``:
TCP_NODELAY on kernel websockets) was active; ``--stock-server`` switches it off to measure
jupyter_server as it comes (Nagle's algorithm on: ~40 ms more per round trip).

    python benchmarks/frames.py --json runs/frames.json
    python benchmarks/frames.py --json runs/frames-stock.json --stock-server

Writes the keys of ``KEYS`` (and ``<key>_baseline``) plus those of ``EXTRA_KEYS``, and prints a
side-by-side table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from latentwidgets.testing.browser import JupyterLab, LabPage, launch_chromium, missing_requirements

KEYS = ["frame_latency_ms_p50", "frame_latency_ms_p95", "frames_drawn", "final_frame_lag_ms", "overhead_ms_p50",
        "model_forward_ms"]
# measured once per run, not per UI
EXTRA_KEYS = ["comm_round_trip_ms_p50", "comm_round_trip_ms_p95", "server_nodelay", "load_average_1min"]
ECHO_ROUND_TRIPS = 60
DRAG_SECONDS = 2.0
EVENTS_PER_SECOND = 60
STRENGTH_RANGE = 3.0     # explorer slider: -3..3 sigma
DRAG_TO = 2.4            # sigma reached at the end of the drag (both UIs)

SETUP = """
import time, statistics, torch
import ipywidgets as widgets
from PIL import Image
from IPython.display import display
import latentwidgets as lw
from latentwidgets.directions import find_directions
from latentwidgets.edit import Edit, render_edits
torch.set_num_threads({threads})
model = lw.load("sprites-style")
directions = find_directions(model, "pca", n_samples=20000, progress=False)

def forward_ms(n_runs=40):
    z = model.sample_z(1, seed=0)
    edit = [Edit(directions, 0, 1.0)]
    for _ in range(5):
        render_edits(model, z, edit)
    times = []
    for i in range(n_runs):
        t0 = time.perf_counter()
        render_edits(model, z, [Edit(directions, 0, 0.05 * i)])
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)
"""

EXPLORER = """
explorer = lw.DirectionExplorer(model, directions[:6], seed=0, n=1, strength_range={range})
explorer
"""

# The GANSpace Colab's "Run UI" cell, on our model and edit path (see the module docstring).
BASELINE = """
def display_sample(seed, distance, scale, start, end):
    z = model.sample_z(1, seed=seed)
    _, out = render_edits(model, z, [Edit(directions, 0, distance * scale, layers=(start, end))])
    arr = (out[0].permute(1, 2, 0).clamp(0, 1) * 255).round().byte().cpu().numpy()
    final_im = Image.fromarray(arr).resize((500, 500), Image.LANCZOS)
    display(final_im)

def colab_ui(continuous, tag):
    seed = widgets.IntSlider(min=0, max=100000, step=1, value=0, description="Seed: ", continuous_update=continuous)
    distance = widgets.FloatSlider(min=-{range}, max={range}, step=0.01, value=0, description="Distance: ",
                                   continuous_update=continuous, layout=widgets.Layout(width="700px"))
    scale = widgets.FloatSlider(min=0, max=10, step=0.05, value=1, description="Scale: ", continuous_update=continuous)
    start_layer = widgets.IntSlider(min=0, max=model.num_layers, step=1, value=0, description="start layer: ",
                                    continuous_update=continuous)
    end_layer = widgets.IntSlider(min=0, max=model.num_layers, step=1, value=model.num_layers,
                                  description="end layer: ", continuous_update=continuous)
    distance.add_class(f"lw-bench-{{tag}}-distance")
    ui = widgets.VBox([widgets.HBox([seed, distance]), widgets.HBox([scale, start_layer, end_layer])])
    out = widgets.interactive_output(display_sample, {{"seed": seed, "distance": distance, "scale": scale,
                                                      "start": start_layer, "end": end_layer}})
    out.add_class(f"lw-bench-{{tag}}-out")
    display(ui, out)
    return distance
"""

# The floor of any widget frame: a custom message answered at once, timed in the page.
ECHO = """
import anywidget

class Echo(anywidget.AnyWidget):
    _esm = \"\"\"
export default { render({ model, el }) {
  el.className = 'lw-bench-echo';
  let pending = null;
  model.on('msg:custom', () => { if (pending) { const p = pending; pending = null; p(performance.now()); } });
  window.__lwEcho = async (n) => {
    const out = [];
    for (let i = 0; i < n; i++) {
      const got = new Promise((resolve) => { pending = resolve; });
      const t0 = performance.now();
      model.send({ i });
      out.push((await got) - t0);
      await new Promise((r) => setTimeout(r, 10));
    }
    return out;
  };
} };
\"\"\"

    def __init__(self):
        super().__init__()
        self.on_msg(lambda widget, content, buffers: self.send(content))

echo = Echo()
echo
"""

# page-side recorder: input events, requests sent, frames drawn
JS_RECORDER = """
([kind, tag, commId]) => {
  const rec = { kind, events: [], down: null, up: null, sends: [], frames: [] };
  window.__bench = rec;
  const opts = { capture: true };
  rec.onDown = (e) => { rec.down = performance.now(); rec.events.push(rec.down); };
  rec.onMove = (e) => { if (rec.down !== null && rec.up === null) rec.events.push(performance.now()); };
  rec.onUp = (e) => { if (rec.down !== null && rec.up === null) rec.up = performance.now(); };
  document.addEventListener('pointerdown', rec.onDown, opts);
  document.addEventListener('pointermove', rec.onMove, opts);
  document.addEventListener('pointerup', rec.onUp, opts);
  if (kind === 'explorer') {
    const root = document.querySelector(`.lw-explorer[data-uid="${tag}"]`);
    rec.onFrame = (e) => { const d = e.detail; if (d.own) rec.frames.push({ sent: d.sentAt, drawn: d.drawnAt,
      inserted: d.receivedAt, state: d.state,
      decoded: d.decodedAt, kin: d.kernelIn, kout: d.kernelOut,
      kernel: d.timing ? (d.timing.compute_ms || 0) + (d.timing.encode_ms || 0) : null }); };
    root.addEventListener('lw-frame', rec.onFrame);
    rec.stop = () => root.removeEventListener('lw-frame', rec.onFrame);
  } else {
    const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
    const orig = kernel.sendShellMessage;
    kernel.sendShellMessage = function (msg, ...rest) {
      try {
        if (msg.header.msg_type === 'comm_msg' && msg.content.comm_id === commId &&
            msg.content.data.method === 'update' &&
            msg.content.data.state && 'value' in msg.content.data.state) {
          rec.sends.push({ t: performance.now(), value: msg.content.data.state.value });
        }
      } catch (err) {}
      return orig.call(this, msg, ...rest);
    };
    const out = document.querySelector(`.lw-bench-${tag}-out`);
    const seen = new WeakSet();
    const obs = new MutationObserver(() => {
      for (const img of out.querySelectorAll('img')) {
        if (seen.has(img)) continue;
        seen.add(img);
        const inserted = performance.now();
        const last = rec.sends.length ? rec.sends[rec.sends.length - 1] : null;
        const f = { inserted, sent: last ? last.t : null, value: last ? last.value : null, drawn: null };
        rec.frames.push(f);
        img.decode().then(() => { f.drawn = performance.now(); }, () => { f.drawn = performance.now(); });
      }
    });
    obs.observe(out, { childList: true, subtree: true });
    rec.stop = () => { obs.disconnect(); kernel.sendShellMessage = orig; };
  }
  rec.done = () => {
    document.removeEventListener('pointerdown', rec.onDown, opts);
    document.removeEventListener('pointermove', rec.onMove, opts);
    document.removeEventListener('pointerup', rec.onUp, opts);
    rec.stop();
    return { kind: rec.kind, events: rec.events, down: rec.down, up: rec.up, sends: rec.sends,
             frames: rec.frames.map((f) => ({ sent: f.sent, drawn: f.drawn, inserted: f.inserted,
                                              kernel: f.kernel ?? null, decoded: f.decoded ?? null,
                                              kin: f.kin ?? null, kout: f.kout ?? null })) };
  };
}
"""


def percentile(xs: list[float], q: float) -> float:
    if not xs:
        return float("nan")
    s = sorted(xs)
    k = (len(s) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def analyse(rec: dict[str, Any], forward_ms: float) -> dict[str, Any]:
    """Per-event latencies and frame counts from the page's raw timeline."""
    frames = sorted((f for f in rec["frames"] if f["drawn"] is not None and f["drawn"] >= rec["down"]),
                    key=lambda f: f["drawn"])
    lat, unserved = [], 0
    for t in rec["events"]:
        served = next((f for f in frames if f["sent"] is not None and f["sent"] >= t), None)
        if served is None:
            unserved += 1
        else:
            lat.append(served["drawn"] - t)
    last_drawn = frames[-1]["drawn"] if frames else float("nan")
    p50 = percentile(lat, 0.5)
    return {
        "frame_latency_ms_p50": round(p50, 2),
        "frame_latency_ms_p95": round(percentile(lat, 0.95), 2),
        "frames_drawn": len(frames),
        "final_frame_lag_ms": round(max(0.0, last_drawn - rec["up"]), 2),
        "overhead_ms_p50": round(p50 - forward_ms, 2),
        "model_forward_ms": round(forward_ms, 2),
        "_events": len(rec["events"]), "_unserved": unserved,
        "_drag_ms": round(rec["up"] - rec["down"], 1),
        # request sent -> frame message received, for frames that carry both (explorer)
        "_roundtrip_ms_p50": round(percentile([f["inserted"] - f["sent"] for f in frames
                                               if f["sent"] is not None and f["inserted"] is not None], 0.5), 2),
        # compute + encode in the kernel, as the explorer's frames report it
        "_kernel_ms_p50": round(percentile([f["kernel"] for f in frames if f.get("kernel") is not None], 0.5), 2),
        **hops(frames),
    }


def hops(frames: list[dict[str, Any]]) -> dict[str, float]:
    """Medians of each hop of the explorer's own frames (page clock; the kernel's times converted)."""
    spans = {"_hop_up_ms_p50": ("sent", "kin"), "_hop_kernel_ms_p50": ("kin", "kout"),
             "_hop_down_ms_p50": ("kout", "inserted"), "_hop_decode_ms_p50": ("inserted", "decoded"),
             "_hop_draw_ms_p50": ("decoded", "drawn")}
    out = {}
    for key, (a, b) in spans.items():
        xs = [f[b] - f[a] for f in frames if f.get(a) is not None and f.get(b) is not None]
        out[key] = round(percentile(xs, 0.5), 2)
    return out


def echo_round_trips(page: Any, n: int = ECHO_ROUND_TRIPS) -> dict[str, float]:
    """p50/p95 of a bare anywidget custom-message round trip (answered at once) in this JupyterLab."""
    page.locator(".lw-bench-echo").first.wait_for(state="attached", timeout=60000)
    page.evaluate("(n) => window.__lwEcho(n)", 5)  # warm up
    rts = page.evaluate("(n) => window.__lwEcho(n)", n)
    return {"comm_round_trip_ms_p50": round(percentile(rts, 0.5), 2),
            "comm_round_trip_ms_p95": round(percentile(rts, 0.95), 2)}


def drag(page: Any, locator: Any, frac_from: float, frac_to: float, thumb_px: float = 0.0) -> None:
    """Mouse down at ``frac_from`` of the track, 2 s of moves at 60/s to ``frac_to``, release."""
    box = locator.bounding_box()
    if box is None:
        raise RuntimeError("the slider to drag is not on screen")
    usable = box["width"] - thumb_px
    x_of = lambda f: box["x"] + thumb_px / 2 + usable * f  # noqa: E731
    y = box["y"] + box["height"] / 2
    n = int(DRAG_SECONDS * EVENTS_PER_SECOND)
    page.mouse.move(x_of(frac_from), y)
    page.mouse.down()
    t0 = time.perf_counter()
    for i in range(1, n + 1):
        target = t0 + i / EVENTS_PER_SECOND
        delay = target - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        page.mouse.move(x_of(frac_from + (frac_to - frac_from) * i / n), y)
    page.mouse.up()


def settle(page: Any, quiet_ms: float = 1500, limit_s: float = 30) -> None:
    """Wait until no frame has been drawn for ``quiet_ms`` (after the release)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        quiet = page.evaluate("""(q) => { const r = window.__bench; const last = Math.max(r.up || 0,
              ...r.frames.map((f) => f.drawn || f.inserted || 0)); return performance.now() - last > q; }""", quiet_ms)
        if quiet:
            return
        time.sleep(0.2)


def build_notebook(path: Path, threads: int, continuous: bool) -> None:
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cells = [SETUP.format(threads=threads), ECHO, EXPLORER.format(range=STRENGTH_RANGE),
             BASELINE.format(range=STRENGTH_RANGE), 'colab_distance = colab_ui(False, "colab")']
    if continuous:
        cells.append('continuous_distance = colab_ui(True, "cont")')
    nb.cells = [nbformat.v4.new_code_cell(c.strip()) for c in cells]
    nbformat.write(nb, str(path))


def stock_server_config(tmp: Path) -> dict[str, str]:
    """Environment for a JupyterLab without the latentwidgets server extension (user config wins)."""
    cfg = tmp / "config-stock"
    cfg.mkdir()
    (cfg / "jupyter_server_config.json").write_text(
        json.dumps({"ServerApp": {"jpserver_extensions": {"latentwidgets_server": False}}}))
    return {"JUPYTER_CONFIG_DIR": str(cfg)}


def run(threads: int = 1, continuous: bool = True, screenshots: bool = True,
        stock_server: bool = False) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    why = missing_requirements()
    if why:
        raise SystemExit(why)
    tmp = Path(tempfile.mkdtemp(prefix="lw-frames-"))
    nb_path = tmp / "frames_bench.ipynb"
    build_notebook(nb_path, threads, continuous)
    results: dict[str, Any] = {}
    env = stock_server_config(tmp) if stock_server else None
    with JupyterLab(notebooks={nb_path.name: nb_path}, env=env) as lab, sync_playwright() as pw:
        results["server_nodelay"] = "latentwidgets_server: TCP_NODELAY" in lab.log_tail(400)
        browser = launch_chromium(pw)
        page = LabPage.open(browser, lab, nb_path.name, viewport={"width": 1400, "height": 1300})
        page.run_all()
        p = page.page
        root = p.locator(".lw-explorer").first
        root.wait_for(state="visible", timeout=60000)
        uid = root.get_attribute("data-uid")
        p.wait_for_function(f"document.querySelector('.lw-explorer[data-uid=\"{uid}\"]').dataset.frames >= 1")

        # ---------------- the floor: a bare comm round trip
        results.update(echo_round_trips(p))

        # ---------------- explorer
        forward = float(page.python("print(forward_ms())"))
        slider = root.locator("input.lw-slider").first  # a direction slider (not truncation)
        slider.scroll_into_view_if_needed()
        p.evaluate(JS_RECORDER, ["explorer", uid, None])
        lo = 0.5
        hi = 0.5 + 0.5 * DRAG_TO / STRENGTH_RANGE
        drag(p, slider, lo, hi, thumb_px=16)
        settle(p)
        rec = p.evaluate("window.__bench.done()")
        results["explorer"] = analyse(rec, forward)
        final = page.python_json("import json; print(json.dumps([explorer.strengths[0], "
                                 "explorer._server.seq]))")
        results["explorer"]["_final_strength"] = final[0]
        results["explorer"]["_slider_value"] = float(slider.input_value())
        if screenshots:
            page.screenshot("frames-explorer")

        # ---------------- baselines (GANSpace Colab UI)
        for tag, name in (("colab", "baseline"), ("cont", "baseline_continuous")):
            if tag == "cont" and not continuous:
                continue
            var = "colab_distance" if tag == "colab" else "continuous_distance"
            comm = page.python(f"print({var}.model_id)").strip()
            forward_b = float(page.python("print(forward_ms())"))
            track = p.locator(f".lw-bench-{tag}-distance .noUi-target, "
                              f".lw-bench-{tag}-distance .slider-container").first
            track.scroll_into_view_if_needed()
            p.wait_for_timeout(300)
            p.evaluate(JS_RECORDER, ["baseline", tag, comm])
            drag(p, track, lo, hi)
            settle(p, quiet_ms=2000)
            rec = p.evaluate("window.__bench.done()")
            results[name] = analyse(rec, forward_b)
            results[name]["_final_strength"] = float(page.python(f"print({var}.value)"))
            if screenshots:
                page.screenshot(f"frames-{name}")
        browser.close()
    return results


def table(results: dict[str, Any]) -> str:
    cols = [("explorer", "DirectionExplorer"), ("baseline", "Colab (no cont.)"),
            ("baseline_continuous", "Colab (cont. upd.)")]
    cols = [c for c in cols if c[0] in results]
    lines = [f"{'metric':<24}" + "".join(f"{h:>22}" for _, h in cols)]
    for k in KEYS + ["_events", "_drag_ms", "_unserved", "_roundtrip_ms_p50", "_kernel_ms_p50",
                          "_final_strength"]:
        lines.append(f"{k:<24}" + "".join(f"{results[c][k]:>22}" for c, _ in cols))
    lines.append("explorer hops (p50, ms): " + ", ".join(f"{k[5:-7]} {v}" for k, v in results["explorer"].items()
                                                         if k.startswith("_hop_")))
    lines.append(", ".join(f"{k} {results[k]}" for k in EXTRA_KEYS if k in results))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, required=True, help="where to write the results")
    ap.add_argument("--threads", type=int, default=1, help="torch threads in the kernel (default 1)")
    ap.add_argument("--stock-server", action="store_true",
                    help="run JupyterLab without the latentwidgets server extension (Nagle's algorithm on)")
    ap.add_argument("--no-continuous", action="store_true",
                    help="skip the extra Colab UI with continuous_update=True (printed only, not in the JSON)")
    args = ap.parse_args(argv)
    t0 = time.time()
    results = run(threads=args.threads, continuous=not args.no_continuous, stock_server=args.stock_server)
    results["load_average_1min"] = round(os.getloadavg()[0], 2)
    out = {k: results["explorer"][k] for k in KEYS}
    out.update({f"{k}_baseline": results["baseline"][k] for k in KEYS})
    out.update({k: results[k] for k in EXTRA_KEYS})
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1) + "\n")
    print(table(results))
    e, b = results["explorer"], results["baseline"]
    for k in ("frame_latency_ms_p95", "final_frame_lag_ms"):
        ratio = b[k] / e[k] if e[k] > 0 else float("inf")
        print(f"{k}: explorer {e[k]} ms vs baseline {b[k]} ms ({ratio:.1f}x)")
    print(f"targets: p95 <= 50 ms: {e['frame_latency_ms_p95'] <= 50}; final lag <= 100 ms: "
          f"{e['final_frame_lag_ms'] <= 100}; load average {results['load_average_1min']}; "
          f"took {time.time() - t0:.0f} s")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
