// LayerwiseEditor front end: a stack of edits (direction, strength, layer range), a two-handle layer
// range with coarse / middle / fine presets, the samples with the stack applied (or without, or both
// side by side), and a strip with the selected edit at several layer ranges. State lives in Python;
// the view state, its requests and its undo history are base.js's `connectFrames`.
//
// Layer ranges are stored half-open ([8, 10): layers 8 and 9, as Python's `resolve_layers`); every
// label a user reads is inclusive ("layers 8-9").

import { classPicker, compositeCanvas, connectFrames, h, NO_SHORTCUTS, sliderKeys, toolbar, truncationControl } from "./base.js";
import { drawBitmap } from "./transport.js";

/** What the page may show: the samples with the stack, without it, or each one before and after. */
export const VIEW_MODES = [["edited", "stack"], ["original", "no edits"], ["side by side", "side by side"]];

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

/** The layers of a half-open range as a user reads them: [8, 10] -> "layers 8-9", [3, 4] -> "layer 3". */
export function layersText(range) {
  const [s, e] = range;
  return e - s === 1 ? `layer ${s}` : `layers ${s}-${e - 1}`;
}

/**
 * "fine: layers 8-9" when a range is a preset, "all: layers 0-9" for every layer (L given, or the
 * presets' last layer), else "layers 2-6" (inclusive, whatever the half-open range stored).
 */
export function rangeLabel(range, groups = {}, L = undefined) {
  const ends = Object.values(groups).map((r) => r[1]);
  const last = L ?? (ends.length ? Math.max(...ends) : undefined);
  if (range[0] === 0 && range[1] === last) return `all: ${layersText(range)}`;
  for (const [name, r] of Object.entries(groups)) {
    if (r[0] === range[0] && r[1] === range[1]) return `${name}: ${layersText(range)}`;
  }
  return layersText(range);
}

/** A new stack item for direction k over all layers. */
export function newItem(k, L, strength = 1) {
  return { direction: k, strength, layers: [0, L] };
}

/** "+1.50 σ" / "−0.20 σ". */
function sigmaText(v) {
  return `${v >= 0 ? "+" : "\u2212"}${Math.abs(v).toFixed(2)}\u00a0\u03c3`;
}

/**
 * The two-handle layer range: one cell per layer on a track (the chosen cells filled), a handle at
 * each end of the fill (role="slider", keyboard: Arrow keys one layer, PageUp/PageDown a quarter of
 * the layers, Home/End), the presets' spans below. A pointer on the track moves the nearer handle to
 * the layer under it. `onChange([start, end))` gets the half-open range. Returns
 * { el, show(range | null), handles: [first, last] }.
 */
export function layerRangeControl({ L, groups = {}, onChange }) {
  const cells = Array.from({ length: L }, (_, i) =>
    h("div", { class: "lw-layer", "data-layer": i, text: L <= 24 || i % Math.ceil(L / 12) === 0 ? String(i) : "" }));
  const handle = (which) => h("div", {
    class: `lw-handle lw-handle-${which}`, role: "slider", tabindex: 0, "aria-orientation": "horizontal",
    "aria-label": which === "first" ? "first layer" : "last layer", "aria-valuemin": 0, "aria-valuemax": L - 1, ...NO_SHORTCUTS,
  });
  const first = handle("first");
  const last = handle("last");
  const track = h("div", { class: "lw-track" }, [...cells, first, last]);
  track.style.setProperty("--lw-layers", String(L));
  const spans = Object.entries(groups).filter(([, r]) => r[1] - r[0] < L).map(([name, r]) => {
    const span = h("div", { class: `lw-group lw-group-${name}`, text: name, title: `${name}: ${layersText(r)}` });
    span.style.gridColumn = `${r[0] + 1} / ${r[1] + 1}`;
    return span;
  });
  const groupRow = h("div", { class: "lw-groups", "aria-hidden": "true" }, spans);
  groupRow.style.setProperty("--lw-layers", String(L));
  const el = h("div", { class: "lw-layer-range", role: "group", "aria-label": "layer range" }, [track, groupRow]);
  let range = null;

  function show(next) {
    range = next ? [next[0], next[1]] : null;
    for (const hd of [first, last]) {
      hd.setAttribute("aria-disabled", range ? "false" : "true");
      hd.tabIndex = range ? 0 : -1;
    }
    el.classList.toggle("lw-disabled", !range);
    cells.forEach((c, i) => c.classList.toggle("lw-in", !!range && i >= range[0] && i < range[1]));
    if (!range) return;
    const [s, e] = range;
    first.style.left = `${(100 * s) / L}%`;
    last.style.left = `${(100 * e) / L}%`;
    first.setAttribute("aria-valuenow", String(s));
    first.setAttribute("aria-valuetext", `from layer ${s}`);
    last.setAttribute("aria-valuenow", String(e - 1));
    last.setAttribute("aria-valuetext", `to layer ${e - 1}`);
  }

  /** Move handle `which` to layer `layer` (inclusive), pushing the other one along. */
  function move(which, layer) {
    if (!range) return;
    const next = which === "first" ? clampRange(layer, range[1], L, "start") : clampRange(range[0], layer + 1, L, "end");
    if (next[0] === range[0] && next[1] === range[1]) return;
    show(next);
    onChange(next.slice());
  }

  const page = Math.max(1, Math.round(L / 4));
  for (const [hd, which] of [[first, "first"], [last, "last"]]) {
    hd.addEventListener("keydown", (event) => {
      if (!range) return;
      const at = which === "first" ? range[0] : range[1] - 1;
      const to = {
        ArrowLeft: at - 1, ArrowDown: at - 1, ArrowRight: at + 1, ArrowUp: at + 1,
        PageDown: at - page, PageUp: at + page, Home: 0, End: L - 1,
      }[event.key];
      if (to === undefined) return;
      event.preventDefault();
      event.stopPropagation();
      move(which, Math.max(0, Math.min(L - 1, to)));
    });
  }

  let dragging = null;
  function layerAt(event) {
    const r = track.getBoundingClientRect();
    const x = r.width > 0 ? (event.clientX - r.left) / r.width : 0;
    return Math.max(0, Math.min(L - 1, Math.floor(x * L)));
  }
  track.addEventListener("pointerdown", (event) => {
    if (!range || (event.button !== undefined && event.button !== 0)) return;
    event.preventDefault();
    const layer = layerAt(event);
    let which;
    if (event.target === first || event.target === last) which = event.target === first ? "first" : "last";
    else if (layer < range[0]) which = "first";
    else if (layer >= range[1]) which = "last";
    else which = layer - range[0] <= range[1] - 1 - layer ? "first" : "last";
    dragging = { which, pointerId: event.pointerId };
    (which === "first" ? first : last).focus();
    if (track.setPointerCapture && event.pointerId !== undefined) {
      try {
        track.setPointerCapture(event.pointerId);
      } catch (err) {
        // synthetic events have no active pointer: dragging still works without capture
      }
    }
    move(which, layer);
  });
  track.addEventListener("pointermove", (event) => {
    if (dragging) move(dragging.which, layerAt(event));
  });
  for (const name of ["pointerup", "pointercancel", "lostpointercapture"]) track.addEventListener(name, () => { dragging = null; });

  return { el, show, handles: [first, last] };
}

let viewCounter = 0;

export function render({ model, el }) {
  const uid = `lwl${++viewCounter}${Math.random().toString(36).slice(2, 6)}`;
  let c = model.get("controls") || {};
  const names = () => c.names || [];
  const L = c.num_layers || 1;
  const groups = c.groups || {};

  const root = h("div", { class: "lw-widget lw-layerwise", "data-uid": model.get("_uid") || "" });
  const title = h("div", { class: "lw-title", text: model.get("title") || "LayerwiseEditor" });
  const error = h("div", { class: "lw-error", role: "alert" });
  error.hidden = true;
  // the view state ({ stack, selected, seed, strip, view_mode, ... }) lives in `view` (base.js); undo and
  // redo step through the edits, the seed and the truncation (not what the page shows: view mode, strip)
  const view = connectFrames(model, {
    root, errorBox: error, onFrame, onState: showAll, history: ["stack", "selected", "seed", "truncation", "class_index"],
  });
  const state = () => view.state;
  const stack = () => state().stack || [];
  const grid = h("div", { class: "lw-grid", role: "img", "aria-label": "edited samples" });
  const stackList = h("ol", { class: "lw-stack", "aria-label": "edits" });

  // ---------------------------------------------------------------- controls of the selected edit
  const dirSelect = h("select", { class: "lw-direction", id: `${uid}-dir`, ...NO_SHORTCUTS });
  const showNames = () => {
    const keep = dirSelect.value;
    dirSelect.replaceChildren(...names().map((n, k) => h("option", { value: k, text: n })));
    if (keep !== "") dirSelect.value = keep;
  };
  showNames();
  const strength = h("input", { type: "range", class: "lw-strength", id: `${uid}-str`, min: c.min, max: c.max, step: c.step, value: 0, ...NO_SHORTCUTS });
  const strengthOut = h("output", { for: `${uid}-str`, class: "lw-value" });
  const rangeOut = h("output", { class: "lw-range-value", "aria-live": "polite" });
  const rangeControl = layerRangeControl({ L, groups, onChange: (r) => setRange(r) });
  const presets = ["coarse", "middle", "fine"].filter((g) => groups[g]).concat(["all"]).map((g) => {
    const r = g === "all" ? [0, L] : groups[g];
    return h("button", { type: "button", class: `lw-preset lw-preset-${g}`, "data-preset": g, "aria-pressed": "false", text: g, title: `${g}: ${layersText(r)}` });
  });
  const addBtn = h("button", { type: "button", class: "lw-add", text: "+ add edit" });
  const renameBtn = h("button", { type: "button", class: "lw-rename-direction", text: "rename", title: "rename this direction (F2 on the list)" });
  const rangeBox = h("div", { class: "lw-range" }, [
    h("span", { class: "lw-range-title", text: "layers" }), rangeControl.el,
    h("span", { class: "lw-presets", role: "group", "aria-label": "layer presets" }, presets), rangeOut,
  ]);
  if (!c.layered) rangeBox.hidden = true;
  const editor = h("div", { class: "lw-editor" }, [
    h("label", { for: `${uid}-dir`, text: "direction" }), dirSelect, renameBtn,
    h("label", { for: `${uid}-str`, text: "strength" }), strength, strengthOut, addBtn,
  ]);
  const modeButtons = VIEW_MODES.map(([value, text]) =>
    h("button", { type: "button", class: "lw-mode", "data-mode": value, "aria-pressed": "false", text }));
  const modes = h("span", { class: "lw-modes", role: "group", "aria-label": "show" }, modeButtons);
  const bar = h("div", { class: "lw-bar" }, [modes]);
  const picker = classPicker(model, view, uid);
  if (picker) bar.append(picker.el);
  const truncation = truncationControl(model, view, uid);
  if (truncation) bar.append(truncation.el);
  // PNG: the samples as shown (with the stack, without, or side by side), at their on-screen size
  const tools = toolbar(view, {
    png: () => compositeCanvas(cells, { size: model.get("display_size") || 160 }), filename: "layerwise.png",
  });
  bar.append(tools.el);
  const strip = h("div", { class: "lw-strip", "aria-label": "selected edit at several layer ranges" });
  root.append(title, bar, grid, error, stackList, editor, rangeBox, strip);
  // a strength set from Python beyond the slider's range widens it; a renamed direction shows its name
  const onControls = () => {
    c = model.get("controls") || {};
    strength.min = String(c.min);
    strength.max = String(c.max);
    showNames();
    showAll();
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
      const label = `${names()[it.direction] ?? it.direction} ${sigmaText(it.strength)}` +
        (c.layered ? ` @ ${rangeLabel(it.layers, groups, L)}` : "");
      const pick = h("button", { type: "button", class: "lw-pick", "aria-pressed": i === selected ? "true" : "false", text: label });
      const del = h("button", { type: "button", class: "lw-remove", "aria-label": `remove edit ${i + 1}`, title: "remove", text: "\u00d7" });
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
    for (const x of [dirSelect, renameBtn, strength, ...presets]) x.disabled = !it;
    rangeControl.show(it ? it.layers : null);
    if (!it) { strengthOut.textContent = ""; rangeOut.textContent = ""; return; }
    dirSelect.value = String(it.direction);
    strength.value = String(it.strength);
    strengthOut.textContent = sigmaText(it.strength);
    rangeOut.textContent = rangeLabel(it.layers, groups, L);
    for (const b of presets) {
      const g = b.dataset.preset;
      const r = g === "all" ? [0, L] : groups[g];
      b.setAttribute("aria-pressed", r[0] === it.layers[0] && r[1] === it.layers[1] ? "true" : "false");
    }
  }

  function showModes() {
    const mode = state().view_mode || "edited";
    for (const b of modeButtons) b.setAttribute("aria-pressed", b.dataset.mode === mode ? "true" : "false");
  }

  function showAll() {
    showStack();
    showControls();
    showModes();
    if (picker) picker.show(state());
    if (truncation) truncation.show(state());
  }

  function setRange(r) {
    const it = sel();
    if (!it) return;
    it.layers = r;
    showAll(); view.request();
  }

  function setStrength(v) {
    const it = sel();
    if (!it) return;
    it.strength = Math.round(Number(v) * 1000) / 1000;
    showAll(); view.request();
  }

  // rename: a text box in place of the direction list; Enter (or leaving it) asks Python, Escape keeps
  // the old name. The list shows the new name once Python has it (the `controls` it sends back); a
  // name it refuses shows as the widget's error.
  function startRename() {
    const it = sel();
    if (!it || editor.querySelector(".lw-rename")) return;
    const k = it.direction;
    const old = names()[k] ?? String(k);
    const box = h("input", { type: "text", class: "lw-rename", value: old, "aria-label": `new name for ${old}`, ...NO_SHORTCUTS });
    let done = false;
    const finish = (commit) => {
      if (done) return;
      done = true;
      const name = box.value.trim();
      box.replaceWith(dirSelect);
      if (commit && name !== old) model.send({ type: "lw:rename", index: k, name }); // ("": Python says why not)
      dirSelect.focus();
    };
    box.addEventListener("keydown", (e) => {
      e.stopPropagation();
      if (e.key === "Enter") finish(true);
      else if (e.key === "Escape") finish(false);
    });
    box.addEventListener("blur", () => finish(true));
    dirSelect.replaceWith(box);
    box.focus();
    box.select();
  }
  renameBtn.addEventListener("click", startRename);
  dirSelect.addEventListener("keydown", (e) => { if (e.key === "F2") { e.preventDefault(); startRename(); } });
  dirSelect.addEventListener("change", () => { const it = sel(); if (it) { it.direction = Number(dirSelect.value); showAll(); view.request(); } });
  strength.addEventListener("input", () => setStrength(strength.value));
  strength.addEventListener("change", () => view.commit()); // the drag ended: one undo step
  // Arrow keys 0.1 sigma, Shift+Arrow 1 sigma (the slider may pass its ends: Python widens it)
  sliderKeys(strength, { step: 0.1, bigStep: 1, onStep: (v) => setStrength(v) });
  for (const b of presets) b.addEventListener("click", () => setRange(b.dataset.preset === "all" ? [0, L] : groups[b.dataset.preset].slice()));
  for (const b of modeButtons) b.addEventListener("click", () => { view.set({ view_mode: b.dataset.mode }); showModes(); });
  addBtn.addEventListener("click", () => {
    const it = sel();
    const next = [...stack(), newItem(it ? it.direction : 0, L, 1)];
    view.set({ stack: next, selected: next.length - 1 });
    showAll();
  });

  // ---------------------------------------------------------------- frames
  let cells = [];
  let layoutKey = "";
  let stripCells = [];
  /** The sample cells for `n` samples in view mode `mode`: [{ canvas, caption }] in the frames' order. */
  function ensure(mode, n, s) {
    const size = model.get("display_size") || 160;
    const key = `${mode}/${n}/${size}`;
    if (key !== layoutKey) {
      layoutKey = key;
      const kinds = mode === "side by side" ? ["no edits", "stack"] : [mode === "original" ? "no edits" : "stack"];
      grid.replaceChildren();
      cells = [];
      grid.setAttribute("aria-label", mode === "side by side" ? "samples without edits and with the stack, side by side"
        : mode === "original" ? "samples without edits" : "edited samples");
      for (let i = 0; i < n; i++) {
        const pair = h("div", { class: "lw-pair" });
        for (const kind of kinds) {
          const cv = h("canvas", { class: kind === "stack" ? "lw-canvas lw-edited" : "lw-canvas lw-original", "data-index": i, "aria-label": `sample ${i + 1}, ${kind}` });
          cv.style.width = `${size}px`;
          const caption = h("figcaption", { text: kinds.length > 1 ? kind : "" });
          if (kinds.length === 1) caption.hidden = true;
          pair.append(h("figure", { class: "lw-cell" }, [cv, caption]));
          cells.push(cv);
        }
        grid.append(pair);
      }
    }
    const labels = c.layered ? (state().strip || []).map((r) => rangeLabel(r, groups, L))
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
    const st = msg.state || {};
    const n = st.n || 1;
    const mode = st.view_mode || "edited";
    const shown = mode === "side by side" ? 2 * n : n;
    ensure(mode, n, Math.max(0, bitmaps.length - shown));
    bitmaps.forEach((b, i) => drawBitmap(i < shown ? cells[i] : stripCells[i - shown].canvas, b));
  }

  showAll();
  return () => {
    model.off("change:controls", onControls);
    tools.dispose();
    view.dispose();
  };
}

export default { render };
