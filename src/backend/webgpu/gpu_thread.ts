/**
 * The WebGPU backend's device thread (docs/webgpu.md, "Two threads"): a worker that owns the
 * GPUDevice and a GpuBackend over the command thread's shared memory, and replays what the
 * command thread (src/backend/webgpu/webgpu_backend.ts) recorded: kernel calls, uploads, zero
 * fills, flushes. A download is the one reply that matters: the command thread sleeps in
 * Atomics.wait until this thread has copied the ranges into the shared memory and bumped the
 * reply counter.
 *
 * Messages are handled strictly in order (one promise chain): a download awaits the device, and
 * work posted meanwhile must wait behind it. An error while replaying (a WebGPU validation error,
 * a kernel refusing its arguments) is kept and answered at the next download, as the in-thread
 * GpuBackend raises its deferred errors there.
 */
import { Backend } from "../backend.ts";
import { KernelError, UserError } from "../../errors.ts";
import { GpuBackend } from "./gpu_backend.ts";
import { HEARTBEAT_MS, REPLY, type ThreadMessage, type ThreadOp } from "./thread_protocol.ts";

let gpu: GpuBackend | null = null;
let ctrl: Int32Array;
let text: Uint8Array;
let kept: unknown = null;
let chain: Promise<void> = Promise.resolve();

/** Answers the waiting command thread: status 0 with an optional JSON value, or an error. */
function reply(value: unknown, error: unknown = null): void {
  const body = error === null
    ? JSON.stringify({ ok: value ?? null })
    : JSON.stringify({ error: describe(error) });
  const bytes = new TextEncoder().encode(body);
  const n = Math.min(bytes.length, text.length);
  text.set(bytes.subarray(0, n));
  Atomics.store(ctrl, REPLY.LENGTH, n);
  Atomics.add(ctrl, REPLY.SEQ, 1);
  Atomics.notify(ctrl, REPLY.SEQ);
}

function describe(e: unknown): { name: string; message: string; exitCode?: number } {
  if (e instanceof UserError) return { name: e.name, message: e.message, exitCode: e.exitCode };
  if (e instanceof Error) return { name: e.name, message: e.message };
  return { name: "Error", message: String(e) };
}

function apply(g: GpuBackend, op: ThreadOp): void {
  switch (op[0]) {
    case "run":
      g.arena.moveTo(op[3]);
      g.run(op[1], op[2]);
      return;
    case "check":
      g.arena.moveTo(op[5]);
      g.checkFinite(op[1], op[2], op[3], op[4]);
      return;
    case "up":
      g.uploadFrom(op[1], op[2]);
      return;
    case "flush":
      g.flush();
      return;
  }
}

async function handle(m: ThreadMessage): Promise<void> {
  switch (m.t) {
    case "init": {
      ctrl = new Int32Array(m.ctrl);
      text = new Uint8Array(m.text);
      setInterval(() => Atomics.add(ctrl, REPLY.HEARTBEAT, 1), HEARTBEAT_MS);
      try {
        const host = await Backend.create({
          threads: 1,
          shared: true,
          wasm: m.module,
          memory: m.memory,
        });
        gpu = await GpuBackend.create({ host });
        reply({ info: gpu.info, maxBytes: gpu.maxBytes });
      } catch (e) {
        reply(null, e);
      }
      return;
    }
    case "ops": {
      if (!gpu || kept !== null) return;
      try {
        for (const op of m.ops) apply(gpu, op);
      } catch (e) {
        kept = e;
      }
      return;
    }
    case "download": {
      if (!gpu) return reply(null, new Error("webgpu: the device thread has no device"));
      if (kept !== null) {
        const e = kept;
        kept = null;
        return reply(null, e);
      }
      try {
        await gpu.download(...m.ranges);
        reply(null);
      } catch (e) {
        reply(null, e);
      }
      return;
    }
    case "stats":
      reply(gpu?.stats ?? null);
      return;
    case "close":
      try {
        gpu?.close();
      } finally {
        gpu = null;
        reply(null);
      }
      return;
  }
}

// A worker's global scope (Deno types `self` as a window).
const scope = self as unknown as { onmessage: (e: MessageEvent<ThreadMessage>) => void };
scope.onmessage = (e) => {
  chain = chain.then(() => handle(e.data)).catch((err) => {
    // handle() answers every request itself; this is a bug in it: keep it for the next reply.
    kept = err instanceof Error ? err : new KernelError("webgpu thread", String(err));
  });
};
