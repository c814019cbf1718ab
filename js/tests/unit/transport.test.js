// Flow control of the shared frame transport: at most one request in flight, the latest value wins,
// no backlog, errors and lost replies do not stall it.
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createTransport, decodeFrame, pageTime, sameState, toBytes } from "../../../latentwidgets/widgets/static/transport.js";
import { mockModel } from "../mock-model.js";

const fakeDecode = async (meta) => ({ width: meta.width, height: meta.height, close() {} });
const flush = () => new Promise((r) => setTimeout(r, 0));

function setup(opts = {}) {
  const model = mockModel();
  const frames = [];
  const errors = [];
  const states = [];
  const tr = createTransport(model, {
    decode: fakeDecode,
    onFrame: (f) => frames.push(f),
    onError: (m) => errors.push(m),
    onState: (s) => states.push(s),
    ...opts,
  });
  return { model, tr, frames, errors, states };
}

describe("createTransport", () => {
  it("sends the first request at once and holds later ones while it is in flight", () => {
    const { model, tr } = setup();
    tr.request({ v: 1 });
    expect(model.sent).toHaveLength(1);
    expect(model.sent[0].content).toMatchObject({ type: "lw:request", state: { v: 1 } });
    tr.request({ v: 2 });
    tr.request({ v: 3 });
    expect(model.sent).toHaveLength(1);
    expect(tr.busy).toBe(true);
    expect(tr.pending).toBe(true);
  });

  it("sends only the newest value when the frame lands (no backlog however fast the input)", async () => {
    const { model, tr, frames } = setup();
    tr.request({ v: 0 });
    for (let i = 1; i <= 500; i++) tr.request({ v: i });
    expect(model.sent).toHaveLength(1);
    model.reply(model.sent[0], { seq: 1 });
    expect(model.sent).toHaveLength(2);
    expect(model.sent[1].content.state).toEqual({ v: 500 });
    model.reply(model.sent[1], { seq: 2 });
    await flush();
    expect(model.sent).toHaveLength(2); // nothing newer: nothing sent
    expect(frames.map((f) => f.msg.state.v)).toEqual([0, 500]);
    expect(tr.busy).toBe(false);
  });

  it("says since when its request has been in flight (the busy indicator's clock)", () => {
    let clock = 10;
    const { model, tr } = setup({ now: () => clock });
    expect(tr.busySince).toBeNull();
    tr.request({ v: 1 });
    clock = 50;
    tr.request({ v: 2 }); // held: the one in flight still counts from 10
    expect(tr.busySince).toBe(10);
    model.reply(model.sent[0], { seq: 1 }); // lands; the held one leaves now
    expect(tr.busySince).toBe(50);
    model.reply(model.sent[1], { seq: 2 });
    expect(tr.busySince).toBeNull();
  });

  it("does not resend a value equal to the one in flight", () => {
    const { model, tr } = setup();
    tr.request({ v: 1 });
    tr.request({ v: 2 });
    tr.request({ v: 1 });
    model.reply(model.sent[0], { seq: 1 });
    expect(model.sent).toHaveLength(1);
  });

  it("ignores a request equal to the last one sent when idle", () => {
    const { model, tr } = setup();
    tr.request({ v: 1 });
    model.reply(model.sent[0], { seq: 1 });
    tr.request({ v: 1 });
    expect(model.sent).toHaveLength(1);
    tr.request({ v: 2 });
    expect(model.sent).toHaveLength(2);
  });

  it("draws frames in order and drops a frame older than one already drawn", async () => {
    const { model, tr, frames } = setup();
    tr.request({ v: 1 });
    model.reply(null, { seq: 5, origin: "python", state: { v: 9 } });
    model.reply(model.sent[0], { seq: 4 });
    await flush();
    expect(frames.map((f) => f.msg.seq)).toEqual([5]);
    expect(tr.stats.dropped).toBe(1);
  });

  it("follows a state set from Python and does not send it back", async () => {
    const { model, tr, states } = setup();
    tr.request({ v: 1 });
    model.reply(model.sent[0], { seq: 1 });
    model.reply(null, { seq: 2, origin: "python", state: { v: 7 } });
    expect(states).toEqual([{ v: 7 }]);
    expect(tr.latest).toEqual({ v: 7 });
    tr.request({ v: 7 });
    expect(model.sent).toHaveLength(1);
  });

  it("reports an error reply, stays usable, and does not retry the failed value", async () => {
    const { model, tr, errors } = setup();
    tr.request({ v: 1 });
    tr.request({ v: 2 });
    model.emit("msg:custom", { type: "lw:error", id: model.sent[0].content.id, seq: 1, message: "ValueError: boom" }, []);
    expect(errors).toEqual(["ValueError: boom"]);
    expect(model.sent).toHaveLength(2); // the newer value goes out
    model.emit("msg:custom", { type: "lw:error", id: model.sent[1].content.id, seq: 2, message: "ValueError: boom" }, []);
    expect(model.sent).toHaveLength(2); // v=2 failed: not retried by itself
    tr.request({ v: 3 });
    expect(model.sent).toHaveLength(3);
  });

  describe("lost replies", () => {
    beforeEach(() => vi.useFakeTimers());
    afterEach(() => vi.useRealTimers());
    it("gives up on a reply that never comes and sends the newest value again", () => {
      const { model, tr } = setup({ timeoutMs: 1000 });
      tr.request({ v: 1 });
      vi.advanceTimersByTime(999);
      expect(model.sent).toHaveLength(1);
      vi.advanceTimersByTime(2);
      expect(model.sent).toHaveLength(2);
      expect(model.sent[1].content.state).toEqual({ v: 1 });
      expect(tr.stats.timeouts).toBe(1);
    });
  });

  it("sync() asks for Python's state and adopts it", async () => {
    const { model, tr, states, frames } = setup();
    tr.sync();
    expect(model.sent[0].content.state).toBeNull();
    model.reply(model.sent[0], { seq: 3, state: { v: 4 } });
    await flush();
    expect(states).toEqual([{ v: 4 }]);
    expect(frames).toHaveLength(1);
    tr.request({ v: 4 });
    expect(model.sent).toHaveLength(1);
  });

  it("passes the requested format and the send time of the answered request", async () => {
    let t = 100;
    const { model, tr, frames } = setup({ format: "jpeg", now: () => t });
    tr.request({ v: 1 });
    expect(model.sent[0].content.format).toBe("jpeg");
    t = 130;
    model.reply(model.sent[0], { seq: 1 });
    await flush();
    expect(frames[0]).toMatchObject({ sentAt: 100, receivedAt: 130, own: true });
  });

  it("sends the newest value as soon as a frame arrives, before that frame is decoded or drawn", async () => {
    let release;
    const slow = () => new Promise((r) => { release = () => r({ width: 1, height: 1, close() {} }); });
    const { model, tr, frames } = setup({ decode: slow });
    tr.request({ v: 1 });
    tr.request({ v: 2 });
    model.reply(model.sent[0], { seq: 1 });
    expect(model.sent).toHaveLength(2); // out while frame 1 is still decoding
    expect(model.sent[1].content.state).toEqual({ v: 2 });
    expect(frames).toHaveLength(0);
    release();
    await flush();
    expect(frames).toHaveLength(1);
  });

  it("gives each frame its timeline: sent, received, decoded", async () => {
    let t = 10;
    const { model, tr, frames } = setup({ now: () => t });
    tr.request({ v: 1 });
    t = 25;
    model.reply(model.sent[0], { seq: 1 });
    t = 27;
    await flush();
    expect(frames[0]).toMatchObject({ sentAt: 10, receivedAt: 25 });
    expect(frames[0].decodedAt).toBeGreaterThanOrEqual(25);
  });

  it("reports a frame that cannot be decoded and keeps going", async () => {
    const { model, tr, errors } = setup({ decode: async () => { throw new Error("bad jpeg"); } });
    tr.request({ v: 1 });
    model.reply(model.sent[0], { seq: 1 });
    await flush();
    expect(errors[0]).toMatch(/bad jpeg/);
    tr.request({ v: 2 });
    expect(model.sent).toHaveLength(2);
  });

  it("dispose() removes its message handler", () => {
    const { model, tr } = setup();
    expect(model.listeners("msg:custom")).toBe(1);
    tr.dispose();
    expect(model.listeners("msg:custom")).toBe(0);
    tr.request({ v: 1 });
    expect(model.sent).toHaveLength(0);
  });
});

describe("helpers", () => {
  it("decodes a raw frame synchronously into an ImageData over the message's own bytes", () => {
    const bytes = new Uint8Array(2 + 2 * 1 * 4);
    const img = decodeFrame({ width: 2, height: 1, format: "raw" }, new DataView(bytes.buffer, 2, 8));
    expect(img).toBeInstanceOf(ImageData);
    expect(img.data.buffer).toBe(bytes.buffer);
    expect(() => decodeFrame({ width: 3, height: 1, format: "raw" }, new DataView(bytes.buffer, 2, 8))).toThrow(/needs 12 bytes/);
  });
  it("pageTime puts a kernel wall-clock time on the page clock", () => {
    expect(pageTime(performance.timeOrigin + 42)).toBeCloseTo(42, 3);
    expect(pageTime(null)).toBeNull();
  });
  it("toBytes keeps the byte offset of a DataView", () => {
    const buf = new Uint8Array([9, 9, 1, 2, 3]).buffer;
    expect(Array.from(toBytes(new DataView(buf, 2, 3)))).toEqual([1, 2, 3]);
    expect(Array.from(toBytes(buf))).toHaveLength(5);
  });
  it("sameState compares by value", () => {
    expect(sameState({ a: [1, 2] }, { a: [1, 2] })).toBe(true);
    expect(sameState({ a: [1, 2] }, { a: [1, 3] })).toBe(false);
  });
});
