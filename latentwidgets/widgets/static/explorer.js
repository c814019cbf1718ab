// DirectionExplorer front end: labelled range sliders (each with its share of the variance and a name
// the user can edit), seed controls, a view mode (edited / original / side by side), a grid of
// canvases and readouts. State lives in Python; the view state and its requests are base.js's
// `connectFrames` (the values the user picks go out, the frames that come back are drawn).

import {
  clampSeed, classPicker, compositeCanvas, connectFrames, h, keySteps, MAX_SEED, NO_SHORTCUTS, newSeed, sliderKeys,
  throttledText, timingText, toolbar, truncationControl,
} from "./base.js";
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

/** A share of the variance as text: 0.1234 -> "12.3%", 0.00042 -> "0.04%"; "" when there is none. */
export function formatShare(share) {
  if (share === null || share === undefined || !Number.isFinite(Number(share))) return "";
  const pct = 100 * Number(share);
  return `${pct >= 1 ? pct.toFixed(1) : pct.toFixed(2)}%`;
}

/** The view modes (Python's VIEW_MODES) and their buttons' text. */
export const VIEW_MODES = [["edited", "edited"], ["original", "original"], ["side by side", "side by side"]];

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
  // the view state ({ strengths, seed, view_mode, ... }) lives in `view` (base.js); undo / redo keep
  // everything but the view mode (what is shown is no edit)
  const history = (model.get("_front_fields") || []).filter((f) => f !== "view_mode");
  const view = connectFrames(model, { root, errorBox: error, onFrame, onState: showState, history });
  const state = () => view.state;
  if (!Array.isArray(state().strengths)) state().strengths = defaults();

  // ---------------------------------------------------------------- sliders
  const labelText = (c) => (c.calibrated && c.unit ? `${c.name} (${c.unit})` : c.name);
  const rows = controls.map((c, k) => {
    const id = `${uid}-s${k}`;
    const input = h("input", {
      type: "range", id, min: c.min, max: c.max, step: c.step, value: state().strengths[k] ?? 0,
      class: "lw-slider", "data-index": k, ...NO_SHORTCUTS,
    });
    const out = h("output", { for: id, class: "lw-value" });
    const reset = h("button", { type: "button", class: "lw-reset", title: `reset ${c.name}`, "aria-label": `reset ${c.name}`, text: "\u21ba" });
    const label = h("label", { for: id, class: "lw-name", title: "double-click (or F2 on the slider) to rename", text: labelText(c) });
    const share = h("span", { class: "lw-variance" });
    const row = h("div", { class: "lw-row" }, [label, share, input, out, reset]);
    input.addEventListener("input", () => {
      state().strengths[k] = Number(input.value);
      showValue(k);
      view.request();
    });
    input.addEventListener("change", () => view.commit()); // the drag ended: one undo step
    // Arrow keys: 0.1 sigma, Shift+Arrow: 1 sigma (a 60th and a 6th of a calibrated slider's span)
    sliderKeys(input, keySteps({ min: c.min, max: c.max, sigma: !c.calibrated }));
    reset.addEventListener("click", () => {
      state().strengths[k] = Number(rows[k].control.default || 0);
      input.value = String(state().strengths[k]);
      showValue(k);
      view.request();
    });
    label.addEventListener("dblclick", (e) => {
      e.preventDefault();
      startRename(k);
    });
    input.addEventListener("keydown", (e) => {
      if (e.key === "F2") {
        e.preventDefault();
        startRename(k);
      }
    });
    return { input, out, row, label, share, reset, control: c };
  });

  function showControl(k) {
    const r = rows[k];
    const c = r.control;
    if (!r.label.querySelector("input")) r.label.textContent = labelText(c);
    r.share.textContent = formatShare(c.variance);
    r.share.title = c.variance_label ? `${c.variance_label} of ${c.name}` : "";
    r.reset.title = `reset ${c.name}`;
    r.reset.setAttribute("aria-label", `reset ${c.name}`);
  }

  // rename: an input in place of the label; Enter (or leaving it) asks Python, Escape keeps the old name.
  // The label shows the new name once Python has it (the `controls` it sends back); a name it refuses
  // shows as the widget's error and the label keeps the old one.
  function startRename(k) {
    const r = rows[k];
    if (r.label.querySelector("input")) return;
    const box = h("input", { type: "text", class: "lw-rename", value: r.control.name, "aria-label": `new name for ${r.control.name}`, ...NO_SHORTCUTS });
    let done = false;
    const finish = (commit) => {
      if (done) return;
      done = true;
      const name = box.value.trim();
      r.label.textContent = labelText(r.control);
      if (commit && name !== r.control.name) model.send({ type: "lw:rename", index: k, name }); // ("": Python says why not)
      r.input.focus();
    };
    box.addEventListener("keydown", (e) => {
      e.stopPropagation();
      if (e.key === "Enter") finish(true);
      else if (e.key === "Escape") finish(false);
    });
    box.addEventListener("blur", () => finish(true));
    r.label.replaceChildren(box);
    box.focus();
    box.select();
  }

  function showValue(k) {
    const r = rows[k];
    const text = formatValue(state().strengths[k] ?? 0, r.control);
    r.out.textContent = text;
    r.input.setAttribute("aria-valuetext", text);
  }

  // ---------------------------------------------------------------- seed, sample, view mode
  const seedInput = h("input", { type: "number", min: 0, max: MAX_SEED, step: 1, value: state().seed ?? 0, class: "lw-seed", id: `${uid}-seed`, ...NO_SHORTCUTS });
  const seedLabel = h("label", { for: `${uid}-seed`, text: "seed" });
  const newSample = h("button", { type: "button", class: "lw-new", text: "new sample" });
  const modeButtons = VIEW_MODES.map(([mode, text]) => {
    const b = h("button", { type: "button", class: "lw-mode", "data-mode": mode, "aria-pressed": "false", text });
    b.addEventListener("click", () => {
      view.set({ view_mode: mode });
      showMode();
    });
    return b;
  });
  const modes = h("span", { class: "lw-modes", role: "group", "aria-label": "show" }, modeButtons);
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
  resetAll.addEventListener("click", () => {
    view.set({ strengths: defaults() });
    showStrengths();
  });
  function showMode() {
    const mode = state().view_mode || "edited";
    for (const b of modeButtons) b.setAttribute("aria-pressed", b.dataset.mode === mode ? "true" : "false");
    root.classList.toggle("lw-showing-original", mode === "original");
  }
  function showStrengths() {
    rows.forEach((r, k) => {
      r.input.value = String(state().strengths[k] ?? 0);
      showValue(k);
    });
  }

  const picker = classPicker(model, view, uid);
  const truncation = truncationControl(model, view, uid);
  let canvases = [];
  const tools = toolbar(view, {
    filename: "explorer.png",
    png: () => compositeCanvas(canvases, { columns: Math.min(canvases.length, 4), size: model.get("display_size") || 192 }),
  });
  const bar = h("div", { class: "lw-bar" }, [
    seedLabel, seedInput, newSample, ...(picker ? [picker.el] : []), ...(truncation ? [truncation.el] : []), modes, resetAll, tools.el,
  ]);
  // a value set from Python beyond a slider's range widens that slider (Python sends the new ranges)
  const onControls = () => {
    controls = model.get("controls") || [];
    rows.forEach((r, k) => {
      if (!controls[k]) return;
      r.control = controls[k];
      r.input.min = String(controls[k].min);
      r.input.max = String(controls[k].max);
      r.input.value = String(state().strengths[k] ?? 0);
      showControl(k);
    });
  };
  model.on("change:controls", onControls);
  const sliders = h("div", { class: "lw-sliders" }, rows.map((r) => r.row));
  root.append(title, grid, error, bar, sliders, readout);
  el.append(root);
  rows.forEach((_, k) => {
    showControl(k);
    showValue(k);
  });
  showMode();

  // ---------------------------------------------------------------- frames
  const readoutText = throttledText(readout);
  let layoutKey = "";
  // side by side: sample by sample, its original then its edited image (Python sends them in that order),
  // two pairs a row under a "before / after" caption
  function ensureCanvases(count, pairs) {
    const size = model.get("display_size") || 192;
    const key = `${count}x${size}${pairs ? "p" : ""}`;
    if (key === layoutKey) return; // nothing to change: no style writes per frame
    layoutKey = key;
    grid.replaceChildren();
    if (canvases.length !== count) {
      canvases = [];
      for (let i = 0; i < count; i++) canvases.push(h("canvas", { class: "lw-canvas", "data-index": i }));
    }
    const columns = Math.min(count, 4);
    if (pairs) {
      for (let i = 0; i < columns; i++) grid.append(h("div", { class: "lw-caption", "aria-hidden": "true", text: i % 2 ? "after" : "before" }));
    }
    canvases.forEach((c, i) => {
      const sample = pairs ? Math.floor(i / 2) + 1 : i + 1;
      c.classList.toggle("lw-before", pairs && i % 2 === 0);
      c.setAttribute("aria-label", pairs ? `sample ${sample} ${i % 2 ? "after" : "before"}` : `sample ${sample}`);
      c.style.width = `${size}px`;
      grid.append(c);
    });
    grid.style.gridTemplateColumns = `repeat(${columns}, ${size}px)`;
  }

  function showState(s) {
    if (!Array.isArray(s.strengths)) s.strengths = defaults();
    showStrengths();
    seedInput.value = String(s.seed ?? 0);
    if (picker) picker.show(s);
    if (truncation) truncation.show(s);
    showMode();
  }

  function onFrame(f) {
    const { msg, bitmaps } = f;
    const shown = (msg.state && msg.state.view_mode) || state().view_mode || "edited";
    ensureCanvases(bitmaps.length, shown === "side by side");
    bitmaps.forEach((b, i) => drawBitmap(canvases[i], b));
    const meta = (msg.frames && msg.frames[0]) || {};
    const parts = [`seed ${msg.state ? msg.state.seed : state().seed}`];
    if (shown !== "edited") parts.push(shown === "original" ? "original (no edits)" : "before | after");
    parts.push(timingText(model, f)); // developer timings: only with the widget's `debug`
    readoutText.set(parts.filter(Boolean).join(" \u00b7 "));
    return { width: bitmaps.length ? meta.width : 0 };
  }

  return () => {
    model.off("change:controls", onControls);
    tools.dispose();
    view.dispose();
    readoutText.dispose();
  };
}

export default { render };
