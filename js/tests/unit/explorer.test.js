// DirectionExplorer's view logic against a mock model: labelled sliders, what each control asks
// the kernel for, following Python, showing errors. (Pixels are checked in tests/browser.)
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { newSeed } from "../../../latentwidgets/widgets/static/base.js";
import { formatValue, render, unitShort } from "../../../latentwidgets/widgets/static/explorer.js";
import { mockModel } from "../mock-model.js";

const flush = () => new Promise((r) => setTimeout(r, 0));

const controls = [
  { name: "pca 0", unit: "\u03c3", calibrated: false, min: -3, max: 3, step: 0.01, default: 0 },
  { name: "x", unit: "x shift, px", calibrated: true, min: -20, max: 20, step: 0.1, default: 0 },
];

let restore;
beforeEach(() => {
  const orig = { cib: globalThis.createImageBitmap, ctx: HTMLCanvasElement.prototype.getContext };
  globalThis.createImageBitmap = async (src) => ({ width: src.width ?? 1, height: src.height ?? 1, close() {} });
  if (typeof globalThis.ImageData === "undefined") {
    globalThis.ImageData = class { constructor(d, w, h) { Object.assign(this, { data: d, width: w, height: h }); } };
  }
  HTMLCanvasElement.prototype.getContext = () => ({ drawImage() {}, putImageData() {} });
  restore = () => {
    globalThis.createImageBitmap = orig.cib;
    HTMLCanvasElement.prototype.getContext = orig.ctx;
  };
});
afterEach(() => restore());

function mount(attrs = {}) {
  const model = mockModel({ controls, strengths: [0, 0], seed: 3, show_original: false, display_size: 128, _uid: "u1",
    _front_fields: ["seed", "show_original", "strengths"], ...attrs });
  const el = document.createElement("div");
  document.body.append(el);
  const cleanup = render({ model, el });
  // answer the view's first message (sync) with Python's state
  model.reply(model.sent[0], { seq: 1, state: { strengths: [0, 0], seed: 3, n: 1, show_original: false } });
  return { model, el, cleanup, sliders: [...el.querySelectorAll("input[type=range]")] };
}

describe("explorer view", () => {
  it("opens by asking Python for its current state", () => {
    const { model } = mount();
    expect(model.sent[0].content).toMatchObject({ type: "lw:request", state: null });
  });

  it("has one labelled, native range slider per direction with a readout and a reset", () => {
    const { el, sliders } = mount();
    expect(sliders).toHaveLength(2);
    for (const s of sliders) {
      const label = el.querySelector(`label[for="${s.id}"]`);
      expect(label).not.toBeNull();
    }
    expect(el.querySelector(`label[for="${sliders[1].id}"]`).textContent).toContain("x shift, px");
    expect(sliders[0].min).toBe("-3");
    expect(sliders[1].max).toBe("20");
    expect(el.querySelectorAll("button.lw-reset")).toHaveLength(2);
    expect(sliders[1].getAttribute("aria-valuetext")).toMatch(/px$/);
  });

  it("sends the slider values it is dragged to, the newest one when a frame lands", async () => {
    const { model, sliders } = mount();
    await flush();
    const set = (v) => {
      sliders[0].value = String(v);
      sliders[0].dispatchEvent(new Event("input"));
    };
    set(0.5);
    set(1.0);
    set(1.5);
    expect(model.sent).toHaveLength(2);
    expect(model.sent[1].content.state).toEqual({ seed: 3, show_original: false, strengths: [0.5, 0] }); // not n
    model.reply(model.sent[1], { seq: 2 });
    expect(model.sent).toHaveLength(3);
    expect(model.sent[2].content.state.strengths).toEqual([1.5, 0]);
  });

  it("moves its sliders when Python sets the strengths", async () => {
    const { model, el, sliders } = mount();
    model.reply(null, { seq: 2, origin: "python", state: { strengths: [2.25, -10], seed: 8, n: 1, show_original: false } });
    await flush();
    expect(sliders[0].value).toBe("2.25");
    expect(sliders[1].value).toBe("-10");
    expect(el.querySelector("input.lw-seed").value).toBe("8");
    expect(el.querySelector("output.lw-value").textContent).toContain("2.25");
  });

  it("asks for a new seed, the original, and reset values", async () => {
    const { model, el, sliders } = mount();
    await flush();
    el.querySelector("button.lw-new").click();
    const seed = model.sent[1].content.state.seed;
    expect(seed).not.toBe(3);
    model.reply(model.sent[1], { seq: 2 });
    el.querySelector("button.lw-toggle").click();
    expect(model.sent[2].content.state.show_original).toBe(true);
    expect(el.querySelector("button.lw-toggle").getAttribute("aria-pressed")).toBe("true");
    model.reply(model.sent[2], { seq: 3 });
    sliders[1].value = "5";
    sliders[1].dispatchEvent(new Event("input"));
    model.reply(model.sent[3], { seq: 4 });
    el.querySelectorAll("button.lw-reset")[1].click();
    expect(model.sent[4].content.state.strengths).toEqual([0, 0]);
    expect(sliders[1].value).toBe("0");
  });

  it("shows an error inside the widget and hides it with the next frame", async () => {
    const { model, el, sliders } = mount();
    await flush();
    sliders[0].value = "2";
    sliders[0].dispatchEvent(new Event("input"));
    model.emit("msg:custom", { type: "lw:error", id: model.sent[1].content.id, seq: 2, message: "RuntimeError: boom" }, []);
    const box = el.querySelector(".lw-error");
    expect(box.hidden).toBe(false);
    expect(box.textContent).toBe("RuntimeError: boom");
    expect(box.getAttribute("role")).toBe("alert");
    sliders[0].value = "1";
    sliders[0].dispatchEvent(new Event("input"));
    model.reply(model.sent[2], { seq: 3 });
    await flush();
    expect(box.hidden).toBe(true);
  });

  it("builds one canvas per sample and releases its handlers on cleanup", async () => {
    const { model, el, cleanup } = mount();
    const meta = { width: 1, height: 1, format: "raw" };
    const buf = () => new DataView(new Uint8Array([1, 2, 3, 255]).buffer);
    model.reply(null, { seq: 5, origin: "python", state: { strengths: [0, 0], seed: 3, n: 3, show_original: false }, frames: [meta, meta, meta], buffers: [buf(), buf(), buf()] });
    await flush();
    expect(el.querySelectorAll("canvas")).toHaveLength(3);
    cleanup();
    expect(model.listeners("msg:custom")).toBe(0);
    expect(model.listeners("change:error")).toBe(0);
  });
});

describe("formatting", () => {
  it("formats sigma and factor units", () => {
    expect(formatValue(1.5, controls[0])).toBe("+1.50 \u03c3");
    expect(formatValue(-3.25, controls[1])).toBe("\u22123.3 px");
    expect(unitShort("x shift, px")).toBe("px");
    expect(unitShort("hue")).toBe("hue");
  });
  it("new sample picks a different seed", () => {
    expect(newSeed(0, () => 0)).toBe(1);
    expect(newSeed(5, () => 0.5)).toBe(2 ** 30);
  });
});
