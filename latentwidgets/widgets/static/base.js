// What every latentwidgets view shares (the browser half of widgets/base.py): building DOM nodes,
// keeping JupyterLab's shortcuts out of our inputs, a throttled readout, and `connectFrames`, which
// owns a view's state and wires it to the shared frame transport: the view state (Python's frame
// state), requests (one in flight, latest wins), applying the state frames bring, error display
// (replies and the `error` trait), the `lw-frame` / `lw-error` events with each frame's timeline,
// `data-frames`, a busy indicator (a frame pending > 150 ms), undo/redo of the view state (also
// Ctrl/Cmd-Z, Ctrl/Cmd-Shift-Z, Ctrl-Y inside the widget), and cleanup. Around it: `toolbar` (undo,
// redo, PNG, copy code), `sliderKeys` (0.1 / 1 sigma key steps), `truncationControl`, `classPicker`,
// `timingText` (developer timings, only with the widget's `debug`). Every widget's view uses them.
//
//   const view = connectFrames(model, { root, errorBox, onFrame: draw, onState: show });
//   slider.oninput = () => view.set({ strengths: [Number(slider.value)] });
//   bar.append(toolbar(view, { png: () => canvas }).el);
//   return () => view.dispose();     // the cleanup anywidget's render returns

import { createTransport, pageTime, sameState } from "./transport.js";

/** `h("button", { class: "x", text: "go" }, [child])`: a DOM element with attributes and children. */
export function h(tag, attrs = {}, children = []) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") el.className = v;
    else if (k === "text") el.textContent = v;
    else if (v !== undefined && v !== null) el.setAttribute(k, v);
  }
  for (const c of children) el.append(c);
  return el;
}

// Keys pressed in an input belong to it, not to JupyterLab's shortcuts (which would take the arrow
// keys of a focused slider in command mode). Lumino checks this attribute from the target upwards.
export const NO_SHORTCUTS = { "data-lm-suppress-shortcuts": "true" };

/** The largest seed a seed box takes: whole numbers stay exact up to here (Python takes up to 2**63 - 1). */
export const MAX_SEED = Number.MAX_SAFE_INTEGER;

/** A seed box's text as a seed: a whole number in [0, MAX_SEED] (anything else is clamped; NaN is 0). */
export function clampSeed(value) {
  const v = Math.floor(Number(value));
  return Number.isFinite(v) ? Math.min(MAX_SEED, Math.max(0, v)) : 0;
}

/**
 * The class picker of a conditional model (`num_classes` > 0; null otherwise): a number box styled
 * like the seed box that sets the frame state's `class_index`. Returns { el, show(state) }.
 */
export function classPicker(model, view, uid) {
  const n = Number(model.get("num_classes") || 0);
  if (n <= 0) return null;
  const input = h("input", {
    type: "number", min: 0, max: n - 1, step: 1, value: view.state.class_index ?? 0,
    class: "lw-class", id: `${uid}-class`, title: `class 0..${n - 1}`, ...NO_SHORTCUTS,
  });
  const label = h("label", { for: `${uid}-class`, text: "class" });
  input.addEventListener("change", () => {
    const v = Math.min(n - 1, Math.max(0, Math.floor(Number(input.value) || 0)));
    input.value = String(v);
    view.set({ class_index: v });
  });
  return {
    el: h("span", { class: "lw-class-picker" }, [label, input]),
    show(state) { input.value = String(state.class_index ?? 0); },
  };
}

/** A new random seed different from `current` (what "new sample" asks for). */
export function newSeed(current, random = Math.random) {
  let s = Math.floor(random() * 2 ** 31);
  if (s === current) s = (s + 1) % 2 ** 31;
  return s;
}

/**
 * Show text in `el` at most once per `ms` (the latest text wins): readouts change with every frame
 * while dragging, and text layout is not free. Returns { set(text), dispose() }.
 */
export function throttledText(el, ms = 200) {
  let text = "";
  let timer = null;
  return {
    set(next) {
      text = next;
      if (timer !== null) return;
      el.textContent = text;
      timer = setTimeout(() => {
        timer = null;
        if (el.textContent !== text) el.textContent = text;
      }, ms);
    },
    dispose() {
      if (timer !== null) clearTimeout(timer);
      timer = null;
    },
  };
}

/** The fields of `state` named in `fields` (all of them when `fields` is not a list). */
export function pickFields(state, fields) {
  if (!Array.isArray(fields)) return { ...state };
  const out = {};
  for (const f of fields) if (state[f] !== undefined) out[f] = state[f];
  return out;
}

function clone(value) {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}

/** How long a frame may be pending before the view shows it is busy (ms). */
export const BUSY_DELAY_MS = 150;
/** A burst of changes (a slider drag) becomes one undo step once it rests this long (ms). */
export const HISTORY_DELAY_MS = 400;
/** Undo steps kept per view. */
export const HISTORY_LIMIT = 100;

/**
 * Connect a view to its widget's frames; the returned object owns the view's state.
 *
 * options:
 *   root       the view's root element: receives `lw-frame` / `lw-error` / `lw-history` events,
 *              `data-frames`, the `lw-busy` class and the busy indicator, and the undo/redo keys
 *   errorBox   element that shows error messages (hidden while there is none)
 *   onFrame(f) draw frame f = { msg, bitmaps, sentAt, receivedAt, decodedAt, own }; may return extra
 *              fields for the `lw-frame` event's detail
 *   onState(s) show the view state `s`: it changed elsewhere (Python, another view, undo/redo) or the
 *              view opened
 *   history    fields undo/redo keeps (default: every front field); false or [] for none (a widget
 *              with its own history, or fields such as a view mode that undo should leave alone)
 *   busyDelayMs, historyDelayMs, now   timing (defaults BUSY_DELAY_MS, HISTORY_DELAY_MS,
 *              performance.now; tests pass their own)
 *
 * The view state is the widget's frame state (Python's `state()`). It starts from the model's synced
 * values of the fields a request may set (the `_front_fields` Python derives from its traits), and
 * becomes each frame's state that comes from elsewhere (transport.js decides when: not while this view
 * waits for its own newer state). A view changes it with `set(changes)` (or edits `state` and calls
 * `request()`): that asks for a frame of it, carrying only the `_front_fields`, with at most one request
 * in flight and the newest state winning. The `lw-frame` detail: { id, seq, origin, own, state, timing,
 * frames, sentAt, receivedAt, decodedAt, drawnAt, kernelIn, kernelOut, ...extra } (times on the page's
 * performance.now() clock). Asks Python for its current state and frame at once.
 *
 * History: the state Python sends first is the start; each change from the page (a burst such as a
 * drag counts once, when it rests `historyDelayMs` or at `commit()`) and each state from elsewhere is
 * an undo step. `undo()` / `redo()` put the view state back (onState shows it) and ask for its frame.
 * The root gets `lw-history` events ({ canUndo, canRedo }) when that changes.
 *
 * Returns { model, state, set(changes), request(), commit(), undo(), redo(), canUndo, canRedo, busy,
 * transport, showError(message), dispose() }.
 *
 *   const view = connectFrames(model, { root, errorBox, onFrame: draw, onState: show });
 *   slider.oninput = () => view.set({ gain: Number(slider.value) });
 *   slider.onchange = () => view.commit();      // the drag ended: one undo step now
 */
export function connectFrames(model, options) {
  const {
    root, errorBox, onFrame, onState = () => {}, history = undefined,
    busyDelayMs = BUSY_DELAY_MS, historyDelayMs = HISTORY_DELAY_MS, now = () => performance.now(),
  } = options;
  const fields = model.get("_front_fields");
  let state = {};
  for (const f of Array.isArray(fields) ? fields : []) {
    const v = model.get(f);
    if (v !== undefined) state[f] = clone(v);
  }
  let frames = 0;

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
    root.dispatchEvent(new CustomEvent("lw-error", { bubbles: true, detail: { message } }));
    watchBusy();
  }

  function frame(f) {
    const extra = onFrame(f) || {};
    const drawnAt = performance.now();
    if (!errorBox.hidden) {
      errorBox.hidden = true;
      errorBox.textContent = "";
    }
    frames += 1;
    if (frames === 1) root.dataset.frames = "1"; // (the DOM is touched once, not per frame)
    const { msg, sentAt, receivedAt, decodedAt, own } = f;
    const timing = msg.timing || {};
    root.dispatchEvent(new CustomEvent("lw-frame", {
      bubbles: true,
      detail: {
        id: msg.id, seq: msg.seq, origin: msg.origin, own, state: msg.state, timing, frames,
        sentAt, receivedAt, decodedAt, drawnAt, kernelIn: pageTime(timing.kernel_in), kernelOut: pageTime(timing.kernel_out),
        ...extra,
      },
    }));
    watchBusy();
  }

  // ---------------------------------------------------------------- history (undo / redo)
  const historyFields = Array.isArray(history) ? history : fields;
  const keepsHistory = history !== false && !(Array.isArray(historyFields) && historyFields.length === 0);
  let past = [];
  let future = [];
  let current = null; // the newest undo step (the fields kept), null until Python's first state
  let settle = null; // timer: the page's burst of changes becomes a step when it rests

  function snapshot() {
    return clone(pickFields(state, historyFields));
  }
  function canUndo() {
    return past.length > 0 || (settle !== null && current !== null && !sameState(snapshot(), current));
  }
  function announce() {
    root.dispatchEvent(new CustomEvent("lw-history", { detail: { canUndo: canUndo(), canRedo: future.length > 0 } }));
  }
  function commit() {
    if (settle !== null) clearTimeout(settle);
    settle = null;
    if (!keepsHistory) return;
    const s = snapshot();
    if (current === null) {
      current = s;
      return;
    }
    if (sameState(s, current)) {
      announce();
      return;
    }
    past.push(current);
    if (past.length > HISTORY_LIMIT) past.shift();
    current = s;
    future = [];
    announce();
  }
  function changed() {
    if (!keepsHistory) return;
    const first = settle === null;
    if (!first) clearTimeout(settle);
    settle = setTimeout(commit, historyDelayMs);
    if (first) announce(); // (undo is possible from the first change of a burst)
  }
  function restore(entry) {
    Object.assign(state, clone(entry));
    onState(state);
    transport.request(pickFields(state, fields));
    watchBusy();
    announce();
  }
  function undo() {
    if (settle !== null) commit(); // a change still resting is the newest step
    if (!past.length) return false;
    future.push(current);
    current = past.pop();
    restore(current);
    return true;
  }
  function redo() {
    if (settle !== null) commit();
    if (!future.length) return false;
    past.push(current);
    current = future.pop();
    restore(current);
    return true;
  }

  function follow(next) {
    if (!next) return;
    if (settle !== null) commit(); // the page's own change is a step before this one
    state = clone(next);
    onState(state);
    commit();
  }

  // ---------------------------------------------------------------- busy indicator
  const indicator = h("div", { class: "lw-busy-indicator", role: "status", "aria-live": "polite" });
  root.append(indicator);
  let busyTimer = null;
  let shownBusy = false;
  function showBusy(on) {
    if (on === shownBusy) return;
    shownBusy = on;
    root.classList.toggle("lw-busy", on);
    if (on) root.setAttribute("aria-busy", "true");
    else root.removeAttribute("aria-busy");
    indicator.textContent = on ? "rendering\u2026" : "";
  }
  function checkBusy() {
    busyTimer = null;
    const since = transport.busySince;
    if (since === null) {
      showBusy(false);
      return;
    }
    const left = busyDelayMs - (now() - since);
    if (left <= 0) showBusy(true);
    busyTimer = setTimeout(checkBusy, left > 0 ? left : 100); // (only while a request is in flight)
  }
  function watchBusy() {
    if (busyTimer !== null) clearTimeout(busyTimer);
    checkBusy();
  }

  const transport = createTransport(model, { onFrame: frame, onError: showError, onState: follow, now });
  const onErrorTrait = () => {
    const m = model.get("error");
    if (m) showError(m);
  };
  model.on("change:error", onErrorTrait);
  transport.sync();
  watchBusy();

  function request() {
    transport.request(pickFields(state, fields));
    changed();
    watchBusy();
  }

  // ---------------------------------------------------------------- keys: undo / redo inside the widget
  // Taken before JupyterLab's shortcuts see them (a capture listener on the window runs before Lumino's
  // on the document); every other key (Shift-Enter runs the cell) goes on to JupyterLab as before.
  if (!root.hasAttribute("tabindex")) root.setAttribute("tabindex", "-1"); // (a click inside focuses the widget)
  const keyTarget = (root.ownerDocument && root.ownerDocument.defaultView) || globalThis;
  function onKey(e) {
    if (!(e.ctrlKey || e.metaKey) || e.altKey) return;
    const path = typeof e.composedPath === "function" ? e.composedPath() : [];
    if (!path.includes(root)) return; // (composedPath: inside a shadow root too, as in marimo)
    const t = path[0] || e.target;
    const editsText = t && (t.isContentEditable || t.tagName === "TEXTAREA"
      || (t.tagName === "INPUT" && !["range", "button", "checkbox", "radio"].includes(t.type)));
    if (editsText) return; // a text or number box keeps its own undo
    const key = String(e.key).toLowerCase();
    let done = null;
    if (key === "z" && !e.shiftKey) done = undo;
    else if ((key === "z" && e.shiftKey) || (key === "y" && !e.shiftKey)) done = redo;
    if (!done) return;
    e.preventDefault();
    e.stopPropagation();
    done();
  }
  keyTarget.addEventListener("keydown", onKey, true);

  return {
    model,
    root,
    /** The view state (a live object: edit it, then call `request()`). */
    get state() {
      return state;
    },
    /** Change fields of the view state and ask for a frame of it. */
    set(changes) {
      Object.assign(state, clone(changes));
      request();
    },
    request,
    /** Make the changes so far one undo step now (e.g. on a slider's `change`: the drag ended). */
    commit,
    undo,
    redo,
    get canUndo() {
      return canUndo();
    },
    get canRedo() {
      return future.length > 0;
    },
    /** True while the view shows its busy indicator. */
    get busy() {
      return shownBusy;
    },
    transport,
    showError,
    dispose() {
      transport.dispose();
      model.off("change:error", onErrorTrait);
      keyTarget.removeEventListener("keydown", onKey, true);
      if (busyTimer !== null) clearTimeout(busyTimer);
      if (settle !== null) clearTimeout(settle);
      busyTimer = settle = null;
      indicator.remove();
    },
  };
}

// ---------------------------------------------------------------- keyboard steps

/**
 * The key steps of a slider: 0.1 and 1 sigma for a slider in sigma units, else 1/60 and 1/6 of its
 * span (a calibrated slider spans about +-3 sigma of its factor).
 *
 *   sliderKeys(input, keySteps({ min: -20, max: 20, sigma: false }));    // steps 0.667, 6.67
 */
export function keySteps({ min, max, sigma = true }) {
  if (sigma) return { step: 0.1, bigStep: 1 };
  const span = Math.abs(Number(max) - Number(min)) || 1;
  return { step: span / 60, bigStep: span / 6 };
}

/**
 * Arrow keys move a range `input` by `step`, Shift+Arrow (and PageUp/PageDown) by `bigStep`, within
 * its min/max; then `onStep(value, event)` runs (default: the input's own `input` event fires, so its
 * usual handler runs). Returns a function that removes the keys.
 *
 *   sliderKeys(slider, { step: 0.1, bigStep: 1 });   // 0.1 sigma; 1 sigma with Shift
 */
export function sliderKeys(input, { step = 0.1, bigStep = 1, onStep = null } = {}) {
  const dirs = { ArrowRight: 1, ArrowUp: 1, ArrowLeft: -1, ArrowDown: -1, PageUp: 1, PageDown: -1 };
  function onKey(e) {
    const dir = dirs[e.key];
    if (!dir || e.ctrlKey || e.metaKey || e.altKey) return;
    e.preventDefault();
    const big = e.shiftKey || e.key === "PageUp" || e.key === "PageDown";
    const lo = input.min === "" ? -Infinity : Number(input.min);
    const hi = input.max === "" ? Infinity : Number(input.max);
    const old = Number(input.value);
    const want = Math.min(hi, Math.max(lo, Number((old + dir * (big ? bigStep : step)).toFixed(10))));
    input.value = String(want);
    if (Number(input.value) === old && want !== old) { // the input's own step grid snapped it back
      if (dir > 0) input.stepUp();
      else input.stepDown();
    }
    const value = Number(input.value);
    if (value === old) return;
    if (onStep) onStep(value, e);
    else input.dispatchEvent(new Event("input", { bubbles: true }));
  }
  input.addEventListener("keydown", onKey);
  return () => input.removeEventListener("keydown", onKey);
}

// ---------------------------------------------------------------- readouts

/**
 * Developer timings of frame `f` (what onFrame gets), "frame 87 ms · model 0.0 ms · 64×64 raw ·
 * 64.0 KiB", when the widget's `debug` is on; "" otherwise.
 *
 *   readout.set([timingText(model, f), `seed ${seed}`].filter(Boolean).join(" · "));
 */
export function timingText(model, { msg, sentAt }) {
  if (!model.get("debug")) return "";
  const meta = (msg.frames && msg.frames[0]) || {};
  const timing = msg.timing || {};
  const parts = [];
  if (sentAt !== null && sentAt !== undefined) parts.push(`frame ${(performance.now() - sentAt).toFixed(0)} ms`);
  if (typeof timing.compute_ms === "number") parts.push(`model ${timing.compute_ms.toFixed(1)} ms`);
  if (meta.width) parts.push(`${meta.width}\u00d7${meta.height} ${meta.format}`);
  if (timing.bytes) parts.push(`${(timing.bytes / 1024).toFixed(1)} KiB`);
  return parts.join(" \u00b7 ");
}

// ---------------------------------------------------------------- truncation

/**
 * The truncation slider of a model with a truncation trick (`truncation` is one of the widget's
 * front fields; null otherwise): 0.05..1 (1: none), Arrow 0.05, Shift+Arrow 0.25. Returns
 * { el, show(state) } like classPicker.
 *
 *   const trunc = truncationControl(model, view, uid);
 *   if (trunc) bar.append(trunc.el);        // and trunc.show(state) in onState
 */
export function truncationControl(model, view, uid) {
  const fields = model.get("_front_fields");
  if (!Array.isArray(fields) || !fields.includes("truncation")) return null;
  const value = () => Number(view.state.truncation ?? 1);
  const input = h("input", {
    type: "range", min: 0.05, max: 1, step: 0.05, value: value(), class: "lw-truncation",
    id: `${uid}-truncation`, title: "truncation trick: 1 is none; lower pulls samples towards the average",
    ...NO_SHORTCUTS,
  });
  const label = h("label", { for: `${uid}-truncation`, text: "truncation" });
  const out = h("output", { for: `${uid}-truncation`, class: "lw-value" });
  const text = () => {
    out.textContent = value().toFixed(2);
    input.setAttribute("aria-valuetext", out.textContent);
  };
  input.addEventListener("input", () => {
    view.set({ truncation: Number(input.value) });
    text();
  });
  input.addEventListener("change", () => view.commit());
  sliderKeys(input, { step: 0.05, bigStep: 0.25 });
  text();
  return {
    el: h("span", { class: "lw-truncation-control" }, [label, input, out]),
    show() {
      input.value = String(value());
      text();
    },
  };
}

// ---------------------------------------------------------------- PNG, clipboard, toolbar

/**
 * One canvas with `canvases` in a grid (`columns` per row, each drawn at `size` px, pixelated, `gap`
 * px apart): what a "PNG" button downloads for a widget with several canvases.
 *
 *   toolbar(view, { png: () => compositeCanvas(canvases, { columns: 4, size: 192 }) });
 */
export function compositeCanvas(canvases, { columns = canvases.length, size = null, gap = 4, background = "#ffffff" } = {}) {
  const list = canvases.filter((c) => c && c.width && c.height);
  const cell = size || Math.max(1, ...list.map((c) => c.width));
  const cols = Math.max(1, Math.min(columns, list.length || 1));
  const rows = Math.max(1, Math.ceil(list.length / cols));
  const out = document.createElement("canvas");
  out.width = cols * cell + (cols - 1) * gap;
  out.height = rows * cell + (rows - 1) * gap;
  const ctx = out.getContext("2d");
  ctx.fillStyle = background;
  ctx.fillRect(0, 0, out.width, out.height);
  ctx.imageSmoothingEnabled = false;
  list.forEach((c, i) => {
    ctx.drawImage(c, (i % cols) * (cell + gap), Math.floor(i / cols) * (cell + gap), cell, cell);
  });
  return out;
}

/**
 * Download `canvas` as a PNG named `filename` (through a temporary link).
 *
 *   await downloadPng(canvas, "explorer.png");
 */
export function downloadPng(canvas, filename = "frame.png") {
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => {
      if (!blob) {
        reject(new Error("the frame could not be encoded as PNG"));
        return;
      }
      const url = URL.createObjectURL(blob);
      const a = h("a", { href: url, download: filename });
      a.style.display = "none";
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      resolve(blob);
    }, "image/png");
  });
}

/**
 * Put `text` on the clipboard; where the clipboard API is missing or refused (an insecure page, a
 * sandboxed frame), show it selected in a small box after `anchor` for Ctrl-C / Cmd-C instead.
 * Resolves to "clipboard" or "selected".
 *
 *   copyText(model.get("_code"), button).then((how) => ...);
 */
export async function copyText(text, anchor) {
  try {
    if (typeof navigator !== "undefined" && navigator.clipboard && globalThis.isSecureContext !== false) {
      await navigator.clipboard.writeText(text);
      return "clipboard";
    }
  } catch {
    // refused: fall through to the box
  }
  const holder = anchor.closest(".lw-widget") || anchor.parentElement;
  let box = holder.querySelector(":scope > .lw-copy-box");
  if (!box) {
    const area = h("textarea", { class: "lw-copy-text", readonly: "true", rows: 6, "aria-label": "code to copy", ...NO_SHORTCUTS });
    const close = h("button", { type: "button", class: "lw-copy-close", text: "close" });
    box = h("div", { class: "lw-copy-box" }, [
      h("span", { class: "lw-copy-hint", text: "Copy with Ctrl-C (\u2318-C on a Mac):" }), area, close,
    ]);
    close.addEventListener("click", () => box.remove());
    anchor.closest(".lw-bar") ? anchor.closest(".lw-bar").after(box) : anchor.after(box);
  }
  const area = box.querySelector("textarea");
  area.value = text;
  area.focus();
  area.select();
  return "selected";
}

/**
 * The buttons a widget puts in its bar: undo and redo (disabled when there is nothing to undo or
 * redo), "PNG" (downloads `png()`, a canvas: the frame as drawn or a composite) and "copy code"
 * (the widget's `code()`, shown only when it has one). Options: { undo, redo, code } (default true),
 * png (a function returning a canvas; no button without it), filename ("frame.png").
 * Returns { el, buttons: { undo, redo, png, code }, dispose() }.
 *
 *   const tools = toolbar(view, { png: () => canvas, filename: "explorer.png" });
 *   bar.append(tools.el);                    // tools.dispose() in the view's cleanup
 */
export function toolbar(view, { undo = true, redo = true, png = null, filename = "frame.png", code = true } = {}) {
  const { model } = view;
  const buttons = {};
  const make = (name, text, title, onClick) => {
    const b = h("button", { type: "button", class: `lw-tool lw-${name}`, title, "aria-label": title, text });
    b.addEventListener("click", onClick);
    buttons[name] = b;
    return b;
  };
  if (undo) make("undo", "\u21b6 undo", "undo (Ctrl-Z)", () => view.undo());
  if (redo) make("redo", "\u21b7 redo", "redo (Ctrl-Shift-Z)", () => view.redo());
  if (png) {
    make("png", "PNG", "download the current frame as a PNG", async () => {
      try {
        await downloadPng(await png(), filename);
      } catch (err) {
        view.showError(`PNG download failed: ${err && err.message ? err.message : err}`);
      }
    });
  }
  let flash = null;
  if (code) {
    make("code", "copy code", "copy the Python that makes this view again", async () => {
      const how = await copyText(model.get("_code") || "", buttons.code);
      buttons.code.textContent = how === "clipboard" ? "copied \u2713" : "copy code";
      if (flash !== null) clearTimeout(flash);
      flash = setTimeout(() => {
        flash = null;
        buttons.code.textContent = "copy code";
      }, 1500);
    });
  }
  const el = h("span", { class: "lw-toolbar", role: "group", "aria-label": "tools" }, Object.values(buttons));
  const root = view.root;
  const showHistory = () => {
    if (buttons.undo) buttons.undo.disabled = !view.canUndo;
    if (buttons.redo) buttons.redo.disabled = !view.canRedo;
  };
  const showCode = () => {
    if (buttons.code) buttons.code.hidden = !model.get("_code");
  };
  showHistory();
  showCode();
  if (root) root.addEventListener("lw-history", showHistory);
  model.on("change:_code", showCode);
  return {
    el,
    buttons,
    dispose() {
      if (root) root.removeEventListener("lw-history", showHistory);
      model.off("change:_code", showCode);
      if (flash !== null) clearTimeout(flash);
    },
  };
}
