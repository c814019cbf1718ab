// LayerwiseEditor view logic in happy-dom: range clamping, inclusive labels, the two-handle layer range
// (fill, keyboard, aria), presets, view modes, and the requests the controls send.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { clampRange, layerRangeControl, layersText, rangeLabel, render } from "../../../latentwidgets/widgets/static/layerwise.js";
import { mockModel } from "../mock-model.js";

const groups = { coarse: [0, 4], middle: [4, 8], fine: [8, 10] };

let restore;
beforeEach(() => {
  const orig = { cib: globalThis.createImageBitmap, ctx: HTMLCanvasElement.prototype.getContext };
  globalThis.createImageBitmap = async (src) => ({ width: src.width ?? 1, height: src.height ?? 1, close() {} });
  HTMLCanvasElement.prototype.getContext = () => ({ drawImage() {}, putImageData() {} });
  restore = () => {
    globalThis.createImageBitmap = orig.cib;
    HTMLCanvasElement.prototype.getContext = orig.ctx;
  };
});
afterEach(() => restore());

const flush = () => new Promise((r) => setTimeout(r, 0));
const key = (el, k, extra = {}) => el.dispatchEvent(new KeyboardEvent("keydown", { key: k, bubbles: true, cancelable: true, ...extra }));

describe("clampRange", () => {
  it("keeps 0 <= start < end <= L, moving the other handle", () => {
    expect(clampRange(3, 7, 10)).toEqual([3, 7]);
    expect(clampRange(7, 7, 10, "start")).toEqual([7, 8]);
    expect(clampRange(7, 7, 10, "end")).toEqual([6, 7]);
    expect(clampRange(-2, 40, 10)).toEqual([0, 10]);
    expect(clampRange(9, 0, 10, "end")).toEqual([0, 1]);
  });
});

describe("rangeLabel", () => {
  it("reads half-open ranges inclusively and names presets", () => {
    expect(layersText([8, 10])).toBe("layers 8-9");
    expect(layersText([3, 4])).toBe("layer 3");
    expect(rangeLabel([8, 10], groups)).toBe("fine: layers 8-9");
    expect(rangeLabel([2, 5], groups)).toBe("layers 2-4");
    expect(rangeLabel([0, 10], groups)).toBe("all: layers 0-9");
    expect(rangeLabel([0, 12], { coarse: [0, 4], middle: [4, 8], fine: [8, 12] }, 12)).toBe("all: layers 0-11");
  });
});

describe("layerRangeControl", () => {
  function setup(range = [8, 10]) {
    const changes = [];
    const ctl = layerRangeControl({ L: 10, groups, onChange: (r) => changes.push(r) });
    document.body.append(ctl.el);
    ctl.show(range);
    const filled = () => [...ctl.el.querySelectorAll(".lw-layer.lw-in")].map((c) => Number(c.dataset.layer));
    return { ctl, changes, filled, first: ctl.handles[0], last: ctl.handles[1] };
  }

  it("fills exactly the chosen layers, with a handle at each end of the fill", () => {
    const { ctl, filled, first, last } = setup([8, 10]);
    expect(ctl.el.querySelectorAll(".lw-layer")).toHaveLength(10);
    expect(filled()).toEqual([8, 9]); // not 0-8
    expect(first.style.left).toBe("80%");
    expect(last.style.left).toBe("100%");
    expect(first.getAttribute("role")).toBe("slider");
    expect([first.getAttribute("aria-valuenow"), last.getAttribute("aria-valuenow")]).toEqual(["8", "9"]);
    expect(last.getAttribute("aria-valuetext")).toBe("to layer 9");
    expect([first.getAttribute("aria-valuemin"), first.getAttribute("aria-valuemax")]).toEqual(["0", "9"]);
    expect(ctl.el.querySelector(".lw-group-fine").textContent).toBe("fine");
  });

  it("moves each handle by keyboard, one layer per arrow, pushing the other along", () => {
    const { changes, filled, first, last } = setup([4, 8]);
    key(first, "ArrowRight");
    expect(changes.at(-1)).toEqual([5, 8]);
    key(last, "ArrowLeft");
    expect(changes.at(-1)).toEqual([5, 7]);
    expect(filled()).toEqual([5, 6]);
    key(first, "End"); // past the last handle: a single layer, 9
    expect(changes.at(-1)).toEqual([9, 10]);
    expect(last.getAttribute("aria-valuenow")).toBe("9");
    key(last, "Home");
    expect(changes.at(-1)).toEqual([0, 1]);
    const n = changes.length;
    key(first, "ArrowLeft"); // at the end already: no change, no request
    expect(changes).toHaveLength(n);
  });

  it("has no usable handles while no edit is selected", () => {
    const { ctl, filled, first, changes } = setup(null);
    expect(filled()).toEqual([]);
    expect(first.getAttribute("aria-disabled")).toBe("true");
    key(first, "ArrowRight");
    expect(changes).toEqual([]);
    ctl.show([0, 4]);
    expect(first.tabIndex).toBe(0);
  });
});

describe("render", () => {
  function setup(extra = {}) {
    const model = mockModel({
      controls: { names: ["<b>a</b>", "b"], num_layers: 10, layered: true, groups, min: -3, max: 3, step: 0.05 },
      stack: [{ direction: 0, strength: 2, layers: [0, 4] }], selected: 0, seed: 0, view_mode: "edited",
      strip: [[0, 4], [4, 8], [8, 10], [0, 10]], _uid: "u", title: "t",
      _front_fields: ["seed", "selected", "stack", "strip", "view_mode"], ...extra,
    });
    const el = document.createElement("div");
    document.body.append(el);
    const cleanup = render({ model, el });
    const py = { stack: [{ direction: 0, strength: 2, layers: [0, 4] }], selected: 0, seed: 0, strip: [[0, 4]], n: 1, view_mode: "edited" };
    model.reply(model.sent[0], { seq: 1, state: py, frames: [], buffers: [] });
    const last = () => model.sent[model.sent.length - 1].content;
    return { model, el, cleanup, last };
  }

  it("a preset click asks for the selected edit over that range and shows it pressed; names are text", () => {
    const { model, el, cleanup, last } = setup();
    expect(model.sent[0].content.state).toBe(null); // sync
    expect(el.querySelector(".lw-pick").textContent).toContain("<b>a</b>");
    expect(el.querySelector(".lw-stack b")).toBe(null);
    expect(el.querySelector(".lw-pick").textContent).toContain("coarse: layers 0-3");
    el.querySelector(".lw-preset-fine").click();
    expect(last().type).toBe("lw:request");
    expect(last().state.stack[0].layers).toEqual([8, 10]);
    expect(Object.keys(last().state).sort()).toEqual(["seed", "selected", "stack", "strip", "view_mode"]); // not n
    expect(el.querySelector(".lw-range-value").textContent).toBe("fine: layers 8-9");
    const pressed = [...el.querySelectorAll(".lw-preset")].filter((b) => b.getAttribute("aria-pressed") === "true");
    expect(pressed.map((b) => b.dataset.preset)).toEqual(["fine"]);
    expect([...el.querySelectorAll(".lw-layer.lw-in")].map((c) => c.dataset.layer)).toEqual(["8", "9"]);
    cleanup();
  });

  it("the layer handles' keys ask for the new range", async () => {
    const { model, el, cleanup, last } = setup();
    await flush();
    key(el.querySelector(".lw-handle-last"), "ArrowRight");
    expect(last().state.stack[0].layers).toEqual([0, 5]);
    expect(el.querySelector(".lw-range-value").textContent).toBe("layers 0-4");
    expect(model.sent.length).toBe(2);
    cleanup();
  });

  it("Arrow keys step the strength 0.1 sigma, Shift+Arrow 1 sigma", async () => {
    const { model, el, cleanup, last } = setup();
    await flush();
    const strength = el.querySelector(".lw-strength");
    key(strength, "ArrowRight");
    expect(last().state.stack[0].strength).toBeCloseTo(2.1, 6);
    model.reply(model.sent[model.sent.length - 1], { seq: 2, frames: [], buffers: [] });
    key(strength, "ArrowLeft", { shiftKey: true });
    expect(last().state.stack[0].strength).toBeCloseTo(1.1, 6);
    cleanup();
  });

  it("side by side lays out each sample without edits, then with the stack", async () => {
    const { model, el, cleanup, last } = setup();
    el.querySelector('.lw-mode[data-mode="side by side"]').click();
    expect(last().state.view_mode).toBe("side by side");
    expect(el.querySelector('.lw-mode[data-mode="side by side"]').getAttribute("aria-pressed")).toBe("true");
    const raw = () => new DataView(new Uint8Array([1, 2, 3, 255]).buffer);
    const state = { stack: [{ direction: 0, strength: 2, layers: [0, 4] }], selected: 0, seed: 0, strip: [[0, 4]], n: 2, view_mode: "side by side" };
    const frames = Array.from({ length: 5 }, () => ({ width: 1, height: 1, format: "raw" }));
    model.reply(model.sent[model.sent.length - 1], { seq: 2, state, frames, buffers: frames.map(raw) });
    await flush();
    await flush();
    const canvases = [...el.querySelectorAll(".lw-grid canvas")];
    expect(canvases.map((c) => c.className)).toEqual(["lw-canvas lw-original", "lw-canvas lw-edited", "lw-canvas lw-original", "lw-canvas lw-edited"]);
    expect([...el.querySelectorAll(".lw-grid figcaption")].map((f) => f.textContent)).toEqual(["no edits", "stack", "no edits", "stack"]);
    expect(el.querySelectorAll(".lw-strip canvas")).toHaveLength(1);
    cleanup();
  });

  it("renames the selected edit's direction: Enter asks Python, Escape keeps the old name", () => {
    const { model, el, cleanup } = setup();
    el.querySelector(".lw-rename-direction").click();
    const box = el.querySelector("input.lw-rename");
    expect(box.value).toBe("<b>a</b>");
    expect(el.querySelector(".lw-direction")).toBe(null); // the box stands in for the list
    box.value = " pose ";
    key(box, "Enter");
    expect(model.sent.at(-1).content).toEqual({ type: "lw:rename", index: 0, name: "pose" });
    expect(el.querySelector(".lw-direction")).not.toBe(null);
    const n = model.sent.length;
    el.querySelector(".lw-rename-direction").click();
    el.querySelector("input.lw-rename").value = "other";
    key(el.querySelector("input.lw-rename"), "Escape");
    expect(model.sent).toHaveLength(n);
    cleanup();
  });

  it("undo and redo step back through the stack, not through the view mode", async () => {
    const { model, el, cleanup, last } = setup();
    await flush();
    let seq = 1;
    const answer = () => model.reply(model.sent[model.sent.length - 1], { seq: ++seq, frames: [], buffers: [] });
    el.querySelector(".lw-preset-fine").click();
    answer();
    el.querySelector('.lw-mode[data-mode="original"]').click();
    answer();
    el.querySelector(".lw-undo").click();
    expect(last().state.stack[0].layers).toEqual([0, 4]);
    expect(last().state.view_mode).toBe("original");
    expect(el.querySelector(".lw-range-value").textContent).toBe("coarse: layers 0-3");
    answer();
    el.querySelector(".lw-redo").click();
    expect(last().state.stack[0].layers).toEqual([8, 10]);
    cleanup();
  });

  it("shows renamed directions when Python sends new names", () => {
    const { model, el, cleanup } = setup();
    model.set("controls", { ...model.get("controls"), names: ["pose", "b"] });
    model.emit("change:controls");
    expect(el.querySelector(".lw-pick").textContent).toContain("pose");
    expect(el.querySelector(".lw-direction option").textContent).toBe("pose");
    cleanup();
  });
});
