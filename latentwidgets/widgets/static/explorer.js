// DirectionExplorer front end: labelled range sliders, seed controls, a before/after toggle, a grid
// of canvases and readouts. State lives in Python; the view state and its requests are base.js's
// `connectFrames` (the values the user picks go out, the frames that come back are drawn).

import { clampSeed, classPicker, connectFrames, h, MAX_SEED, NO_SHORTCUTS, newSeed, throttledText } from "./base.js";
import { drawBitmap } from "./transport.js";

/** Text for a slider value, e.g. "+1.50 σ" or "-3.2 px". */
export function formatValue(value, control) {
  const digits = Math.min(4, decimals(Number(control.step) || 0.01));
  const sign = value > 0 ? "+" : value < 0 ? "\u2212" : "\u00a0";
  const unit = control.calibrated ? unitShort(control.unit) : control.unit || "\u03c3";
  return `${sign}${Math.abs(value).toFixed(digits)}${unit ? " " + unit : ""}`;
}

/** Number of decimals a step needs: 0.25 -> 2, 0.1 -> 1, 5 -> 0, 1e-5 -> 5. */
export function decimals(step) {
  for (let d = 0; d < 10; d++) if (Math.abs(Math.round(step * 10 ** d) - step * 10 ** d) < 1e-9) return d;
  return 10;
}

/** "x shift, px" -> "px"; "hue" -> "hue". */
export function unitShort(unit) {
  const s = String(unit || "");
  const i = s.lastIndexOf(",");
  return (i >= 0 ? s.slice(i + 1) : s).trim();
}

let viewCounter = 0;

export function render({ model, el }) {
  const uid = `lw${++viewCounter}${Math.random().toString(36).slice(2, 6)}`;
  let controls = model.get("controls") || [];
  const defaults = () => controls.map((c) => Number(c.default || 0));

  const root = h("div", { class: "lw-widget lw-explorer", "data-uid": model.get("_uid") || "" });
  const title = h("div", { class: "lw-title", text: model.get("title") || "DirectionExplorer" });
  const error = h("div", { class: "lw-error", role: "alert" });
  error.hidden = true;
  const grid = h("div", { class: "lw-grid", role: "img", "aria-label": "samples" });
  const readout = h("div", { class: "lw-readout", "aria-live": "off" });
  // the view state ({ strengths, seed, show_original, ... }) lives in `view` (base.js)
  const view = connectFrames(model, { root, errorBox: error, onFrame, onState: showState });
  const state = () => view.state;
  if (!Array.isArray(state().strengths)) state().strengths = defaults();

  // ---------------------------------------------------------------- sliders
  const rows = controls.map((c, k) => {
    const id = `${uid}-s${k}`;
    const input = h("input", {
      type: "range", id, min: c.min, max: c.max, step: c.step, value: state().strengths[k] ?? 0,
      class: "lw-slider", "data-index": k, ...NO_SHORTCUTS,
    });
    const out = h("output", { for: id, class: "lw-value" });
    const reset = h("button", { type: "button", class: "lw-reset", title: `reset ${c.name}`, "aria-label": `reset ${c.name}`, text: "\u21ba" });
    const label = h("label", { for: id, class: "lw-name", text: c.calibrated && c.unit ? `${c.name} (${c.unit})` : c.name });
    const row = h("div", { class: "lw-row" }, [label, input, out, reset]);
    input.addEventListener("input", () => {
      state().strengths[k] = Number(input.value);
      showValue(k);
      view.request();
    });
    reset.addEventListener("click", () => {
      state().strengths[k] = Number(c.default || 0);
      input.value = String(state().strengths[k]);
      showValue(k);
      view.request();
    });
    return { input, out, row, control: c };
  });

  function showValue(k) {
    const r = rows[k];
    const text = formatValue(state().strengths[k] ?? 0, r.control);
    r.out.textContent = text;
    r.input.setAttribute("aria-valuetext", text);
  }

  // ---------------------------------------------------------------- seed, sample, toggle
  const seedInput = h("input", { type: "number", min: 0, max: MAX_SEED, step: 1, value: state().seed ?? 0, class: "lw-seed", id: `${uid}-seed`, ...NO_SHORTCUTS });
  const seedLabel = h("label", { for: `${uid}-seed`, text: "seed" });
  const newSample = h("button", { type: "button", class: "lw-new", text: "new sample" });
  const toggle = h("button", { type: "button", class: "lw-toggle", "aria-pressed": "false", text: "before" });
  const resetAll = h("button", { type: "button", class: "lw-reset-all", text: "reset all" });
  seedInput.addEventListener("change", () => {
    const v = clampSeed(seedInput.value);
    seedInput.value = String(v);
    view.set({ seed: v });
  });
  newSample.addEventListener("click", () => {
    view.set({ seed: newSeed(state().seed) });
    seedInput.value = String(state().seed);
  });
  toggle.addEventListener("click", () => {
    view.set({ show_original: !state().show_original });
    showToggle();
  });
  resetAll.addEventListener("click", () => {
    view.set({ strengths: defaults() });
    showStrengths();
  });
  function showToggle() {
    const on = !!state().show_original;
    toggle.setAttribute("aria-pressed", on ? "true" : "false");
    toggle.textContent = on ? "showing before (click for after)" : "before";
    root.classList.toggle("lw-showing-original", on);
  }
  function showStrengths() {
    rows.forEach((r, k) => {
      r.input.value = String(state().strengths[k] ?? 0);
      showValue(k);
    });
  }

  const picker = classPicker(model, view, uid);
  const bar = h("div", { class: "lw-bar" }, [seedLabel, seedInput, newSample, ...(picker ? [picker.el] : []), toggle, resetAll]);
  // a value set from Python beyond a slider's range widens that slider (Python sends the new ranges)
  const onControls = () => {
    controls = model.get("controls") || [];
    rows.forEach((r, k) => {
      if (!controls[k]) return;
      r.control = controls[k];
      r.input.min = String(controls[k].min);
      r.input.max = String(controls[k].max);
      r.input.value = String(state().strengths[k] ?? 0);
    });
  };
  model.on("change:controls", onControls);
  const sliders = h("div", { class: "lw-sliders" }, rows.map((r) => r.row));
  root.append(title, grid, error, bar, sliders, readout);
  el.append(root);
  rows.forEach((_, k) => showValue(k));
  showToggle();

  // ---------------------------------------------------------------- frames
  let canvases = [];
  const readoutText = throttledText(readout);
  let layoutKey = "";
  function ensureCanvases(count) {
    const size = model.get("display_size") || 192;
    const key = `${count}x${size}`;
    if (key === layoutKey) return; // nothing to change: no style writes per frame
    layoutKey = key;
    if (canvases.length !== count) {
      grid.replaceChildren();
      canvases = [];
      for (let i = 0; i < count; i++) {
        const c = h("canvas", { class: "lw-canvas", "data-index": i, "aria-label": `sample ${i + 1}` });
        grid.append(c);
        canvases.push(c);
      }
    }
    grid.style.gridTemplateColumns = `repeat(${Math.min(count, 4)}, ${size}px)`;
    for (const c of canvases) c.style.width = `${size}px`;
  }

  function showState(s) {
    if (!Array.isArray(s.strengths)) s.strengths = defaults();
    showStrengths();
    seedInput.value = String(s.seed ?? 0);
    if (picker) picker.show(s);
    showToggle();
  }

  function onFrame({ msg, bitmaps, sentAt }) {
    ensureCanvases(bitmaps.length);
    bitmaps.forEach((b, i) => drawBitmap(canvases[i], b));
    const drawnAt = performance.now();
    const meta = (msg.frames && msg.frames[0]) || {};
    const timing = msg.timing || {};
    const parts = [];
    if (sentAt !== null && sentAt !== undefined) parts.push(`frame ${(drawnAt - sentAt).toFixed(0)} ms`);
    if (timing.compute_ms !== null && timing.compute_ms !== undefined) parts.push(`model ${timing.compute_ms.toFixed(1)} ms`);
    if (meta.width) parts.push(`${meta.width}\u00d7${meta.height} ${meta.format}`);
    if (timing.bytes) parts.push(`${(timing.bytes / 1024).toFixed(1)} KiB`);
    parts.push(`seed ${msg.state ? msg.state.seed : state().seed}`);
    if (msg.state && msg.state.show_original) parts.push("before");
    readoutText.set(parts.join(" \u00b7 "));
    return { width: bitmaps.length ? meta.width : 0 };
  }

  return () => {
    model.off("change:controls", onControls);
    view.dispose();
    readoutText.dispose();
  };
}

export default { render };
