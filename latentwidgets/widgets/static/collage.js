// CollageCanvas front end: paint on source samples to take their pixels into a collage; the kernel
// projects the collage onto the generator (widgets/collage.py). Strokes are rasterised here at once,
// with the same rule as collage.py's `rasterize`, so the collage follows the pointer with no kernel
// round trip; the operation list travels to Python as the view state of base.js's `connectFrames`
// (one request in flight, latest wins), so the projection follows without a backlog.
//
// An operation: {tool: "brush", source, radius, points: [[x, y], ...]} | {tool: "rect", source, x0, y0,
// x1, y1} | {tool: "fill", source}; coordinates in image pixels, a pixel's centre at (i + .5, j + .5);
// source null erases (the pixels become unknown). Later operations paint over earlier ones.
//
// Undo / redo are the toolbar's (base.js's history of the view state, Ctrl/Cmd-Z inside the widget):
// each finished stroke, rectangle, "take all", "clear" and new sample is one step; so is a class or a
// truncation (base.js's truncationControl, where the model has a truncation trick) let go.

import { drawBitmap } from "./transport.js";
import {
  classPicker, compositeCanvas, connectFrames, h, newSeed, NO_SHORTCUTS, throttledText, timingText, toolbar, truncationControl,
} from "./base.js";

export const UNKNOWN = -1;

/** A label map (which source each pixel comes from, -1 unknown), all unknown. */
export function emptyLabels(width, height) {
  return new Int32Array(width * height).fill(UNKNOWN);
}

function clamp01(v) {
  return v < 0 ? 0 : v > 1 ? 1 : v;
}

/** Paint one operation into `labels` (in place) and return it. */
export function paintOp(labels, op, width, height) {
  const value = op.source === null || op.source === undefined ? UNKNOWN : op.source;
  if (op.tool === "fill") {
    labels.fill(value);
    return labels;
  }
  if (op.tool === "rect") {
    const x0 = Math.min(op.x0, op.x1), x1 = Math.max(op.x0, op.x1);
    const y0 = Math.min(op.y0, op.y1), y1 = Math.max(op.y0, op.y1);
    const i0 = Math.max(0, Math.ceil(x0 - 0.5)), i1 = Math.min(width - 1, Math.floor(x1 - 0.5));
    const j0 = Math.max(0, Math.ceil(y0 - 0.5)), j1 = Math.min(height - 1, Math.floor(y1 - 0.5));
    for (let j = j0; j <= j1; j++) {
      const py = j + 0.5;
      if (py < y0 || py > y1) continue;
      for (let i = i0; i <= i1; i++) {
        const px = i + 0.5;
        if (px >= x0 && px <= x1) labels[j * width + i] = value;
      }
    }
    return labels;
  }
  if (op.tool === "brush") {
    const pts = op.points || [];
    const r = Number(op.radius);
    const r2 = r * r;
    const n = pts.length;
    for (let s = 0; s < Math.max(1, n - 1); s++) {
      const a = pts[Math.min(s, n - 1)];
      const b = n === 1 ? a : pts[s + 1];
      if (!a || !b) continue;
      const [ax, ay] = a;
      const [bx, by] = b;
      const dx = bx - ax, dy = by - ay;
      const len2 = dx * dx + dy * dy;
      const i0 = Math.max(0, Math.floor(Math.min(ax, bx) - r - 1)), i1 = Math.min(width - 1, Math.ceil(Math.max(ax, bx) + r));
      const j0 = Math.max(0, Math.floor(Math.min(ay, by) - r - 1)), j1 = Math.min(height - 1, Math.ceil(Math.max(ay, by) + r));
      for (let j = j0; j <= j1; j++) {
        const py = j + 0.5;
        for (let i = i0; i <= i1; i++) {
          const px = i + 0.5;
          const t = len2 > 0 ? clamp01(((px - ax) * dx + (py - ay) * dy) / len2) : 0;
          const qx = px - (ax + t * dx), qy = py - (ay + t * dy);
          if (qx * qx + qy * qy <= r2) labels[j * width + i] = value;
        }
      }
    }
    return labels;
  }
  throw new Error(`unknown collage tool ${op.tool}`);
}

/** The label map of a list of operations. */
export function rasterize(ops, width, height) {
  const labels = emptyLabels(width, height);
  for (const op of ops) paintOp(labels, op, width, height);
  return labels;
}

/** Share of known pixels in a label map. */
export function knownFraction(labels) {
  let n = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] !== UNKNOWN) n += 1;
  return labels.length ? n / labels.length : 0;
}

/**
 * RGBA pixels of the collage: each known pixel from its source's RGBA pixels (`sources[k]`, may be
 * null while not received), unknown pixels as a grey checkerboard.
 */
export function collagePixels(labels, sources, width, height, out = new Uint8ClampedArray(width * height * 4)) {
  for (let j = 0; j < height; j++) {
    for (let i = 0; i < width; i++) {
      const p = j * width + i;
      const k = labels[p];
      const src = k >= 0 ? sources[k] : null;
      const o = p * 4;
      if (src) {
        out[o] = src[o];
        out[o + 1] = src[o + 1];
        out[o + 2] = src[o + 2];
      } else {
        const g = ((i >> 2) + (j >> 2)) & 1 ? 150 : 185;
        out[o] = g;
        out[o + 1] = g;
        out[o + 2] = g;
      }
      out[o + 3] = 255;
    }
  }
  return out;
}

/** RGBA overlay of source `k`: the pixels the collage takes from it tinted, the rest transparent. */
export function overlayPixels(labels, k, width, height, out = new Uint8ClampedArray(width * height * 4)) {
  for (let p = 0; p < width * height; p++) {
    const o = p * 4;
    if (labels[p] === k) {
      out[o] = 0;
      out[o + 1] = 170;
      out[o + 2] = 255;
      out[o + 3] = 110;
    } else {
      out[o + 3] = 0;
    }
  }
  return out;
}

/** Pointer position in image pixels (rounded to 1/100 px). */
export function imagePoint(event, canvas, width, height) {
  const r = canvas.getBoundingClientRect();
  const x = r.width > 0 ? ((event.clientX - r.left) / r.width) * width : 0;
  const y = r.height > 0 ? ((event.clientY - r.top) / r.height) * height : 0;
  return [Math.round(x * 100) / 100, Math.round(y * 100) / 100];
}

function putPixels(canvas, pixels, width, height) {
  if (canvas.width !== width) canvas.width = width;
  if (canvas.height !== height) canvas.height = height;
  canvas.getContext("2d").putImageData(new ImageData(pixels, width, height), 0, 0);
}

export function render({ model, el }) {
  const n = Math.max(1, model.get("n_sources") || 1);
  const width = model.get("resolution") || 64; // image pixels (frames and labels)
  const height = width;
  let committed = []; // finished operations
  let current = null; // the operation being painted
  let base = emptyLabels(width, height); // labels of `committed`
  let labels = base;
  const sourcePixels = new Array(n).fill(null); // RGBA of each source as drawn
  const drawnSources = new Array(n).fill(null); // what each drawn source is of: seed, class, truncation

  const root = h("div", { class: "lw-widget lw-collage", "data-uid": model.get("_uid") || "" });
  const title = h("div", { class: "lw-title", text: model.get("title") || "CollageCanvas" });
  const error = h("div", { class: "lw-error", role: "alert" });
  error.hidden = true;
  // the view state ({ seeds, ops }) lives in `view` (base.js); `ops` is `committed` + `current`. Its undo
  // steps are made here (`step()`: a finished stroke is one step however long it rested), not by time.
  const view = connectFrames(model, {
    root, errorBox: error, onFrame, onState: showState, history: ["ops", "seeds", "class_index", "truncation"], historyDelayMs: 2 ** 31 - 1,
  });
  const seeds = () => view.state.seeds || Array.from({ length: n }, (_, k) => k);

  // ---------------------------------------------------------------- sources (image + overlay layers)
  const sources = [];
  for (let k = 0; k < n; k++) {
    const image = h("canvas", { class: "lw-source-image", "aria-hidden": "true" });
    const overlay = h("canvas", { class: "lw-source-overlay lw-paint", "data-source": k, "aria-label": `source ${k + 1}: paint to take its pixels` });
    const stack = h("div", { class: "lw-stack" }, [image, overlay]);
    const seedText = h("span", { class: "lw-seed" });
    const fresh = h("button", { type: "button", class: "lw-new", title: `new sample for source ${k + 1}`, text: "new" });
    const all = h("button", { type: "button", class: "lw-fill", title: `take all of source ${k + 1}`, text: "take all" });
    const caption = h("div", { class: "lw-caption" }, [h("span", { text: `source ${k + 1}` }), seedText, fresh, all]);
    const cell = h("figure", { class: "lw-cell lw-source", "data-source": k }, [stack, caption]);
    fresh.addEventListener("click", () => {
      const next = seeds().slice();
      next[k] = newSeed(next[k]);
      view.state.seeds = next;
      showSeeds();
      ask();
      step();
    });
    all.addEventListener("click", () => {
      commit({ tool: "fill", source: k });
    });
    sources.push({ image, overlay, cell, seedText });
  }
  const collageCanvas = h("canvas", { class: "lw-collage-image lw-paint", "data-source": "collage", "aria-label": "collage: paint to erase (inpaint)" });
  const projection = h("canvas", { class: "lw-projection", "aria-label": "projection of the collage" });
  const collageCell = h("figure", { class: "lw-cell" }, [collageCanvas, h("figcaption", { text: "collage (paint here to erase)" })]);
  const projectionCell = h("figure", { class: "lw-cell" }, [projection, h("figcaption", { text: "projection" })]);

  // ---------------------------------------------------------------- toolbar
  const uid = `lwc${Math.random().toString(36).slice(2, 8)}`;
  const toolButtons = ["brush", "rect"].map((tool) => {
    const b = h("button", { type: "button", class: "lw-tool", "data-tool": tool, "aria-pressed": "false", text: tool === "rect" ? "rectangle" : "brush" });
    b.addEventListener("click", () => setSetting("tool", tool));
    return b;
  });
  const modeButton = h("button", { type: "button", class: "lw-mode", "aria-pressed": "false", text: "erase" });
  modeButton.addEventListener("click", () => setSetting("mode", model.get("mode") === "erase" ? "take" : "erase"));
  const radius = h("input", { type: "range", id: `${uid}-radius`, class: "lw-radius", min: 0.5, max: Math.max(4, width / 4), step: 0.5, value: model.get("brush_radius") || 4, ...NO_SHORTCUTS });
  const radiusLabel = h("label", { for: `${uid}-radius`, text: "radius" });
  const radiusOut = h("output", { for: `${uid}-radius`, class: "lw-value" });
  radius.addEventListener("input", () => setSetting("brush_radius", Number(radius.value)));
  const clearButton = h("button", { type: "button", class: "lw-clear", text: "clear" });
  clearButton.addEventListener("click", () => {
    current = null;
    committed = [];
    rebuild();
    ask();
    step();
  });
  const picker = classPicker(model, view, uid);
  const truncation = truncationControl(model, view, uid);
  // undo / redo, PNG (the collage beside its projection, as shown) and copy code
  const tools = toolbar(view, {
    png: () => compositeCanvas([collageCanvas, projection], { size: model.get("display_size") || 192 }), filename: "collage.png",
  });
  const bar = h("div", { class: "lw-bar" }, [...toolButtons, modeButton, radiusLabel, radius, radiusOut, clearButton,
    ...(picker ? [picker.el] : []), ...(truncation ? [truncation.el] : []), tools.el]);
  const readout = h("div", { class: "lw-readout", "aria-live": "off" });

  const sourceRow = h("div", { class: "lw-row lw-sources" }, sources.map((s) => s.cell));
  const resultRow = h("div", { class: "lw-row" }, [collageCell, projectionCell]);
  root.append(title, sourceRow, bar, resultRow, error, readout);
  el.append(root);

  function setSetting(name, value) {
    model.set(name, value);
    model.save_changes();
    showSettings();
  }
  function showSettings() {
    const tool = model.get("tool") || "brush";
    for (const b of toolButtons) b.setAttribute("aria-pressed", b.dataset.tool === tool ? "true" : "false");
    const erase = model.get("mode") === "erase";
    modeButton.setAttribute("aria-pressed", erase ? "true" : "false");
    root.classList.toggle("lw-erasing", erase);
    const r = Number(model.get("brush_radius") || 4);
    if (Number(radius.value) !== r) radius.value = String(r);
    radiusOut.textContent = `${r.toFixed(1)} px`;
  }
  function showSeeds() {
    sources.forEach((s, k) => {
      s.seedText.textContent = `seed ${seeds()[k]}`;
    });
  }
  function layout() {
    const size = model.get("display_size") || 192;
    for (const c of [...sources.map((s) => s.cell.querySelector(".lw-stack")), collageCanvas, projection]) c.style.width = `${size}px`;
  }

  // ---------------------------------------------------------------- drawing the collage and overlays
  function ops() {
    return current ? [...committed, current] : committed;
  }
  function redraw() {
    labels = current ? paintOp(base.slice(), current, width, height) : base;
    sources.forEach((s, k) => putPixels(s.overlay, overlayPixels(labels, k, width, height), width, height));
    putPixels(collageCanvas, collagePixels(labels, sourcePixels, width, height), width, height);
  }
  function rebuild() {
    base = rasterize(committed, width, height);
    redraw();
  }
  function commit(op) {
    committed = [...committed, op];
    base = paintOp(base.slice(), op, width, height);
    redraw();
    ask();
    step();
  }
  /** The changes so far are one undo step. */
  function step() {
    view.commit();
  }

  // ---------------------------------------------------------------- painting
  let painting = null; // { canvas, pointerId }
  function startStroke(event, canvas, target) {
    if (event.button !== undefined && event.button !== 0) return;
    event.preventDefault();
    const erase = target === "collage" || model.get("mode") === "erase";
    const source = erase ? null : target;
    const [x, y] = imagePoint(event, canvas, width, height);
    step(); // (changes before the stroke, such as a new class, are a step of their own)
    current = (model.get("tool") || "brush") === "rect"
      ? { tool: "rect", source, x0: x, y0: y, x1: x, y1: y }
      : { tool: "brush", source, radius: Number(model.get("brush_radius") || 4), points: [[x, y]] };
    painting = { canvas, pointerId: event.pointerId };
    if (canvas.setPointerCapture && event.pointerId !== undefined) {
      try {
        canvas.setPointerCapture(event.pointerId);
      } catch (err) {
        // synthetic events have no active pointer; painting still works without capture
      }
    }
    redraw();
    ask();
  }
  function moveStroke(event) {
    if (!painting || !current) return;
    const [x, y] = imagePoint(event, painting.canvas, width, height);
    if (current.tool === "rect") {
      if (current.x1 === x && current.y1 === y) return;
      current = { ...current, x1: x, y1: y };
    } else {
      const last = current.points[current.points.length - 1];
      if (last[0] === x && last[1] === y) return;
      current = { ...current, points: [...current.points, [x, y]] };
    }
    redraw();
    ask();
  }
  function endStroke() {
    if (!painting) return;
    painting = null;
    if (current) {
      committed = [...committed, current];
      current = null;
      base = labels; // = the committed labels painted with the finished operation
      redraw();
      ask();
      step();
    }
  }
  const paintTargets = [...sources.map((s, k) => [s.overlay, k]), [collageCanvas, "collage"]];
  for (const [canvas, target] of paintTargets) {
    canvas.addEventListener("pointerdown", (e) => startStroke(e, canvas, target));
    canvas.addEventListener("pointermove", moveStroke);
    canvas.addEventListener("pointerup", endStroke);
    canvas.addEventListener("pointercancel", endStroke);
    canvas.addEventListener("lostpointercapture", endStroke);
  }

  // ---------------------------------------------------------------- frames
  let firstFrame = true;
  const readoutText = throttledText(readout);

  function showState(s) {
    showSeeds();
    if (picker) picker.show(s);
    if (truncation) truncation.show(s);
    if (Array.isArray(s.ops)) {
      committed = s.ops.map((op) => ({ ...op }));
      rebuild();
    }
  }

  function onFrame({ msg, bitmaps, sentAt }) {
    const [proj, ...srcs] = bitmaps;
    if (proj) drawBitmap(projection, proj);
    const state = msg.state || view.state;
    const frameSeeds = state.seeds || seeds();
    let sourcesChanged = false;
    srcs.forEach((b, k) => {
      const key = `${frameSeeds[k]}:${state.class_index ?? 0}:${state.truncation ?? 1}`;
      if (k >= n || drawnSources[k] === key) {
        if (typeof b.close === "function") b.close();
        return;
      }
      drawBitmap(sources[k].image, b);
      sourcePixels[k] = sources[k].image.getContext("2d").getImageData(0, 0, width, height).data;
      drawnSources[k] = key;
      sourcesChanged = true;
    });
    if (sourcesChanged || firstFrame) redraw();
    firstFrame = false;
    // what a user reads; the developer timings only with the widget's `debug`
    const parts = [`${(100 * knownFraction(labels)).toFixed(0)}% known`, `${committed.length} stroke${committed.length === 1 ? "" : "s"}`];
    const timings = timingText(model, { msg, sentAt });
    if (timings) parts.push(timings);
    readoutText.set(parts.join(" \u00b7 "));
  }

  function ask() {
    view.set({ seeds: seeds(), ops: ops() });
  }

  // for tests and tools: what this view holds
  root.lwCollage = {
    labels: () => Array.from(labels),
    ops: () => ops(),
    size: () => [width, height],
    transport: view.transport,
  };

  const onSettings = () => showSettings();
  const onLayout = () => layout();
  for (const name of ["tool", "mode", "brush_radius"]) model.on(`change:${name}`, onSettings);
  model.on("change:display_size", onLayout);

  showSeeds();
  showSettings();
  layout();
  redraw();

  return () => {
    tools.dispose();
    view.dispose();
    readoutText.dispose();
    for (const name of ["tool", "mode", "brush_radius"]) model.off(`change:${name}`, onSettings);
    model.off("change:display_size", onLayout);
    delete root.lwCollage;
  };
}

export default { render };
