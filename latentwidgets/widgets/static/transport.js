// Frame transport shared by every latentwidgets widget (the browser half of widgets/transport.py).
//
// A widget view calls `request(state)` on every input event. At most one request is in flight; while
// one is, only the newest state is kept, and when a frame lands the newest state is sent if it
// differs from what was last sent. No backlog can form however fast the user drags. Frames arrive as
// binary buffers (raw RGBA or JPEG), are decoded (raw: an ImageData over the message's own bytes, no
// copy and no async hop; JPEG: createImageBitmap) and drawn in order; stale frames (older than one
// already drawn) are dropped. The next request leaves as soon as a frame *arrives*, before it is
// decoded and drawn, so the kernel computes the next frame while this one is being drawn.
// Every frame carries its timeline (page clock, ms): sentAt, receivedAt, decodedAt, and the kernel's
// kernelIn / kernelOut (converted from the kernel's wall clock, see `pageTime`).
//
//   const tr = createTransport(model, { onFrame, onError, onState });
//   tr.sync();                 // ask Python for its current state and frame (a new view)
//   slider.oninput = () => tr.request({ strengths });
//   ...
//   tr.dispose();              // in the view's cleanup

export const DEFAULT_TIMEOUT_MS = 15000;

/** True when two JSON-able states are equal. */
export function sameState(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** A Uint8Array over a message buffer (DataView, ArrayBuffer or typed array), keeping byteOffset. */
export function toBytes(buf) {
  if (buf instanceof Uint8Array) return buf;
  if (ArrayBuffer.isView(buf)) return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  if (buf instanceof ArrayBuffer) return new Uint8Array(buf);
  throw new TypeError(`frame buffer of unexpected type ${Object.prototype.toString.call(buf)}`);
}

/**
 * Decode one frame ({width, height, format}) from its buffer: an ImageData for raw RGBA (a view of
 * the message's bytes, returned synchronously), a Promise of an ImageBitmap for JPEG.
 */
export function decodeFrame(meta, buf) {
  const bytes = toBytes(buf);
  if (meta.format === "raw") {
    const need = meta.width * meta.height * 4;
    if (bytes.byteLength !== need) {
      throw new Error(`raw frame of ${meta.width}x${meta.height} needs ${need} bytes, got ${bytes.byteLength}`);
    }
    const pixels = new Uint8ClampedArray(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return new ImageData(pixels, meta.width, meta.height);
  }
  if (meta.format === "jpeg") {
    return createImageBitmap(new Blob([bytes], { type: "image/jpeg" }));
  }
  throw new Error(`unknown frame format ${meta.format}`);
}

/**
 * Draw a decoded frame (ImageData or ImageBitmap) into a canvas at its own resolution (CSS scales
 * it); a bitmap is released after drawing.
 */
export function drawBitmap(canvas, image) {
  if (canvas.width !== image.width) canvas.width = image.width;
  if (canvas.height !== image.height) canvas.height = image.height;
  const ctx = canvas.getContext("2d");
  if (typeof ImageData !== "undefined" && image instanceof ImageData) {
    ctx.putImageData(image, 0, 0);
    return;
  }
  ctx.drawImage(image, 0, 0);
  if (typeof image.close === "function") image.close();
}

/** A kernel wall-clock time (ms since the epoch) on the page's performance.now() clock. */
export function pageTime(epochMs) {
  if (typeof epochMs !== "number" || typeof performance === "undefined" || !performance.timeOrigin) return null;
  return epochMs - performance.timeOrigin;
}

function randomToken() {
  return Math.random().toString(36).slice(2, 10);
}

/**
 * Create the transport of one view.
 *
 * options:
 *   onFrame({ msg, bitmaps, sentAt, receivedAt, decodedAt, own })
 *                                                       draw the decoded frame (in order); bitmaps
 *                                                       are ImageData or ImageBitmap (drawBitmap)
 *   onError(message, msg)                               show an error reply
 *   onState(state, msg)                                 the state changed elsewhere (Python, another view)
 *   format: "auto" | "raw" | "jpeg"                     asked of Python with every request
 *   timeoutMs                                           give up on a lost reply after this long
 *   decode(meta, buf)                                   replaces decodeFrame (tests)
 *   now()                                               clock (default performance.now)
 */
export function createTransport(model, options = {}) {
  const {
    onFrame = () => {},
    onError = () => {},
    onState = () => {},
    format = undefined,
    timeoutMs = DEFAULT_TIMEOUT_MS,
    decode = decodeFrame,
    now = () => performance.now(),
  } = options;
  const token = randomToken();
  let counter = 0;
  let inFlight = null; // { id, state, sentAt, timer }
  let latest; // newest wanted state (undefined: nothing asked yet)
  let lastSent; // state of the last request sent, or the last state received from elsewhere
  let lastSeq = 0; // highest frame seq handed to onFrame
  let chain = Promise.resolve();
  let disposed = false;
  const stats = { sent: 0, frames: 0, dropped: 0, errors: 0, timeouts: 0 };

  function send(state) {
    const id = `${token}:${++counter}`;
    const sentAt = now();
    const timer = timeoutMs > 0 ? setTimeout(() => onTimeout(id), timeoutMs) : null;
    inFlight = { id, state, sentAt, timer };
    if (state !== null) lastSent = state;
    stats.sent += 1;
    const content = { type: "lw:request", id, state };
    if (format) content.format = format;
    model.send(content);
  }

  function pump() {
    if (disposed || inFlight || latest === undefined) return;
    if (lastSent !== undefined && sameState(latest, lastSent)) return;
    send(latest);
  }

  function settle(id) {
    if (!inFlight || inFlight.id !== id) return null;
    const done = inFlight;
    if (done.timer !== null) clearTimeout(done.timer);
    inFlight = null;
    return done;
  }

  function onTimeout(id) {
    if (settle(id)) {
      stats.timeouts += 1;
      lastSent = undefined; // the request may never have arrived: send the newest state again
      pump();
    }
  }

  function onFrameMsg(msg, buffers) {
    const receivedAt = now();
    const done = settle(msg.id);
    const own = typeof msg.id === "string" && msg.id.startsWith(`${token}:`);
    const fromElsewhere = msg.origin === "python" || (!own && msg.id !== null);
    if (done && done.state === null) {
      // reply to sync(): Python's current state becomes ours
      latest = msg.state;
      lastSent = msg.state;
      onState(msg.state, msg);
    } else if (fromElsewhere) {
      const idle = !inFlight && (latest === undefined || sameState(latest, lastSent));
      if (msg.origin === "python" || idle) {
        latest = msg.state;
        lastSent = msg.state;
        onState(msg.state, msg);
      }
    }
    const sentAt = done ? done.sentAt : null;
    pump(); // the next request leaves now, before this frame is decoded and drawn
    // decode now (while the next request is on its way), draw in arrival order
    let decodedAt = null;
    const decoded = (async () => {
      const out = await Promise.all((msg.frames || []).map((meta, i) => decode(meta, buffers[i])));
      decodedAt = now();
      return out;
    })();
    chain = chain
      .then(() => decoded)
      .then((bitmaps) => {
        if (disposed || msg.seq <= lastSeq) {
          stats.dropped += 1;
          for (const b of bitmaps) if (b && typeof b.close === "function") b.close();
          return;
        }
        lastSeq = msg.seq;
        stats.frames += 1;
        onFrame({ msg, bitmaps, sentAt, receivedAt, decodedAt, own });
      })
      .catch((err) => {
        stats.errors += 1;
        onError(`could not draw the frame: ${err && err.message ? err.message : err}`, msg);
      });
  }

  function onErrorMsg(msg) {
    const done = settle(msg.id);
    stats.errors += 1;
    if (done || msg.id === null || msg.id === undefined) onError(msg.message, msg);
    pump(); // keep working: a newer state (if any) goes out now; the failed one is not retried
  }

  function onMessage(msg, buffers) {
    if (!msg || typeof msg !== "object") return;
    if (msg.type === "lw:frame") onFrameMsg(msg, buffers || []);
    else if (msg.type === "lw:error") onErrorMsg(msg);
  }

  model.on("msg:custom", onMessage);

  return {
    /** Ask for a frame of `state` (sent now, or when the frame in flight lands). */
    request(state) {
      latest = JSON.parse(JSON.stringify(state));
      pump();
    },
    /** Ask Python for its current state and frame (used when a view opens). */
    sync() {
      if (inFlight) return;
      send(null);
    },
    get busy() {
      return inFlight !== null;
    },
    /** When the request in flight left (the `now()` clock), or null when none is. */
    get busySince() {
      return inFlight ? inFlight.sentAt : null;
    },
    get latest() {
      return latest;
    },
    get pending() {
      return latest !== undefined && lastSent !== undefined && !sameState(latest, lastSent);
    },
    stats,
    /** Wait until every frame received so far has been drawn. */
    drained() {
      return chain;
    },
    dispose() {
      disposed = true;
      if (inFlight && inFlight.timer !== null) clearTimeout(inFlight.timer);
      inFlight = null;
      model.off("msg:custom", onMessage);
    },
  };
}
