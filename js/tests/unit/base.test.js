// base.js's connectFrames, the one helper every view uses: the view state (from the model's front
// fields, then from frames that come from elsewhere), requests of it (front fields only, one in
// flight, newest wins), errors shown in the view, the lw-frame event, undo/redo, the busy indicator
// and cleanup; and the helpers around it: toolbar, sliderKeys, timingText, truncationControl.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  BUSY_DELAY_MS, connectFrames, keySteps, pickFields, sliderKeys, throttledText, timingText, toolbar, truncationControl,
} from "../../../latentwidgets/widgets/static/base.js";
import { mockModel } from "../mock-model.js";

const flush = () => new Promise((r) => setTimeout(r, 0));

let restore;
beforeEach(() => {
  const orig = globalThis.ImageData;
  if (typeof globalThis.ImageData === "undefined") {
    globalThis.ImageData = class { constructor(d, w, h) { Object.assign(this, { data: d, width: w, height: h }); } };
  }
  restore = () => { globalThis.ImageData = orig; };
});
afterEach(() => restore());

function connect(attrs = {}, options = {}) {
  const model = mockModel({ _front_fields: ["gain", "seed"], gain: 1, seed: 4, n: 2, ...attrs });
  const root = document.createElement("div");
  const errorBox = document.createElement("div");
  errorBox.hidden = true;
  const shown = [];
  const drawn = [];
  const events = [];
  root.addEventListener("lw-frame", (e) => events.push(e.detail));
  const view = connectFrames(model, {
    root, errorBox, onFrame: (f) => { drawn.push(f.msg.seq); return { extra: 1 }; },
    onState: (s) => shown.push(JSON.parse(JSON.stringify(s))), ...options,
  });
  return { model, root, errorBox, view, shown, drawn, events };
}

describe("connectFrames", () => {
  it("starts from the model's front fields and asks Python for its state", () => {
    const { model, view } = connect();
    expect(view.state).toEqual({ gain: 1, seed: 4 });
    expect(model.sent).toHaveLength(1);
    expect(model.sent[0].content).toMatchObject({ type: "lw:request", state: null });
  });

  it("applies the state a frame brings from elsewhere, as a copy", async () => {
    const { model, view, shown, drawn } = connect();
    const py = { gain: 2, seed: 9, n: 3 };
    model.reply(model.sent[0], { seq: 1, state: py });
    expect(view.state).toEqual(py);
    expect(shown).toEqual([{ gain: 2, seed: 9, n: 3 }]);
    py.gain = 5;
    expect(view.state.gain).toBe(2);
    model.reply(null, { seq: 2, origin: "python", state: { gain: 3, seed: 9, n: 3 } });
    expect(view.state.gain).toBe(3);
    await flush();
    expect(drawn).toEqual([1, 2]);
  });

  it("requests only the front fields, one in flight, the newest state when the frame lands", () => {
    const { model, view } = connect();
    model.reply(model.sent[0], { seq: 1, state: { gain: 1, seed: 4, n: 2 } });
    view.set({ gain: 1.5 });
    view.set({ gain: 2.5 });
    view.state.seed = 7; // edit in place, then ask
    view.request();
    expect(model.sent).toHaveLength(2);
    expect(model.sent[1].content.state).toEqual({ gain: 1.5, seed: 4 });
    model.reply(model.sent[1], { seq: 2 });
    expect(model.sent).toHaveLength(3);
    expect(model.sent[2].content.state).toEqual({ gain: 2.5, seed: 7 });
    model.reply(model.sent[2], { seq: 3 });
    view.set({ gain: 2.5 }); // the state Python has: nothing to ask
    expect(model.sent).toHaveLength(3);
  });

  it("keeps its own newer state while a frame from another view arrives", () => {
    const { model, view } = connect();
    model.reply(model.sent[0], { seq: 1, state: { gain: 1, seed: 4, n: 2 } });
    view.set({ gain: 2 });
    model.reply({ content: { id: "other:1" } }, { seq: 2, state: { gain: 0, seed: 4, n: 2 } });
    expect(view.state.gain).toBe(2);
  });

  it("shows errors (replies and the error trait), hides them with the next frame, and says so in events", async () => {
    const { model, root, errorBox, view, events } = connect();
    const errors = [];
    root.addEventListener("lw-error", (e) => errors.push(e.detail.message));
    model.reply(model.sent[0], { seq: 1, state: { gain: 1, seed: 4, n: 2 } });
    view.set({ gain: "x" });
    model.emit("msg:custom", { type: "lw:error", id: model.sent[1].content.id, seq: 2, message: "TraitError: gain" }, []);
    expect(errorBox.hidden).toBe(false);
    expect(errorBox.textContent).toBe("TraitError: gain");
    model.set("error", "ValueError: from Python");
    model.emit("change:error");
    expect(errors).toEqual(["TraitError: gain", "ValueError: from Python"]);
    view.set({ gain: 3 });
    model.reply(model.sent[2], { seq: 3 });
    await flush();
    expect(errorBox.hidden).toBe(true);
    expect(root.dataset.frames).toBe("1");
    expect(events.at(-1)).toMatchObject({ seq: 3, own: true, frames: 2, extra: 1 });
  });

  it("sends every field when the model names none, and releases its listeners", () => {
    const { model, view } = connect({ _front_fields: undefined });
    expect(view.state).toEqual({});
    model.reply(model.sent[0], { seq: 1, state: { gain: 1, seed: 4, n: 2 } });
    view.set({ gain: 2 });
    expect(model.sent[1].content.state).toEqual({ gain: 2, seed: 4, n: 2 });
    view.dispose();
    expect(model.listeners("msg:custom")).toBe(0);
    expect(model.listeners("change:error")).toBe(0);
  });
});

const key = (el, k, mods = {}) => {
  const e = new KeyboardEvent("keydown", { key: k, bubbles: true, cancelable: true, ...mods });
  el.dispatchEvent(e);
  return e;
};

describe("undo / redo", () => {
  // Python's first state is the start; a burst of page changes is one step once it rests (or at commit)
  function started(attrs, options) {
    const c = connect(attrs, { historyDelayMs: 50, ...options });
    c.model.reply(c.model.sent[0], { seq: 1, state: { gain: 1, seed: 4, n: 2 } });
    c.shown.length = 0;
    return c;
  }
  const lastState = (model) => model.sent.at(-1).content.state;
  let seq = 10;
  const answer = (model) => model.reply(model.sent.at(-1), { seq: ++seq });

  it("undoes a drag as one step and redoes it, showing and requesting each state", () => {
    const { model, view, shown } = started();
    expect(view.canUndo).toBe(false);
    view.set({ gain: 1.2 });
    answer(model);
    view.set({ gain: 1.4 });
    answer(model);
    view.set({ gain: 1.6 });
    answer(model);
    view.commit(); // the drag ended
    expect(view.canUndo).toBe(true);
    expect(view.undo()).toBe(true);
    expect(view.state.gain).toBe(1);
    expect(shown.at(-1)).toEqual({ gain: 1, seed: 4, n: 2 });
    expect(lastState(model)).toEqual({ gain: 1, seed: 4 });
    expect(view.canUndo).toBe(false);
    expect(view.undo()).toBe(false);
    answer(model);
    expect(view.redo()).toBe(true);
    expect(view.state.gain).toBe(1.6);
    expect(lastState(model)).toEqual({ gain: 1.6, seed: 4 });
    expect(view.canRedo).toBe(false);
  });

  it("makes a step of changes that rest, and a new change after an undo drops the redo", async () => {
    const { model, view } = started();
    view.set({ gain: 2 });
    answer(model);
    await new Promise((r) => setTimeout(r, 80)); // rested: one step
    view.set({ seed: 7 });
    answer(model);
    expect(view.undo()).toBe(true); // the seed change still resting is committed first, then undone
    expect(view.state).toMatchObject({ gain: 2, seed: 4 });
    answer(model);
    view.set({ gain: 3 });
    view.commit();
    expect(view.canRedo).toBe(false);
    view.undo();
    expect(view.state).toMatchObject({ gain: 2, seed: 4 });
    view.undo();
    expect(view.state).toMatchObject({ gain: 1, seed: 4 });
  });

  it("counts a state Python sends as a step", () => {
    const { model, view } = started();
    model.reply(null, { seq: 5, origin: "python", state: { gain: 9, seed: 4, n: 2 } });
    expect(view.state.gain).toBe(9);
    view.undo();
    expect(view.state.gain).toBe(1);
  });

  it("keeps only the history fields when told, and none with history: false", () => {
    const { model, view } = started({}, { history: ["gain"] });
    view.set({ gain: 2, seed: 8 });
    view.commit();
    answer(model);
    view.set({ seed: 9 }); // not kept: no step
    view.commit();
    answer(model);
    view.undo();
    expect(view.state).toMatchObject({ gain: 1, seed: 9 });
    const none = started({}, { history: false });
    none.view.set({ gain: 5 });
    none.view.commit();
    expect(none.view.canUndo).toBe(false);
  });

  it("answers Ctrl/Cmd-Z, Ctrl/Cmd-Shift-Z and Ctrl-Y inside the widget, but not in a number box", () => {
    const { model, root, view } = started();
    document.body.append(root);
    const slider = document.createElement("input");
    slider.type = "range";
    const box = document.createElement("input");
    box.type = "number";
    root.append(slider, box);
    view.set({ gain: 2 });
    view.commit();
    answer(model);
    expect(key(box, "z", { ctrlKey: true }).defaultPrevented).toBe(false);
    expect(view.state.gain).toBe(2);
    expect(key(slider, "z", { ctrlKey: true }).defaultPrevented).toBe(true);
    expect(view.state.gain).toBe(1);
    answer(model);
    key(root, "Z", { metaKey: true, shiftKey: true });
    expect(view.state.gain).toBe(2);
    answer(model);
    key(root, "z", { metaKey: true });
    answer(model);
    key(root, "y", { ctrlKey: true });
    expect(view.state.gain).toBe(2);
    key(document.body, "z", { ctrlKey: true }); // outside the widget: not ours
    expect(view.state.gain).toBe(2);
    view.dispose();
    root.remove();
  });

  it("takes its keys before JupyterLab's shortcuts (document capture) and lets every other key through", () => {
    const { model, root, view } = started();
    document.body.append(root);
    const seen = [];
    const lumino = (e) => seen.push(`${e.shiftKey ? "Shift+" : ""}${e.ctrlKey ? "Ctrl+" : ""}${e.key}`);
    document.addEventListener("keydown", lumino, true);
    try {
      view.set({ gain: 2 });
      view.commit();
      answer(model);
      key(root, "z", { ctrlKey: true });
      key(root, "Enter", { shiftKey: true });
      expect(seen).toEqual(["Shift+Enter"]); // Shift-Enter still runs the cell
      expect(view.state.gain).toBe(1);
      view.dispose();
      key(root, "z", { ctrlKey: true }); // a disposed view no longer listens
      expect(seen).toEqual(["Shift+Enter", "Ctrl+z"]);
    } finally {
      document.removeEventListener("keydown", lumino, true);
      root.remove();
    }
  });

  it("announces when undo and redo become possible", () => {
    const { model, root, view } = started();
    const seen = [];
    root.addEventListener("lw-history", (e) => seen.push(e.detail));
    view.set({ gain: 2 });
    expect(seen.at(-1)).toEqual({ canUndo: true, canRedo: false });
    view.commit();
    answer(model);
    view.undo();
    expect(seen.at(-1)).toEqual({ canUndo: false, canRedo: true });
  });
});

describe("busy indicator", () => {
  afterEach(() => vi.useRealTimers());

  it("shows only while a request has been pending longer than the delay", async () => {
    vi.useFakeTimers();
    let clock = 0;
    const { model, root, view } = connect({}, { now: () => clock });
    const indicator = root.querySelector(".lw-busy-indicator");
    expect(indicator).not.toBeNull();
    clock = 100;
    vi.advanceTimersByTime(100);
    expect(root.classList.contains("lw-busy")).toBe(false); // the first frame is still under the delay
    model.reply(model.sent[0], { seq: 1, state: { gain: 1, seed: 4, n: 2 } });
    view.set({ gain: 2 }); // a slow frame
    clock = 100 + BUSY_DELAY_MS - 10;
    vi.advanceTimersByTime(BUSY_DELAY_MS - 10);
    expect(view.busy).toBe(false);
    clock += 20;
    vi.advanceTimersByTime(20);
    expect(view.busy).toBe(true);
    expect(root.classList.contains("lw-busy")).toBe(true);
    expect(root.getAttribute("aria-busy")).toBe("true");
    expect(indicator.textContent).toMatch(/rendering/);
    model.reply(model.sent[1], { seq: 2 }); // the frame lands
    await view.transport.drained(); // ... and is drawn
    expect(root.classList.contains("lw-busy")).toBe(false);
    expect(root.hasAttribute("aria-busy")).toBe(false);
    expect(indicator.textContent).toBe("");
    view.dispose();
    expect(root.querySelector(".lw-busy-indicator")).toBeNull();
  });

  it("stays off while quick frames follow each other (a drag)", () => {
    vi.useFakeTimers();
    let clock = 0;
    const { model, root, view } = connect({}, { now: () => clock });
    model.reply(model.sent[0], { seq: 1, state: { gain: 1, seed: 4, n: 2 } });
    for (let i = 0; i < 20; i++) {
      view.set({ gain: 1 + i / 10 });
      clock += 40;
      vi.advanceTimersByTime(40);
      model.reply(model.sent.at(-1), { seq: 2 + i });
      expect(root.classList.contains("lw-busy")).toBe(false);
    }
  });

  it("goes off when an error answers the request", () => {
    vi.useFakeTimers();
    let clock = 0;
    const { model, view } = connect({}, { now: () => clock });
    model.reply(model.sent[0], { seq: 1, state: { gain: 1, seed: 4, n: 2 } });
    view.set({ gain: 2 });
    clock = 500;
    vi.advanceTimersByTime(500);
    expect(view.busy).toBe(true);
    model.emit("msg:custom", { type: "lw:error", id: model.sent[1].content.id, seq: 2, message: "boom" }, []);
    expect(view.busy).toBe(false);
  });
});

describe("sliderKeys", () => {
  function slider(min = -3, max = 3, step = 0.01, value = 0) {
    const input = document.createElement("input");
    Object.assign(input, { type: "range" });
    input.min = String(min);
    input.max = String(max);
    input.step = String(step);
    input.value = String(value);
    document.body.append(input);
    return input;
  }

  it("steps 0.1 with the arrows and 1 with Shift, firing the input's own event, within min/max", () => {
    const input = slider();
    const seen = [];
    input.addEventListener("input", () => seen.push(Number(input.value)));
    const off = sliderKeys(input, keySteps({ min: -3, max: 3 }));
    expect(key(input, "ArrowRight").defaultPrevented).toBe(true);
    expect(Number(input.value)).toBeCloseTo(0.1, 10);
    key(input, "ArrowUp", { shiftKey: true });
    expect(Number(input.value)).toBeCloseTo(1.1, 10);
    key(input, "ArrowLeft");
    key(input, "ArrowDown");
    expect(Number(input.value)).toBeCloseTo(0.9, 10);
    key(input, "ArrowRight", { shiftKey: true });
    key(input, "ArrowRight", { shiftKey: true });
    key(input, "ArrowRight", { shiftKey: true });
    expect(Number(input.value)).toBe(3);
    expect(seen.map((v) => Number(v.toFixed(4)))).toEqual([0.1, 1.1, 1, 0.9, 1.9, 2.9, 3]);
    key(input, "ArrowRight"); // at the end: nothing changes, no event
    expect(seen).toHaveLength(7);
    expect(key(input, "z", { ctrlKey: true }).defaultPrevented).toBe(false); // not its key
    off();
    expect(key(input, "ArrowRight").defaultPrevented).toBe(false);
  });

  it("steps 1/60 and 1/6 of a calibrated slider's span, and calls onStep when given", () => {
    expect(keySteps({ min: -20, max: 20, sigma: false })).toEqual({ step: 40 / 60, bigStep: 40 / 6 });
    const input = slider(-20, 20, "any", 0);
    const steps = [];
    sliderKeys(input, { ...keySteps({ min: -20, max: 20, sigma: false }), onStep: (v) => steps.push(v) });
    key(input, "ArrowRight");
    key(input, "ArrowLeft", { shiftKey: true });
    expect(steps[0]).toBeCloseTo(2 / 3, 8);
    expect(steps[1]).toBeCloseTo(2 / 3 - 20 / 3, 8);
  });
});

describe("toolbar, timings, truncation", () => {
  function started(attrs = {}) {
    const c = connect({ _code: "", ...attrs }, { historyDelayMs: 50 });
    c.model.reply(c.model.sent[0], { seq: 1, state: { gain: 1, seed: 4, n: 2 } });
    return c;
  }

  it("makes undo/redo buttons that follow the history, and a copy-code button shown when there is code", () => {
    const { model, view } = started();
    const tools = toolbar(view);
    const { undo, redo, code, png } = tools.buttons;
    expect(png).toBeUndefined(); // no png() given
    expect(undo.disabled).toBe(true);
    expect(redo.disabled).toBe(true);
    view.set({ gain: 2 });
    expect(undo.disabled).toBe(false);
    undo.click();
    expect(view.state.gain).toBe(1);
    expect(redo.disabled).toBe(false);
    expect(code.hidden).toBe(true);
    model.set("_code", "import latentwidgets as lw\n");
    model.emit("change:_code");
    expect(code.hidden).toBe(false);
    tools.dispose();
    expect(model.listeners("change:_code")).toBe(0);
  });

  it("copy code: the clipboard when it is there, else the code selected in a box", async () => {
    const { model, root, view } = started({ _code: "print(1)\n" });
    const bar = document.createElement("div");
    bar.className = "lw-bar";
    root.classList.add("lw-widget");
    root.append(bar);
    const tools = toolbar(view);
    bar.append(tools.el);
    const written = [];
    const orig = Object.getOwnPropertyDescriptor(globalThis.navigator, "clipboard");
    Object.defineProperty(globalThis.navigator, "clipboard", { configurable: true, value: { writeText: async (t) => written.push(t) } });
    tools.buttons.code.click();
    await new Promise((r) => setTimeout(r, 0));
    expect(written).toEqual(["print(1)\n"]);
    expect(tools.buttons.code.textContent).toMatch(/copied/);
    Object.defineProperty(globalThis.navigator, "clipboard", { configurable: true, value: undefined });
    tools.buttons.code.click();
    await new Promise((r) => setTimeout(r, 0));
    const area = root.querySelector(".lw-copy-box textarea");
    expect(area).not.toBeNull();
    expect(area.value).toBe("print(1)\n");
    expect(area.selectionStart).toBe(0);
    expect(area.selectionEnd).toBe(area.value.length);
    if (orig) Object.defineProperty(globalThis.navigator, "clipboard", orig);
    else delete globalThis.navigator.clipboard;
    expect(model.get("_code")).toBe("print(1)\n");
  });

  it("timingText shows developer timings only with debug", () => {
    const f = { msg: { frames: [{ width: 64, height: 64, format: "raw" }], timing: { compute_ms: 2.5, bytes: 2048 } }, sentAt: null };
    const model = { get: (k) => (k === "debug" ? false : undefined) };
    expect(timingText(model, f)).toBe("");
    const dbg = { get: (k) => k === "debug" };
    expect(timingText(dbg, f)).toBe("model 2.5 ms \u00b7 64\u00d764 raw \u00b7 2.0 KiB");
  });

  it("truncationControl exists only when truncation is a front field and sets it", () => {
    const plain = started();
    expect(truncationControl(plain.model, plain.view, "u")).toBeNull();
    const { model, view } = started({ _front_fields: ["gain", "seed", "truncation"], truncation: 1 });
    const ctl = truncationControl(model, view, "u");
    const input = ctl.el.querySelector("input[type=range]");
    expect(ctl.el.querySelector("label").getAttribute("for")).toBe(input.id);
    input.value = "0.7";
    input.dispatchEvent(new Event("input"));
    expect(view.state.truncation).toBeCloseTo(0.7);
    expect(ctl.el.querySelector("output").textContent).toBe("0.70");
    view.state.truncation = 0.5;
    ctl.show(view.state);
    expect(Number(input.value)).toBeCloseTo(0.5);
  });
});

describe("helpers", () => {
  it("pickFields keeps the named, defined fields", () => {
    expect(pickFields({ a: 1, b: 2, c: undefined }, ["a", "c"])).toEqual({ a: 1 });
    expect(pickFields({ a: 1 }, undefined)).toEqual({ a: 1 });
  });

  it("throttledText shows the newest text at most once per interval", async () => {
    const el = document.createElement("div");
    const t = throttledText(el, 5);
    t.set("a");
    t.set("b");
    expect(el.textContent).toBe("a");
    await new Promise((r) => setTimeout(r, 20));
    expect(el.textContent).toBe("b");
    t.dispose();
  });
});
