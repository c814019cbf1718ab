// base.js's connectFrames, the one helper every view uses: the view state (from the model's front
// fields, then from frames that come from elsewhere), requests of it (front fields only, one in
// flight, newest wins), errors shown in the view, the lw-frame event, and cleanup.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { connectFrames, pickFields, throttledText } from "../../../latentwidgets/widgets/static/base.js";
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

function connect(attrs = {}) {
  const model = mockModel({ _front_fields: ["gain", "seed"], gain: 1, seed: 4, n: 2, ...attrs });
  const root = document.createElement("div");
  const errorBox = document.createElement("div");
  errorBox.hidden = true;
  const shown = [];
  const drawn = [];
  const events = [];
  root.addEventListener("lw-frame", (e) => events.push(e.detail));
  const view = connectFrames(model, {
    root, errorBox, onFrame: (f) => { drawn.push(f.msg.seq); return { extra: 1 }; }, onState: (s) => shown.push(s),
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
    expect(shown).toEqual([py]);
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
