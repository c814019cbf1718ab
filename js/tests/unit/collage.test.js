// CollageCanvas's front end against a mock model: the rasterising rule (shared with collage.py), and
// what painting, undo, clear, "take all", "new" and the truncation slider ask the kernel for. (Pixels:
// tests/browser.)
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { collagePixels, overlayPixels, rasterize, render, UNKNOWN } from "../../../latentwidgets/widgets/static/collage.js";
import { mockModel } from "../mock-model.js";

const flush = () => new Promise((r) => setTimeout(r, 0));

function count(labels, value) {
  let n = 0;
  for (const v of labels) if (v === value) n += 1;
  return n;
}

describe("rasterising operations (the rule collage.py uses)", () => {
  it("takes the pixels whose centres lie in a rectangle, corners in any order", () => {
    const labels = rasterize([
      { tool: "rect", source: 0, x0: 0, y0: 0, x1: 32, y1: 64 },
      { tool: "rect", source: 1, x0: 64, y0: 64, x1: 32, y1: 0 },
    ], 64, 64);
    for (let y = 0; y < 64; y++) {
      expect(labels[y * 64 + 31]).toBe(0);
      expect(labels[y * 64 + 32]).toBe(1);
    }
    const part = rasterize([{ tool: "rect", source: 1, x0: 10.2, y0: 20, x1: 19.6, y1: 30 }], 64, 64);
    expect(count(part, 1)).toBe(10 * 10); // columns 10..19, rows 20..29
    expect(part[20 * 64 + 10]).toBe(1);
    expect(part[20 * 64 + 9]).toBe(UNKNOWN);
    expect(part[30 * 64 + 10]).toBe(UNKNOWN);
  });

  it("paints a brush dot and a stroke within the radius", () => {
    const dot = rasterize([{ tool: "brush", source: 0, radius: 2, points: [[10, 10]] }], 64, 64);
    expect(count(dot, 0)).toBe(12); // a 4x4 block of centres minus its corners
    const stroke = rasterize([{ tool: "brush", source: 2, radius: 1, points: [[0, 10.5], [64, 10.5]] }], 64, 64);
    for (let x = 0; x < 64; x++) {
      expect(stroke[10 * 64 + x]).toBe(2);
      expect(stroke[9 * 64 + x]).toBe(2); // centre 9.5 is 1 px away: inside (<= radius)
      expect(stroke[8 * 64 + x]).toBe(UNKNOWN);
    }
  });

  it("paints later operations over earlier ones; source null erases", () => {
    const labels = rasterize([
      { tool: "fill", source: 0 },
      { tool: "rect", source: 1, x0: 0, y0: 0, x1: 16, y1: 16 },
      { tool: "rect", source: null, x0: 8, y0: 8, x1: 24, y1: 24 },
    ], 32, 32);
    expect(labels[0]).toBe(1);
    expect(labels[10 * 32 + 10]).toBe(UNKNOWN);
    expect(labels[30 * 32 + 30]).toBe(0);
  });

  it("composes the collage from each source and tints what a source gives", () => {
    const labels = Int32Array.from([0, 1, UNKNOWN, 1]);
    const red = new Uint8ClampedArray([255, 0, 0, 255, 255, 0, 0, 255, 255, 0, 0, 255, 255, 0, 0, 255]);
    const blue = new Uint8ClampedArray([0, 0, 255, 255, 0, 0, 254, 255, 0, 0, 253, 255, 0, 0, 252, 255]);
    const px = collagePixels(labels, [red, blue], 2, 2);
    expect(Array.from(px.slice(0, 4))).toEqual([255, 0, 0, 255]);
    expect(Array.from(px.slice(4, 8))).toEqual([0, 0, 254, 255]);
    expect(px[8]).toBe(px[9]); // unknown: grey
    expect(Array.from(px.slice(12, 16))).toEqual([0, 0, 252, 255]);
    const over = overlayPixels(labels, 1, 2, 2);
    expect([over[3], over[7], over[11], over[15]].map((a) => a > 0)).toEqual([false, true, false, true]);
  });
});

// ------------------------------------------------------------------------------------ the view
let restore;
beforeEach(() => {
  const orig = { cib: globalThis.createImageBitmap, ctx: HTMLCanvasElement.prototype.getContext, rect: HTMLCanvasElement.prototype.getBoundingClientRect };
  globalThis.createImageBitmap = async (src) => ({ width: src.width ?? 1, height: src.height ?? 1, close() {} });
  if (typeof globalThis.ImageData === "undefined") {
    globalThis.ImageData = class { constructor(d, w, h) { Object.assign(this, { data: d, width: w, height: h }); } };
  }
  HTMLCanvasElement.prototype.getContext = function () {
    const canvas = this;
    return {
      drawImage() {
        canvas.drawn = (canvas.drawn || 0) + 1; // (how often a frame or pixels were drawn on it)
      },
      putImageData() {
        canvas.drawn = (canvas.drawn || 0) + 1;
      },
      getImageData: () => ({ data: new Uint8ClampedArray(canvas.width * canvas.height * 4) }),
    };
  };
  // every canvas is 128 CSS px wide at (0, 0): image pixel = CSS px / 2 for a 64 px image
  HTMLCanvasElement.prototype.getBoundingClientRect = () => ({ left: 0, top: 0, width: 128, height: 128, right: 128, bottom: 128 });
  restore = () => {
    globalThis.createImageBitmap = orig.cib;
    HTMLCanvasElement.prototype.getContext = orig.ctx;
    HTMLCanvasElement.prototype.getBoundingClientRect = orig.rect;
  };
});
afterEach(() => restore());

const STATE = { seeds: [5, 6], ops: [] };

function mount(attrs = {}, state = STATE) {
  const model = mockModel({ n_sources: 2, resolution: 64, brush_radius: 3, tool: "brush", mode: "take", display_size: 128, _uid: "c1",
    _front_fields: ["ops", "seeds"], ...attrs });
  const el = document.createElement("div");
  document.body.append(el);
  const cleanup = render({ model, el });
  const raw = (w, h) => ({ width: w, height: h, format: "raw" });
  const buffers = [0, 1, 2].map(() => new DataView(new Uint8Array(64 * 64 * 4).buffer));
  model.reply(model.sent[0], { seq: 1, state, frames: [raw(64, 64), raw(64, 64), raw(64, 64)], buffers });
  return { model, el, cleanup, root: el.querySelector(".lw-collage") };
}

/** Kernel's reply to the newest request: the projection and both sources, as 64 px raw frames. */
function replyWithSources(model, seq) {
  const frames = [0, 1, 2].map(() => ({ width: 64, height: 64, format: "raw" }));
  const buffers = frames.map(() => new DataView(new Uint8Array(64 * 64 * 4).buffer));
  model.reply(model.sent[model.sent.length - 1], { seq, frames, buffers });
}

function pointer(target, type, x, y) {
  const e = new MouseEvent(type, { clientX: x, clientY: y, button: 0, bubbles: true });
  Object.defineProperty(e, "pointerId", { value: 1 });
  target.dispatchEvent(e);
}

const lastState = (model) => model.sent[model.sent.length - 1].content.state;

describe("collage view", () => {
  it("opens by asking Python for its state and shows one paintable layer per source", async () => {
    const { model, el } = mount();
    expect(model.sent[0].content).toMatchObject({ type: "lw:request", state: null });
    await flush();
    expect(el.querySelectorAll(".lw-source-overlay")).toHaveLength(2);
    expect(el.querySelector(".lw-seed").textContent).toContain("5");
  });

  it("sends a brush stroke on a source as it is painted, newest state only while a frame is in flight", async () => {
    const { model, el } = mount();
    await flush();
    const overlay = el.querySelectorAll(".lw-source-overlay")[1];
    pointer(overlay, "pointerdown", 20, 20);
    expect(model.sent).toHaveLength(2);
    expect(lastState(model).ops).toEqual([{ tool: "brush", source: 1, radius: 3, points: [[10, 10]] }]);
    pointer(overlay, "pointermove", 40, 20);
    pointer(overlay, "pointermove", 60, 30);
    pointer(overlay, "pointermove", 80, 40);
    expect(model.sent).toHaveLength(2); // one request in flight: the moves wait
    model.reply(model.sent[1], { seq: 2 });
    expect(model.sent).toHaveLength(3); // then only the newest state goes out
    expect(lastState(model).ops[0].points).toEqual([[10, 10], [20, 10], [30, 15], [40, 20]]);
    pointer(overlay, "pointerup", 80, 40);
    model.reply(model.sent[2], { seq: 3 });
    expect(model.sent).toHaveLength(3); // release changes nothing: no extra request
    const labels = el.querySelector(".lw-collage").lwCollage.labels();
    expect(labels[10 * 64 + 10]).toBe(1);
    expect(labels[60 * 64 + 60]).toBe(UNKNOWN);
  });

  it("erases on the collage or in erase mode, and drags rectangles", async () => {
    const { model, el } = mount();
    await flush();
    pointer(el.querySelector(".lw-collage-image"), "pointerdown", 10, 10);
    pointer(el.querySelector(".lw-collage-image"), "pointerup", 10, 10);
    expect(lastState(model).ops[0].source).toBe(null);
    model.reply(model.sent[1], { seq: 2 });
    el.querySelector(".lw-tool[data-tool=rect]").click();
    expect(model.get("tool")).toBe("rect");
    el.querySelector(".lw-mode").click();
    expect(model.get("mode")).toBe("erase");
    const overlay = el.querySelectorAll(".lw-source-overlay")[0];
    pointer(overlay, "pointerdown", 0, 0);
    model.reply(model.sent[2], { seq: 3 });
    pointer(overlay, "pointermove", 64, 32);
    pointer(overlay, "pointerup", 64, 32);
    expect(lastState(model).ops[1]).toEqual({ tool: "rect", source: null, x0: 0, y0: 0, x1: 32, y1: 16 });
  });

  it("undo drops the last operation, clear all; take all and new sample ask for them", async () => {
    const { model, el } = mount();
    await flush();
    let seq = 1;
    const answer = () => model.reply(model.sent[model.sent.length - 1], { seq: ++seq });
    el.querySelectorAll(".lw-fill")[0].click();
    expect(lastState(model).ops).toEqual([{ tool: "fill", source: 0 }]);
    answer();
    el.querySelectorAll(".lw-fill")[1].click();
    answer();
    el.querySelector(".lw-undo").click();
    expect(lastState(model).ops).toEqual([{ tool: "fill", source: 0 }]);
    answer();
    el.querySelector(".lw-clear").click();
    expect(lastState(model).ops).toEqual([]);
    answer();
    el.querySelectorAll(".lw-new")[1].click();
    const seeds = lastState(model).seeds;
    expect(seeds[0]).toBe(5);
    expect(seeds[1]).not.toBe(6);
  });

  it("a stroke is one undo step however long it rests; redo puts it back; one undo button", async () => {
    vi.useFakeTimers();
    try {
      const { model, el } = mount();
      let seq = 1;
      const answer = () => model.reply(model.sent[model.sent.length - 1], { seq: ++seq });
      const overlay = el.querySelectorAll(".lw-source-overlay")[0];
      expect(el.querySelectorAll("button.lw-undo")).toHaveLength(1);
      expect(el.querySelector("button.lw-undo").disabled).toBe(true);
      pointer(overlay, "pointerdown", 20, 20);
      answer();
      vi.advanceTimersByTime(2000); // a rest in the middle of the stroke
      pointer(overlay, "pointermove", 60, 20);
      answer();
      pointer(overlay, "pointerup", 60, 20); // (nothing new to ask)
      el.querySelectorAll(".lw-fill")[1].click();
      answer();
      expect(el.querySelector("button.lw-undo").disabled).toBe(false);
      el.querySelector("button.lw-undo").click();
      expect(lastState(model).ops).toEqual([{ tool: "brush", source: 0, radius: 3, points: [[10, 10], [30, 10]] }]);
      answer();
      el.querySelector("button.lw-undo").click(); // the whole stroke, not its first half
      expect(lastState(model).ops).toEqual([]);
      answer();
      expect(el.querySelector(".lw-collage").lwCollage.ops()).toEqual([]);
      el.querySelector("button.lw-redo").click();
      expect(lastState(model).ops).toHaveLength(1);
      expect(el.querySelector(".lw-collage").lwCollage.ops()).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it("reads what a user needs; developer timings only with debug", async () => {
    for (const debug of [false, true]) {
      const { el } = mount({ debug });
      await flush();
      await flush();
      const text = el.querySelector(".lw-readout").textContent;
      expect(text).toContain("0% known \u00b7 0 strokes");
      expect(/\bms\b/.test(text)).toBe(debug);
    }
  });

  it("follows operations set from Python, shows errors and hides them on the next frame", async () => {
    const { model, el, root } = mount();
    await flush();
    model.reply(null, { seq: 2, origin: "python", state: { seeds: [5, 6], ops: [{ tool: "fill", source: 1 }] } });
    await flush();
    expect(root.lwCollage.ops()).toEqual([{ tool: "fill", source: 1 }]);
    expect(root.lwCollage.labels().every((v) => v === 1)).toBe(true);
    el.querySelector(".lw-clear").click();
    model.emit("msg:custom", { type: "lw:error", id: model.sent[model.sent.length - 1].content.id, seq: 3, message: "ValueError: bad" });
    const error = el.querySelector(".lw-error");
    expect(error.hidden).toBe(false);
    expect(error.textContent).toContain("bad");
    el.querySelectorAll(".lw-fill")[0].click(); // the widget keeps working
    model.reply(model.sent[model.sent.length - 1], { seq: 4 });
    await flush();
    expect(error.hidden).toBe(true);
  });

  it("has a truncation slider where the model has one: it asks for it, redraws the sources, is an undo step", async () => {
    const plain = mount();
    expect(plain.el.querySelector("input.lw-truncation")).toBeNull();
    plain.cleanup();
    const { model, el } = mount({ truncation: 1, _front_fields: ["ops", "seeds", "truncation"] }, { ...STATE, truncation: 1 });
    await flush();
    const images = [...el.querySelectorAll(".lw-source-image")];
    const drawn = images.map((c) => c.drawn || 0);
    expect(drawn).toEqual([1, 1]);
    const trunc = el.querySelector("input.lw-truncation");
    trunc.value = "0.5";
    trunc.dispatchEvent(new Event("input"));
    trunc.dispatchEvent(new Event("change"));
    expect(lastState(model)).toEqual({ seeds: [5, 6], ops: [], truncation: 0.5 });
    replyWithSources(model, 2);
    await flush();
    expect(images.map((c) => c.drawn)).toEqual([2, 2]); // the same seeds, truncated: drawn again
    replyWithSources(model, 3); // (the same sources once more, e.g. for another view: not drawn again)
    await flush();
    expect(images.map((c) => c.drawn)).toEqual([2, 2]);
    el.querySelectorAll(".lw-fill")[0].click();
    expect(lastState(model)).toMatchObject({ ops: [{ tool: "fill", source: 0 }], truncation: 0.5 });
    model.reply(model.sent[model.sent.length - 1], { seq: 4 });
    el.querySelector("button.lw-undo").click(); // the fill
    model.reply(model.sent[model.sent.length - 1], { seq: 5 });
    el.querySelector("button.lw-undo").click(); // the truncation
    expect(lastState(model)).toEqual({ seeds: [5, 6], ops: [], truncation: 1 });
    expect(trunc.value).toBe("1");
  });

  it("cleans up its listeners", () => {
    const { model, cleanup } = mount();
    cleanup();
    expect(model.listeners("msg:custom")).toBe(0);
    expect(model.listeners("change:error")).toBe(0);
  });
});
