// LayerwiseEditor front end: a stack of edits (direction, strength, layer range), a two-handle layer
// range with coarse / middle / fine presets, the edited samples, and a strip with the selected edit at
// several layer ranges. State lives in Python; the view state and its requests are base.js's
// `connectFrames`.

import { classPicker, connectFrames, h, NO_SHORTCUTS } from "./base.js";
import { drawBitmap } from "./transport.js";

/** Clamp a two-handle range to 0 <= start < end <= L; `moved` ("start" | "end") keeps its value. */
export function clampRange(start, end, L, moved = "end") {
  let s = Math.max(0, Math.min(L - 1, Math.round(Number(start))));
  let e = Math.max(1, Math.min(L, Math.round(Number(end))));
  if (s >= e) {
    if (moved === "start") e = Math.min(L, s + 1);
    else s = Math.max(0, e - 1);
    if (s >= e) s = e - 1;
  }
  return [s, e];
}

/** "coarse 0-4" when a range is a preset, else "layers 2-7". */
export function rangeLabel(range, groups = {}) {
  for (const [name, r] of Object.entries(groups)) {
    if (r[0] === range[0] && r[1] === range[1]) return `${name} ${range[0]}-${range[1]}`;
  }
  const ends = Object.values(groups).map((r) => r[1]);
  if (ends.length && range[0] === 0 && range[1] === Math.max(...ends)) return `all ${range[0]}-${range[1]}`;
  return `layers ${range[0]}-${range[1]}`;
}

/** A new stack item for direction k over all layers. */
export function newItem(k, L, strength = 1) {
  return { direction: k, strength, layers: [0, L] };
}

let viewCounter = 0;

export function render({ model, el }) {
  const uid = `lwl${++viewCounter}${Math.random().toString(36).slice(2, 6)}`;
  let c = model.get("controls") || {};
  const names = c.names || [];
  const L = c.num_layers || 1;
  const groups = c.groups || {};

  const root = h("div", { class: "lw-widget lw-layerwise", "data-uid": model.get("_uid") || "" });
  const title = h("div", { class: "lw-title", text: model.get("title") || "LayerwiseEditor" });
  const error = h("div", { class: "lw-error", role: "alert" });
  error.hidden = true;
  // the view state ({ stack, selected, seed, strip, ... }) lives in `view` (base.js)
  const view = connectFrames(model, { root, errorBox: error, onFrame, onState: showAll });
  const state = () => view.state;
  const stack = () => state().stack || [];
  const grid = h("div", { class: "lw-grid", role: "img", "aria-label": "edited samples" });
  const stackList = h("ol", { class: "lw-stack", "aria-label": "edits" });

  // ---------------------------------------------------------------- controls of the selected edit
  const dirSelect = h("select", { class: "lw-direction", id: `${uid}-dir`, ...NO_SHORTCUTS },
    names.map((n, k) => h("option", { value: k, text: n })));
  const strength = h("input", { type: "range", class: "lw-strength", id: `${uid}-str`, min: c.min, max: c.max, step: c.step, value: 0, ...NO_SHORTCUTS });
  const strengthOut = h("output", { for: `${uid}-str`, class: "lw-value" });
  const startIn = h("input", { type: "range", class: "lw-start", min: 0, max: L, step: 1, value: 0, "aria-label": "first layer", ...NO_SHORTCUTS });
  const endIn = h("input", { type: "range", class: "lw-end", min: 0, max: L, step: 1, value: L, "aria-label": "end layer (exclusive)", ...NO_SHORTCUTS });
  const rangeOut = h("output", { class: "lw-range-value" });
  const presets = ["coarse", "middle", "fine"].filter((g) => groups[g]).concat(["all"]).map((g) =>
    h("button", { type: "button", class: `lw-preset lw-preset-${g}`, "data-preset": g, text: g }));
  const addBtn = h("button", { type: "button", class: "lw-add", text: "+ add edit" });
  const rangeBox = h("div", { class: "lw-range" }, [h("span", { text: "layers" }), h("div", { class: "lw-handles" }, [startIn, endIn]), rangeOut, ...presets]);
  if (!c.layered) rangeBox.hidden = true;
  const editor = h("div", { class: "lw-editor" }, [
    h("label", { for: `${uid}-dir`, text: "direction" }), dirSelect,
    h("label", { for: `${uid}-str`, text: "strength" }), strength, strengthOut, addBtn,
  ]);
  const strip = h("div", { class: "lw-strip", "aria-label": "selected edit at several layer ranges" });
  const picker = classPicker(model, view, uid);
  if (picker) editor.append(picker.el);
  root.append(title, grid, error, stackList, editor, rangeBox, strip);
  // a strength set from Python beyond the slider's range widens it (Python sends the new range)
  const onControls = () => {
    c = model.get("controls") || {};
    strength.min = String(c.min);
    strength.max = String(c.max);
    showControls();
  };
  model.on("change:controls", onControls);
  el.append(root);

  function sel() {
    const i = state().selected;
    return i >= 0 && i < stack().length ? stack()[i] : null;
  }

  function showStack() {
    const selected = state().selected;
    stackList.replaceChildren(...stack().map((it, i) => {
      const label = `${names[it.direction] ?? it.direction} ${it.strength >= 0 ? "+" : "\u2212"}${Math.abs(it.strength).toFixed(2)}\u03c3` +
        (c.layered ? ` @ ${rangeLabel(it.layers, groups)}` : "");
      const pick = h("button", { type: "button", class: "lw-pick", "aria-pressed": i === selected ? "true" : "false", text: label });
      const del = h("button", { type: "button", class: "lw-remove", "aria-label": `remove edit ${i + 1}`, text: "\u00d7" });
      pick.addEventListener("click", () => { view.set({ selected: i }); showAll(); });
      del.addEventListener("click", () => {
        const rest = stack().filter((_, j) => j !== i);
        view.set({ stack: rest, selected: Math.min(state().selected, rest.length - 1) });
        showAll();
      });
      return h("li", { class: i === selected ? "lw-item lw-selected" : "lw-item" }, [pick, del]);
    }));
  }

  function showControls() {
    const it = sel();
    for (const x of [dirSelect, strength, startIn, endIn, ...presets]) x.disabled = !it;
    if (!it) { strengthOut.textContent = ""; rangeOut.textContent = ""; return; }
    dirSelect.value = String(it.direction);
    strength.value = String(it.strength);
    strengthOut.textContent = `${it.strength >= 0 ? "+" : "\u2212"}${Math.abs(it.strength).toFixed(2)} \u03c3`;
    startIn.value = String(it.layers[0]);
    endIn.value = String(it.layers[1]);
    rangeOut.textContent = rangeLabel(it.layers, groups);
    for (const b of presets) {
      const g = b.dataset.preset;
      const r = g === "all" ? [0, L] : groups[g];
      b.setAttribute("aria-pressed", r[0] === it.layers[0] && r[1] === it.layers[1] ? "true" : "false");
    }
  }

  function showAll() {
    showStack();
    showControls();
    if (picker) picker.show(state());
  }

  function setRange(r) {
    const it = sel();
    if (!it) return;
    it.layers = r;
    showAll(); view.request();
  }

  dirSelect.addEventListener("change", () => { const it = sel(); if (it) { it.direction = Number(dirSelect.value); showAll(); view.request(); } });
  strength.addEventListener("input", () => { const it = sel(); if (it) { it.strength = Number(strength.value); showAll(); view.request(); } });
  startIn.addEventListener("input", () => { const r = clampRange(startIn.value, endIn.value, L, "start"); setRange(r); });
  endIn.addEventListener("input", () => { const r = clampRange(startIn.value, endIn.value, L, "end"); setRange(r); });
  for (const b of presets) b.addEventListener("click", () => setRange(b.dataset.preset === "all" ? [0, L] : groups[b.dataset.preset].slice()));
  addBtn.addEventListener("click", () => {
    const it = sel();
    const next = [...stack(), newItem(it ? it.direction : 0, L, 1)];
    view.set({ stack: next, selected: next.length - 1 });
    showAll();
  });

  // ---------------------------------------------------------------- frames
  let canvases = [];
  let stripCells = [];
  function ensure(n, s) {
    const size = model.get("display_size") || 160;
    if (canvases.length !== n) {
      grid.replaceChildren();
      canvases = Array.from({ length: n }, (_, i) => {
        const cv = h("canvas", { class: "lw-canvas", "data-index": i, "aria-label": `sample ${i + 1}` });
        cv.style.width = `${size}px`;
        grid.append(cv);
        return cv;
      });
    }
    const labels = c.layered ? (state().strip || []).map((r) => rangeLabel(r, groups))
      : (c.strip_strengths || []).map((v) => `${v >= 0 ? "+" : "\u2212"}${Math.abs(v).toFixed(1)}\u03c3`);
    if (stripCells.length !== s || stripCells.some((x, i) => x.label.textContent !== labels[i])) {
      strip.replaceChildren();
      stripCells = Array.from({ length: s }, (_, i) => {
        const cv = h("canvas", { class: "lw-canvas lw-strip-canvas", "data-index": i });
        cv.style.width = `${Math.round(size * 0.75)}px`;
        const label = h("figcaption", { text: labels[i] || "" });
        strip.append(h("figure", { class: "lw-cell" }, [cv, label]));
        return { canvas: cv, label };
      });
    }
  }

  function onFrame({ msg, bitmaps }) {
    const n = (msg.state && msg.state.n) || 1;
    ensure(n, bitmaps.length - n);
    bitmaps.forEach((b, i) => drawBitmap(i < n ? canvases[i] : stripCells[i - n].canvas, b));
  }

  showAll();
  return () => {
    model.off("change:controls", onControls);
    view.dispose();
  };
}

export default { render };
