// A stand-in for anywidget's model: get/set/on/off/send, and `emit` to play the kernel.
export function mockModel(attrs = {}) {
  const values = { ...attrs };
  const handlers = new Map();
  const sent = [];
  return {
    sent,
    get: (k) => values[k],
    set: (k, v) => {
      values[k] = v;
    },
    save_changes() {},
    send(content, callbacks, buffers) {
      sent.push({ content: JSON.parse(JSON.stringify(content)), buffers });
    },
    on(name, fn) {
      if (!handlers.has(name)) handlers.set(name, new Set());
      handlers.get(name).add(fn);
    },
    off(name, fn) {
      if (handlers.has(name)) handlers.get(name).delete(fn);
    },
    emit(name, ...args) {
      for (const fn of handlers.get(name) || []) fn(...args);
    },
    listeners(name) {
      return (handlers.get(name) || new Set()).size;
    },
    /** Reply to a request like the kernel would: a frame of `state` with raw RGBA buffers. */
    reply(request, { state, seq, frames, buffers, origin = "front" } = {}) {
      const msg = {
        type: "lw:frame",
        id: request ? request.content.id : null,
        seq,
        origin,
        state: state ?? (request ? request.content.state : null),
        frames: frames ?? [{ width: 1, height: 1, format: "raw" }],
        timing: { compute_ms: 1, encode_ms: 0, bytes: 4 },
      };
      this.emit("msg:custom", msg, buffers ?? [new DataView(new Uint8Array([1, 2, 3, 255]).buffer)]);
      return msg;
    },
  };
}
