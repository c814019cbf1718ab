// What every latentwidgets view shares (the browser half of widgets/base.py): building DOM nodes,
// keeping JupyterLab's shortcuts out of our inputs, a throttled readout, and `connectFrames`, which
// owns a view's state and wires it to the shared frame transport: the view state (Python's frame
// state), requests (one in flight, latest wins), applying the state frames bring, error display
// (replies and the `error` trait), the `lw-frame` / `lw-error` events with each frame's timeline,
// `data-frames`, and cleanup. Every widget's view (explorer, layerwise, collage) uses it.
//
//   const view = connectFrames(model, { root, errorBox, onFrame: draw, onState: show });
//   slider.oninput = () => view.set({ strengths: [Number(slider.value)] });
//   return () => view.dispose();     // the cleanup anywidget's render returns

import { createTransport, pageTime } from "./transport.js";

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

/**
 * Connect a view to its widget's frames; the returned object owns the view's state.
 *
 * options:
 *   root       the view's root element: receives `lw-frame` / `lw-error` events and `data-frames`
 *   errorBox   element that shows error messages (hidden while there is none)
 *   onFrame(f) draw frame f = { msg, bitmaps, sentAt, receivedAt, decodedAt, own }; may return extra
 *              fields for the `lw-frame` event's detail
 *   onState(s) show the view state `s`: it changed elsewhere (Python, another view) or the view opened
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
 * Returns { state, set(changes), request(), transport, showError(message), dispose() }.
 *
 *   const view = connectFrames(model, { root, errorBox, onFrame: draw, onState: show });
 *   slider.oninput = () => view.set({ gain: Number(slider.value) });
 */
export function connectFrames(model, { root, errorBox, onFrame, onState = () => {} }) {
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
  }

  function follow(next) {
    if (!next) return;
    state = clone(next);
    onState(state);
  }

  const transport = createTransport(model, { onFrame: frame, onError: showError, onState: follow });
  const onErrorTrait = () => {
    const m = model.get("error");
    if (m) showError(m);
  };
  model.on("change:error", onErrorTrait);
  transport.sync();

  function request() {
    transport.request(pickFields(state, fields));
  }

  return {
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
    transport,
    showError,
    dispose() {
      transport.dispose();
      model.off("change:error", onErrorTrait);
    },
  };
}
