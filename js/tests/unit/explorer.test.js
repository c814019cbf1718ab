// DirectionExplorer's view logic against a mock model: labelled sliders, what each control asks
// the kernel for, following Python, showing errors. (Pixels are checked in tests/browser.)
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { newSeed } from "../../../latentwidgets/widgets/static/base.js";
import { formatShare, formatValue, render, unitShort } from "../../../latentwidgets/widgets/static/explorer.js";
import { mockModel } from "../mock-model.js";

const flush = () => new Promise((r) => setTimeout(r, 0));

const controls = [
  { name: "pca 0", unit: "\u03c3", calibrated: false, min: -3, max: 3, step: 0.01, default: 0, variance: 0.4213, variance_label: "explained variance" },
  { name: "x", unit: "x shift, px", calibrated: true, min: -20, max: 20, step: 0.1, default: 0, variance: null, variance_label: "" },
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
  const model = mockModel({ controls, strengths: [0, 0], seed: 3, view_mode: "edited", display_size: 128, _uid: "u1",
    _front_fields: ["seed", "strengths", "view_mode"], ...attrs });
  const el = document.createElement("div");
  document.body.append(el);
  const cleanup = render({ model, el });
  // answer the view's first message (sync) with Python's state
  model.reply(model.sent[0], { seq: 1, state: { strengths: [0, 0], seed: 3, n: 1, view_mode: "edited" } });
  return { model, el, cleanup, sliders: [...el.querySelectorAll("input.lw-slider")] };
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
    expect(model.sent[1].content.state).toEqual({ seed: 3, view_mode: "edited", strengths: [0.5, 0] }); // not n
    model.reply(model.sent[1], { seq: 2 });
    expect(model.sent).toHaveLength(3);
    expect(model.sent[2].content.state.strengths).toEqual([1.5, 0]);
  });

  it("moves its sliders when Python sets the strengths", async () => {
    const { model, el, sliders } = mount();
    model.reply(null, { seq: 2, origin: "python", state: { strengths: [2.25, -10], seed: 8, n: 1, view_mode: "original" } });
    await flush();
    expect(sliders[0].value).toBe("2.25");
    expect(sliders[1].value).toBe("-10");
    expect(el.querySelector("input.lw-seed").value).toBe("8");
    expect(el.querySelector("output.lw-value").textContent).toContain("2.25");
    expect(el.querySelector('button[data-mode="original"]').getAttribute("aria-pressed")).toBe("true");
  });

  it("asks for a new seed, a view mode, and reset values", async () => {
    const { model, el, sliders } = mount();
    await flush();
    el.querySelector("button.lw-new").click();
    const seed = model.sent[1].content.state.seed;
    expect(seed).not.toBe(3);
    model.reply(model.sent[1], { seq: 2 });
    el.querySelector('button[data-mode="side by side"]').click();
    expect(model.sent[2].content.state.view_mode).toBe("side by side");
    const pressed = [...el.querySelectorAll("button.lw-mode")].map((b) => b.getAttribute("aria-pressed"));
    expect(pressed).toEqual(["false", "false", "true"]);
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

  it("shows each component's share of the variance beside its slider, nothing where there is none", () => {
    const { el } = mount();
    const shares = [...el.querySelectorAll(".lw-variance")];
    expect(shares.map((s) => s.textContent)).toEqual(["42.1%", ""]);
    expect(shares[0].title).toBe("explained variance of pca 0");
  });

  it("renames a direction: double-click the name, type, Enter; Escape keeps it; the label follows Python", async () => {
    const { model, el } = mount();
    await flush();
    const label = el.querySelector("label.lw-name");
    label.dispatchEvent(new Event("dblclick"));
    const box = label.querySelector("input.lw-rename");
    expect(box.value).toBe("pca 0");
    box.value = "pose ";
    box.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter" }));
    expect(model.sent.at(-1).content).toEqual({ type: "lw:rename", index: 0, name: "pose" });
    expect(label.querySelector("input")).toBeNull();
    expect(label.textContent).toBe("pca 0"); // until Python has it
    model.set("controls", [{ ...controls[0], name: "pose" }, controls[1]]);
    model.emit("change:controls");
    expect(label.textContent).toBe("pose");
    expect(el.querySelector("button.lw-reset").getAttribute("aria-label")).toBe("reset pose");
    // F2 on the slider opens the box too; Escape sends nothing
    const sent = model.sent.length;
    el.querySelectorAll("input.lw-slider")[1].dispatchEvent(new KeyboardEvent("keydown", { key: "F2" }));
    const box2 = el.querySelectorAll("label.lw-name")[1].querySelector("input");
    box2.value = "other";
    box2.dispatchEvent(new KeyboardEvent("keydown", { key: "Escape" }));
    expect(model.sent.length).toBe(sent);
    expect(el.querySelectorAll("label.lw-name")[1].textContent).toBe("x (x shift, px)");
  });

  it("lays side by side frames out as before / after pairs", async () => {
    const { model, el } = mount();
    const meta = { width: 1, height: 1, format: "raw" };
    const buf = () => new DataView(new Uint8Array([1, 2, 3, 255]).buffer);
    model.reply(null, { seq: 5, origin: "python", state: { strengths: [0, 0], seed: 3, n: 2, view_mode: "side by side" }, frames: [meta, meta, meta, meta], buffers: [buf(), buf(), buf(), buf()] });
    await flush();
    const canvases = [...el.querySelectorAll("canvas")];
    expect(canvases.map((c) => c.getAttribute("aria-label"))).toEqual(["sample 1 before", "sample 1 after", "sample 2 before", "sample 2 after"]);
    expect(canvases.map((c) => c.classList.contains("lw-before"))).toEqual([true, false, true, false]);
    expect([...el.querySelectorAll(".lw-caption")].map((c) => c.textContent)).toEqual(["before", "after", "before", "after"]);
  });

  it("keeps developer timings out of the readout unless debug is on", async () => {
    const meta = { width: 1, height: 1, format: "raw" };
    for (const debug of [false, true]) {
      const { model, el } = mount({ debug });
      model.reply(null, { seq: 2, origin: "python", state: { strengths: [0, 0], seed: 3, n: 1, view_mode: "edited" }, frames: [meta] });
      await flush();
      await new Promise((r) => setTimeout(r, 250)); // (the readout is throttled)
      const text = el.querySelector(".lw-readout").textContent;
      expect(text).toContain("seed 3");
      expect(/ms|KiB/.test(text)).toBe(debug);
      el.remove();
    }
  });

  it("steps 0.1 sigma with the arrow keys, 1 sigma with Shift; a calibrated slider a 60th / 6th of its span", async () => {
    const { model, sliders } = mount();
    await flush();
    const key = (slider, init) => slider.dispatchEvent(new KeyboardEvent("keydown", { bubbles: true, cancelable: true, ...init }));
    key(sliders[0], { key: "ArrowRight" });
    expect(model.sent.at(-1).content.state.strengths).toEqual([0.1, 0]);
    model.reply(model.sent.at(-1), { seq: 2 });
    key(sliders[0], { key: "ArrowRight", shiftKey: true });
    expect(model.sent.at(-1).content.state.strengths[0]).toBeCloseTo(1.1, 9);
    model.reply(model.sent.at(-1), { seq: 3 });
    key(sliders[1], { key: "ArrowLeft" });
    expect(model.sent.at(-1).content.state.strengths[1]).toBeCloseTo(-40 / 60, 1);
    model.reply(model.sent.at(-1), { seq: 4 });
    const before = Number(sliders[1].value);
    key(sliders[1], { key: "ArrowRight", shiftKey: true });
    expect(model.sent.at(-1).content.state.strengths[1] - before).toBeCloseTo(40 / 6, 1);
  });

  it("undo puts the sliders back and leaves the view mode alone", async () => {
    const { model, el, sliders } = mount();
    await flush();
    sliders[0].value = "1.5";
    sliders[0].dispatchEvent(new Event("input"));
    sliders[0].dispatchEvent(new Event("change")); // the drag ended: one undo step
    model.reply(model.sent.at(-1), { seq: 2 });
    el.querySelector('button[data-mode="side by side"]').click();
    model.reply(model.sent.at(-1), { seq: 3 });
    expect(el.querySelector("button.lw-undo").disabled).toBe(false);
    el.querySelector(".lw-explorer").dispatchEvent(new KeyboardEvent("keydown", { key: "z", ctrlKey: true, bubbles: true }));
    expect(model.sent.at(-1).content.state).toMatchObject({ strengths: [0, 0], view_mode: "side by side" });
    expect(sliders[0].value).toBe("0");
  });

  it("has PNG and copy-code buttons, and a truncation slider where the model has a truncation trick", () => {
    const plain = mount();
    expect(plain.el.querySelector("button.lw-png")).not.toBeNull();
    expect(plain.el.querySelector("button.lw-code").hidden).toBe(true); // no code yet
    expect(plain.el.querySelector("input.lw-truncation")).toBeNull();
    plain.model.set("_code", "import latentwidgets as lw\n");
    plain.model.emit("change:_code");
    expect(plain.el.querySelector("button.lw-code").hidden).toBe(false);
    const { model, el } = mount({ truncation: 1, _front_fields: ["seed", "strengths", "truncation", "view_mode"] });
    const trunc = el.querySelector("input.lw-truncation");
    trunc.value = "0.5";
    trunc.dispatchEvent(new Event("input"));
    expect(model.sent.at(-1).content.state).toMatchObject({ truncation: 0.5 });
  });

  it("builds one canvas per sample and releases its handlers on cleanup", async () => {
    const { model, el, cleanup } = mount();
    const meta = { width: 1, height: 1, format: "raw" };
    const buf = () => new DataView(new Uint8Array([1, 2, 3, 255]).buffer);
    model.reply(null, { seq: 5, origin: "python", state: { strengths: [0, 0], seed: 3, n: 3, view_mode: "edited" }, frames: [meta, meta, meta], buffers: [buf(), buf(), buf()] });
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
    expect(formatShare(0.1234)).toBe("12.3%");
    expect(formatShare(0.00042)).toBe("0.04%");
    expect(formatShare(null)).toBe("");
  });
  it("new sample picks a different seed", () => {
    expect(newSeed(0, () => 0)).toBe(1);
    expect(newSeed(5, () => 0.5)).toBe(2 ** 30);
  });
});
