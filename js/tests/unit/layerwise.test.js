// LayerwiseEditor view logic in happy-dom: range clamping, labels, and the requests the controls send.
import { describe, expect, it } from "vitest";
import { clampRange, rangeLabel, render } from "../../../latentwidgets/widgets/static/layerwise.js";
import { mockModel } from "../mock-model.js";

const groups = { coarse: [0, 4], middle: [4, 8], fine: [8, 10] };

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
  it("names presets", () => {
    expect(rangeLabel([8, 10], groups)).toBe("fine 8-10");
    expect(rangeLabel([2, 5], groups)).toBe("layers 2-5");
    expect(rangeLabel([0, 10], groups)).toBe("all 0-10");
  });
});

describe("render", () => {
  function setup() {
    const model = mockModel({
      controls: { names: ["<b>a</b>", "b"], num_layers: 10, layered: true, groups, min: -3, max: 3, step: 0.05 },
      stack: [{ direction: 0, strength: 2, layers: [0, 4] }], selected: 0, seed: 0,
      strip: [[0, 4], [4, 8], [8, 10], [0, 10]], _uid: "u", title: "t", _front_fields: ["seed", "selected", "stack", "strip"],
    });
    const el = document.createElement("div");
    const cleanup = render({ model, el });
    return { model, el, cleanup };
  }

  it("a preset click asks for the selected edit over that range; names are text, not markup", () => {
    const { model, el, cleanup } = setup();
    expect(model.sent[0].content.state).toBe(null); // sync
    expect(el.querySelector(".lw-pick").textContent).toContain("<b>a</b>");
    expect(el.querySelector(".lw-stack b")).toBe(null);
    const py = { stack: [{ direction: 0, strength: 2, layers: [0, 4] }], selected: 0, seed: 0, strip: [[0, 4]], n: 1 };
    model.emit("msg:custom", { type: "lw:frame", id: model.sent[0].content.id, seq: 1, state: py, frames: [] }, []);
    el.querySelector(".lw-preset-fine").click();
    const last = model.sent[model.sent.length - 1].content;
    expect(last.type).toBe("lw:request");
    expect(last.state.stack[0].layers).toEqual([8, 10]);
    expect(Object.keys(last.state).sort()).toEqual(["seed", "selected", "stack", "strip"]); // not n
    expect(el.querySelector(".lw-range-value").textContent).toBe("fine 8-10");
    cleanup();
  });
});
