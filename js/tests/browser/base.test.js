// base.js's PNG download in a real Chromium: the composite of a widget's canvases is what they show,
// scaled pixel for pixel (no smoothing) with a gap between them, and the downloaded file is that PNG.
import { describe, expect, it } from "vitest";
import { compositeCanvas, downloadPng } from "../../../latentwidgets/widgets/static/base.js";

function solid(rgb, size = 2) {
  const c = document.createElement("canvas");
  c.width = c.height = size;
  const ctx = c.getContext("2d");
  ctx.fillStyle = `rgb(${rgb.join(",")})`;
  ctx.fillRect(0, 0, size, size);
  ctx.fillStyle = "rgb(0,0,0)";
  ctx.fillRect(0, 0, 1, 1); // one dark pixel in the corner: scaling must keep it a block
  return c;
}

const at = (canvas, x, y) => Array.from(canvas.getContext("2d").getImageData(x, y, 1, 1).data.slice(0, 3));

describe("PNG of the frame", () => {
  it("composites canvases in a grid at the asked size, pixelated, with a gap", () => {
    const out = compositeCanvas([solid([200, 10, 10]), solid([10, 200, 10]), solid([10, 10, 200])],
      { columns: 2, size: 8, gap: 2 });
    expect([out.width, out.height]).toEqual([18, 18]);
    expect(at(out, 0, 0)).toEqual([0, 0, 0]);
    expect(at(out, 3, 3)).toEqual([0, 0, 0]); // the corner pixel is a 4x4 block, not a blur
    expect(at(out, 4, 4)).toEqual([200, 10, 10]);
    expect(at(out, 8, 5)).toEqual([255, 255, 255]); // the gap
    expect(at(out, 15, 5)).toEqual([10, 200, 10]);
    expect(at(out, 5, 15)).toEqual([10, 10, 200]);
    expect(at(out, 15, 15)).toEqual([255, 255, 255]); // no fourth canvas
  });

  it("downloads the canvas as a PNG file with the given name", async () => {
    const canvas = compositeCanvas([solid([20, 120, 220], 4)], { size: 4 });
    const clicked = [];
    const orig = HTMLAnchorElement.prototype.click;
    HTMLAnchorElement.prototype.click = function click() {
      clicked.push({ href: this.href, download: this.download });
    };
    try {
      const blob = await downloadPng(canvas, "explorer.png");
      expect(clicked).toHaveLength(1);
      expect(clicked[0].download).toBe("explorer.png");
      expect(clicked[0].href).toMatch(/^blob:/);
      expect(blob.type).toBe("image/png");
      const back = document.createElement("canvas");
      const bitmap = await createImageBitmap(blob);
      back.width = bitmap.width;
      back.height = bitmap.height;
      back.getContext("2d").drawImage(bitmap, 0, 0);
      expect([back.width, back.height]).toEqual([4, 4]);
      expect(at(back, 0, 0)).toEqual([0, 0, 0]);
      expect(at(back, 3, 3)).toEqual([20, 120, 220]);
    } finally {
      HTMLAnchorElement.prototype.click = orig;
    }
  });
});
