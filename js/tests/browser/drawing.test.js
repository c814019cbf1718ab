// Drawing in a real Chromium: decoded frames land on the canvas pixel for pixel (raw RGBA) or close
// to it (JPEG), and the explorer's sliders work from the keyboard.
import { describe, expect, it } from "vitest";
import { userEvent } from "vitest/browser";
import { decodeFrame, drawBitmap } from "../../../latentwidgets/widgets/static/transport.js";
import { render } from "../../../latentwidgets/widgets/static/explorer.js";
import { mockModel } from "../mock-model.js";

const flush = () => new Promise((r) => setTimeout(r, 0));

function pattern(w, h) {
  const px = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const i = (y * w + x) * 4;
      px[i] = (x * 37) % 256;
      px[i + 1] = (y * 53) % 256;
      px[i + 2] = (x * y) % 256;
      px[i + 3] = 255;
    }
  }
  return px;
}

function pixels(canvas) {
  return canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
}

async function jpegOf(px, w, h) {
  const c = new OffscreenCanvas(w, h);
  c.getContext("2d").putImageData(new ImageData(new Uint8ClampedArray(px), w, h), 0, 0);
  const blob = await c.convertToBlob({ type: "image/jpeg", quality: 0.95 });
  return new Uint8Array(await blob.arrayBuffer());
}

describe("frames on a canvas", () => {
  it("draws a raw RGBA frame exactly, from a DataView with an offset", async () => {
    const w = 13, h = 7;
    const px = pattern(w, h);
    const padded = new Uint8Array(px.length + 8);
    padded.set(px, 8);
    const bitmap = await decodeFrame({ width: w, height: h, format: "raw" }, new DataView(padded.buffer, 8, px.length));
    const canvas = document.createElement("canvas");
    drawBitmap(canvas, bitmap);
    expect([canvas.width, canvas.height]).toEqual([w, h]);
    expect(Array.from(pixels(canvas))).toEqual(Array.from(px));
  });

  it("draws a JPEG frame close to its source", async () => {
    const w = 32, h = 32;
    const px = new Uint8Array(w * h * 4);
    for (let i = 0; i < w * h; i++) px.set([200, 60 + (i % 32) * 2, 30, 255], i * 4);
    const jpeg = await jpegOf(px, w, h);
    const canvas = document.createElement("canvas");
    drawBitmap(canvas, await decodeFrame({ width: w, height: h, format: "jpeg" }, jpeg));
    const got = pixels(canvas);
    let err = 0;
    for (let i = 0; i < got.length; i += 4) err += Math.abs(got[i] - px[i]) + Math.abs(got[i + 1] - px[i + 1]) + Math.abs(got[i + 2] - px[i + 2]);
    expect(err / (w * h * 3)).toBeLessThan(4);
  });

  it("rejects a raw frame of the wrong size", () => {
    expect(() => decodeFrame({ width: 4, height: 4, format: "raw" }, new Uint8Array(10))).toThrow(/needs 64 bytes/);
  });
});

describe("explorer in the page", () => {
  const controls = [{ name: "pca 0", unit: "\u03c3", calibrated: false, min: -3, max: 3, step: 0.25, default: 0 }];

  it("shows each sample's pixels and answers the keyboard", async () => {
    const model = mockModel({ controls, strengths: [0], seed: 0, show_original: false, display_size: 96, _uid: "b1" });
    const el = document.createElement("div");
    document.body.append(el);
    const cleanup = render({ model, el });
    const w = 8, h = 8;
    const a = pattern(w, h);
    const b = pattern(w, h).map((v, i) => (i % 4 === 3 ? 255 : 255 - v));
    const meta = { width: w, height: h, format: "raw" };
    model.reply(model.sent[0], {
      seq: 1, state: { strengths: [0], seed: 0, n: 2, show_original: false },
      frames: [meta, meta], buffers: [new DataView(a.buffer), new DataView(b.buffer)],
    });
    await new Promise((r) => el.addEventListener("lw-frame", r, { once: true }));
    const canvases = el.querySelectorAll("canvas");
    expect(canvases).toHaveLength(2);
    expect(Array.from(pixels(canvases[0]))).toEqual(Array.from(a));
    expect(Array.from(pixels(canvases[1]))).toEqual(Array.from(b));
    expect(canvases[0].getBoundingClientRect().width).toBeCloseTo(96, 0);

    const slider = el.querySelector("input[type=range]");
    slider.focus();
    await userEvent.keyboard("{ArrowRight}");
    await flush();
    expect(model.sent.at(-1).content.state.strengths).toEqual([0.25]);
    expect(el.querySelector("output").textContent).toContain("0.25");
    cleanup();
    el.remove();
  });
});
