// What every latentwidgets view shares (the browser half of widgets/base.py): building DOM nodes,
// keeping JupyterLab's shortcuts out of our inputs, a throttled readout, and `connectFrames`, which
// wires a view to the shared frame transport: error display (replies and the `error` trait), the
// `lw-frame` / `lw-error` events with each frame's timeline, `data-frames`, and cleanup.
//
//   const view = connectFrames(model, { root, errorBox, onFrame: draw, onState: follow });
//   slider.oninput = () => view.request({ strengths });
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

/**
 * Connect a view to its widget's frames.
 *
 * options:
 *   root       the view's root element: receives `lw-frame` / `lw-error` events and `data-frames`
 *   errorBox   element that shows error messages (hidden while there is none)
 *   onFrame(f) draw frame f = { msg, bitmaps, sentAt, receivedAt, decodedAt, own }; may return extra
 *              fields for the `lw-frame` event's detail
 *   onState(s) the state changed elsewhere (Python, another view): follow it
 *
 * The `lw-frame` detail: { id, seq, origin, own, state, timing, frames, sentAt, receivedAt,
 * decodedAt, drawnAt, kernelIn, kernelOut, ...extra } (times on the page's performance.now() clock).
 * Asks Python for its current state and frame at once. Returns { request(state), transport,
 * showError(message), dispose() }.
 */
export function connectFrames(model, { root, errorBox, onFrame, onState = () => {} }) {
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

  const transport = createTransport(model, { onFrame: frame, onError: showError, onState });
  const onErrorTrait = () => {
    const m = model.get("error");
    if (m) showError(m);
  };
  model.on("change:error", onErrorTrait);
  transport.sync();

  return {
    request: (state) => transport.request(state),
    transport,
    showError,
    dispose() {
      transport.dispose();
      model.off("change:error", onErrorTrait);
    },
  };
}
