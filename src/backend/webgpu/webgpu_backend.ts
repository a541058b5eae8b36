/**
 * The WebGPU backend the commands use (`--backend webgpu`): a ComputeBackend whose `download` is
 * synchronous, so the model, the trainer, eval and the pruner run on it unchanged, reading what a
 * kernel computed with a plain `be.download(range)` before the read (docs/webgpu.md, "Two
 * threads").
 *
 * WebGPU can only wait for the device asynchronously (mapAsync), and the code that reads results
 * (a task's scores, a mask optimiser's step, a checkpoint) is synchronous, as it is on the CPU. So
 * the device lives in a worker (gpu_thread.ts) that runs the in-thread GpuBackend over this
 * thread's shared memory, and this thread records: every kernel call, upload and flush becomes an
 * operation in a list posted to the worker in batches. A download posts the list and the request,
 * then sleeps in Atomics.wait until the worker has copied the ranges into the shared memory. The
 * two threads also overlap: the worker encodes and submits one batch while this one records the
 * next.
 *
 * Allocation stays on this thread (the arena; the worker's kernels take their scratch above the
 * top this thread had when it recorded them), and so do the host kernels (token-id checks, the
 * Gaussian init, the lr schedule, pruning's calibration), which work on the host copy.
 */
import { Backend, type ComputeBackend, type DeviceForms } from "../backend.ts";
import { compileKernels } from "../wasm.ts";
import { KernelError, UserError } from "../../errors.ts";
import type { GpuInfo } from "./device.ts";
import { GpuArena, HOST_KERNELS, STATUS_WORDS } from "./gpu_backend.ts";
import { GPU_KERNELS } from "./kernels/index.ts";
import { deviceForms } from "./ops.ts";
import {
  DEAD_AFTER_MS,
  HEARTBEAT_MS,
  REPLY,
  type Reply,
  REPLY_TEXT_BYTES,
  type ThreadMessage,
  type ThreadOp,
} from "./thread_protocol.ts";
import { type GpuKernelSpec, type KernelArgs, parseArgs } from "./wgsl.ts";

/** Operations recorded before a batch is posted without waiting (the worker starts on them). */
const BATCH_OPS = 512;

interface SpecInfo {
  spec: GpuKernelSpec;
  names: string[];
}

export class WebGpuBackend implements ComputeBackend {
  readonly kind = "webgpu" as const;
  readonly threads = 1;
  readonly sparseProducts = false;
  readonly forms: DeviceForms;
  readonly arena: GpuArena;
  readonly memory: WebAssembly.Memory;
  /** The adapter and its limits. */
  readonly info: GpuInfo;
  /** Bytes the arena may reach: what the device binds at once (one binding, docs/webgpu.md). */
  readonly maxBytes: number;
  /** Counts each kernel's recorded calls when set (device times: bench/webgpu_bench.ts --profile). */
  profile: Map<string, { calls: number; ms: number }> | null = null;

  readonly #host: Backend;
  readonly #worker: Worker;
  readonly #ctrl: Int32Array;
  readonly #text: Uint8Array;
  readonly #specs = new Map<string, SpecInfo>();
  #ops: ThreadOp[] = [];
  #transfer: ArrayBuffer[] = [];
  #closed = false;
  /** The device thread stopped answering: close() then only terminates it. */
  #dead = false;

  private constructor(
    host: Backend,
    worker: Worker,
    ctrl: Int32Array,
    text: Uint8Array,
    init: { info: GpuInfo; maxBytes: number },
  ) {
    this.#host = host;
    this.#worker = worker;
    this.#ctrl = ctrl;
    this.#text = text;
    this.memory = host.memory;
    this.info = init.info;
    this.maxBytes = Math.min(init.maxBytes, host.arena.maxBytes);
    for (const spec of GPU_KERNELS) {
      this.#specs.set(spec.name, { spec, names: parseArgs(spec.args).names });
    }
    this.arena = new GpuArena(this, host.memory, this.maxBytes);
    // The device thread's GpuBackend put its status words first; the same bytes here.
    this.arena.tensor([STATUS_WORDS], "webgpu status words");
    this.arena.keep();
    this.forms = deviceForms(this);
  }

  /**
   * Starts the device thread and acquires the adapter there; no adapter is a UserError (one
   * line, exit 2), as requestGpu says it.
   */
  static async create(): Promise<WebGpuBackend> {
    const module = await compileKernels(undefined, true);
    const host = await Backend.create({ threads: 1, shared: true, wasm: module });
    const ctrlBuf = new SharedArrayBuffer(REPLY.INTS * 4);
    const textBuf = new SharedArrayBuffer(REPLY_TEXT_BYTES);
    const ctrl = new Int32Array(ctrlBuf), text = new Uint8Array(textBuf);
    const worker = new Worker(new URL("./gpu_thread.ts", import.meta.url), { type: "module" });
    try {
      const init = request(worker, ctrl, text, {
        t: "init",
        module,
        memory: host.memory,
        ctrl: ctrlBuf,
        text: textBuf,
      }) as { info: GpuInfo; maxBytes: number };
      return new WebGpuBackend(host, worker, ctrl, text, init);
    } catch (e) {
      worker.terminate();
      host.close();
      throw e;
    }
  }

  has(kernel: string): boolean {
    return this.#specs.has(kernel) || kernel in HOST_KERNELS;
  }

  /**
   * Records `kernel(...args)` (Backend.run's contract; `work` is ignored) and returns what the
   * host can know now: a host kernel's result, a scratch size, else 0.
   */
  run(kernel: string, args: readonly number[], _work = Infinity): number {
    this.#checkOpen();
    if (this.profile) {
      const e = this.profile.get(kernel) ?? { calls: 0, ms: 0 };
      e.calls++;
      this.profile.set(kernel, e);
    }
    const host = HOST_KERNELS[kernel];
    if (host) {
      const r = this.#host.run(kernel, args, 0);
      const up = host(args);
      if (up) this.upload(up[0], up[1]);
      return r;
    }
    const s = this.#specs.get(kernel);
    if (!s) throw new KernelError(kernel, "no WebGPU kernel for it (docs/webgpu.md)");
    if (args.length !== s.names.length) {
      throw new KernelError(kernel, `expected ${s.names.length} arguments, got ${args.length}`);
    }
    if (s.spec.passes.length === 0) {
      const named: KernelArgs = {};
      s.names.forEach((n, i) => (named[n] = args[i]));
      return s.spec.result ? s.spec.result(named) : 0;
    }
    this.#push(["run", kernel, [...args], this.arena.used]);
    return 0;
  }

  /** Counts NaN/Inf among the n f32 at ptr on the device; thrown at the next download. */
  checkFinite(kernel: string, what: string, ptr: number, n: number): void {
    this.#checkOpen();
    this.#push(["check", kernel, what, ptr, n, this.arena.used]);
  }

  /** Records a zero fill of [ptr, ptr + bytes) (4-aligned): what arena.tensor() does on the host. */
  zero(ptr: number, bytes: number): void {
    if (bytes > 0) this.run("fill_f32", [ptr, Math.floor(bytes / 4), 0]);
  }

  /**
   * Sends [ptr, ptr + bytes) of the host copy to the device, after everything recorded so far.
   * The bytes are copied now: the host may write the range again before the device thread gets
   * to it. ptr and bytes must be multiples of 4.
   */
  upload(ptr: number, bytes: number): void {
    this.#checkOpen();
    if (bytes <= 0) return;
    if (ptr % 4 !== 0 || bytes % 4 !== 0) {
      throw new KernelError("webgpu upload", `range [${ptr}, +${bytes}) is not 4-byte aligned`);
    }
    const copy = new Uint8Array(this.memory.buffer, ptr, bytes).slice();
    this.#transfer.push(copy.buffer);
    this.#push(["up", ptr, copy]);
  }

  /**
   * Brings each [ptr, bytes) range of the device into the host copy, after everything recorded
   * so far: one submission and one wait (~12 ms on lavapipe) for all of them. Throws what the
   * device found since the last download (NaN/Inf counted by checkFinite, WebGPU errors).
   */
  download(...ranges: [ptr: number, bytes: number][]): void {
    this.#checkOpen();
    this.#request({ t: "download", ranges });
  }

  /** A copy of n f32 at ptr, after everything recorded so far (one download). */
  readF32(ptr: number, n: number): Float32Array {
    this.download([ptr, 4 * n]);
    return this.arena.f32(ptr, n).slice();
  }

  /** Waits until the device has done everything recorded; throws its deferred errors. */
  sync(): void {
    this.download();
  }

  /** Submits what is recorded, without waiting. */
  flush(): void {
    this.#checkOpen();
    this.#ops.push(["flush"]);
    this.#post();
  }

  /** Submissions and dispatches so far (one wait). */
  stats(): { submits: number; dispatches: number } {
    this.#checkOpen();
    return this.#request({ t: "stats" }) as { submits: number; dispatches: number };
  }

  /** Releases the device and stops its thread. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#ops = [];
    this.#transfer = [];
    try {
      if (!this.#dead) request(this.#worker, this.#ctrl, this.#text, { t: "close" });
    } finally {
      this.#worker.terminate();
      this.#host.close();
    }
  }

  #checkOpen(): void {
    if (this.#closed) throw new Error("WebGpuBackend: used after close()");
  }

  #push(op: ThreadOp): void {
    this.#ops.push(op);
    if (this.#ops.length >= BATCH_OPS) this.#post();
  }

  #post(): void {
    if (this.#ops.length === 0) return;
    this.#worker.postMessage({ t: "ops", ops: this.#ops } satisfies ThreadMessage, this.#transfer);
    this.#ops = [];
    this.#transfer = [];
  }

  #request(m: ThreadMessage): unknown {
    this.#post();
    try {
      return request(this.#worker, this.#ctrl, this.#text, m);
    } catch (e) {
      if (e instanceof ThreadStopped) this.#dead = true;
      throw e;
    }
  }
}

/**
 * Posts a request to the device thread and sleeps until it replies; returns or throws its reply.
 * A thread that stopped beating (it died) is an error, not a wait forever.
 */
function request(worker: Worker, ctrl: Int32Array, text: Uint8Array, m: ThreadMessage): unknown {
  const seq = Atomics.load(ctrl, REPLY.SEQ);
  worker.postMessage(m);
  let beat = Atomics.load(ctrl, REPLY.HEARTBEAT), beatAt = performance.now();
  while (Atomics.load(ctrl, REPLY.SEQ) === seq) {
    Atomics.wait(ctrl, REPLY.SEQ, seq, 4 * HEARTBEAT_MS);
    const now = performance.now(), b = Atomics.load(ctrl, REPLY.HEARTBEAT);
    if (b !== beat) [beat, beatAt] = [b, now];
    else if (now - beatAt > DEAD_AFTER_MS) throw new ThreadStopped(now - beatAt);
  }
  const n = Atomics.load(ctrl, REPLY.LENGTH);
  const r = JSON.parse(new TextDecoder().decode(text.slice(0, n))) as Reply;
  if ("ok" in r) return r.ok;
  throw rebuildError(r.error);
}

/** The device thread died (its heartbeat stopped): a bug or a crash, not a user's error. */
class ThreadStopped extends Error {
  constructor(ms: number) {
    super(
      `webgpu: the device thread stopped answering (no heartbeat for ${Math.round(ms / 1000)} s)`,
    );
    this.name = "ThreadStopped";
  }
}

/** The device thread's error as the type the command thread's callers test for. */
function rebuildError(e: { name: string; message: string; exitCode?: number }): Error {
  if (e.name === "UserError") return new UserError(e.message, e.exitCode ?? 2);
  const err = e.name === "KernelError" ? new KernelError("", "") : new Error();
  err.message = e.message;
  return err;
}
