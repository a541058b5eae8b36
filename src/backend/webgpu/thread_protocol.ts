/**
 * What the WebGPU backend's command thread (webgpu_backend.ts) and its device thread
 * (gpu_thread.ts) say to each other. Requests are messages; replies go through shared memory,
 * because the command thread waits for them in Atomics.wait and receives no messages meanwhile.
 */

/**
 * Int32 slots of the reply block: a counter bumped per reply, the reply's length in bytes, and
 * a heartbeat the device thread bumps every HEARTBEAT_MS while it lives.
 */
export const REPLY = { SEQ: 0, LENGTH: 1, HEARTBEAT: 2, INTS: 4 } as const;

export const HEARTBEAT_MS = 250;

/**
 * A device thread whose heartbeat stopped this long ago has died (an uncaught error, a crash):
 * the command thread stops waiting and throws instead of hanging. Generous: a heartbeat can be
 * late while the thread compiles a pipeline or encodes a long batch.
 */
export const DEAD_AFTER_MS = 60_000;

/** Bytes of the reply text (JSON: a value or an error's name and message). */
export const REPLY_TEXT_BYTES = 1 << 16;

/** One recorded operation, replayed in order on the device thread. */
export type ThreadOp =
  /** kernel, args, and the command thread's arena top when it was recorded (scratch goes above). */
  | ["run", string, number[], number]
  /** checkFinite(kernel, what, ptr, n), with the arena top. */
  | ["check", string, string, number, number, number]
  /** The bytes the host wrote at ptr, copied when it uploaded them. */
  | ["up", number, Uint8Array]
  /** Submit what is recorded. */
  | ["flush"];

export type ThreadMessage =
  | {
    t: "init";
    module: WebAssembly.Module;
    memory: WebAssembly.Memory;
    ctrl: SharedArrayBuffer;
    text: SharedArrayBuffer;
  }
  | { t: "ops"; ops: ThreadOp[] }
  | { t: "download"; ranges: [ptr: number, bytes: number][] }
  | { t: "stats" }
  | { t: "close" };

/** A reply as JSON: a value, or the error to throw on the command thread. */
export type Reply = { ok: unknown } | {
  error: { name: string; message: string; exitCode?: number };
};
