/**
 * The compute backend: the kernel module, its one shared memory (the arena) and a pool of threads.
 *
 * `run(kernel, args, work)` calls a kernel export synchronously. With several threads, the main
 * thread publishes the call in a shared control block, the workers wake (Atomics.wait/notify),
 * everyone computes its share (each kernel partitions its outputs by (tid, nth)) and the main
 * thread waits for the rest. In a browser's main thread Atomics.wait is not allowed: use
 * threads = 1 there (or run the backend in a worker).
 */
import { Arena } from "./arena.ts";
import { compileKernels, createMemory, CTRL, instantiateKernels, MEMORY_PAGES } from "./wasm.ts";
import { KernelError } from "../errors.ts";

type Kernel = (...args: number[]) => number;

export interface BackendOptions {
  /** Compute threads, including the calling one (default 1). */
  threads?: number;
  /** The compiled kernels, or where to load them from. */
  wasm?: URL | Uint8Array | WebAssembly.Module;
  /** Work (≈ flops) under which a call runs on the calling thread alone. */
  minParallelWork?: number;
  /**
   * The compute-thread script (default: worker.ts beside this module). A bundled page passes its
   * own bundle of src/backend/worker.ts.
   */
  workerUrl?: URL | string;
  /**
   * Shared memory (default true). False runs one thread on a plain memory: for a page that is not
   * cross-origin isolated, where the browser may refuse shared memory.
   */
  shared?: boolean;
  /**
   * The memory to instantiate the kernels on (shared: true): another thread's, so that both see
   * one arena (the WebGPU backend's host copy and its device thread). Default: a new one.
   */
  memory?: WebAssembly.Memory;
}

/** Which compute path a command runs on (`--backend`). */
export type BackendKind = "cpu" | "webgpu";

/**
 * What the ops wrappers, the model, the trainer and the pruner compute with: the CPU's
 * WebAssembly backend (below) or the WebGPU backend (src/backend/webgpu/webgpu_backend.ts).
 *
 * Both address one arena by the same byte offsets. On the CPU the kernels work on the arena
 * itself; on a GPU they work on a device copy, and the host's typed views (`arena.f32(ptr, n)`)
 * see what the host wrote and what it brought back: `upload` after a host write that kernels
 * read, `download` before a host read of what kernels wrote. Both are no-ops on the CPU, so code
 * written for the GPU runs unchanged there.
 */
export interface ComputeBackend {
  readonly kind: BackendKind;
  readonly arena: Arena;
  readonly memory: WebAssembly.Memory;
  /** Compute threads as the ops wrappers size per-thread scratch (1 on a GPU). */
  readonly threads: number;
  /**
   * Whether Linear may switch to the sparse products once a weight is sparse enough (the CPU);
   * a GPU runs the dense GEMM throughout (docs/webgpu.md says why).
   */
  readonly sparseProducts: boolean;
  /** The GPU forms of the ops whose CPU wrappers read a kernel's result; null on the CPU. */
  readonly forms: DeviceForms | null;
  /** When set, run() adds each kernel's calls (and on the CPU its wall time) here. */
  profile: Map<string, { calls: number; ms: number }> | null;
  has(kernel: string): boolean;
  /** Runs (CPU) or records (GPU) a kernel; returns what the host can know now (see each). */
  run(kernel: string, args: readonly number[], work?: number): number;
  /** Throws (CPU: at once; GPU: at the next download) if the n f32 at ptr have NaN or Inf. */
  checkFinite(kernel: string, what: string, ptr: number, n: number): void;
  /** Makes what the host wrote to [ptr, ptr + bytes) visible to the kernels recorded next. */
  upload(ptr: number, bytes: number): void;
  /** Makes what the kernels wrote to each [ptr, bytes) range visible to the host (waits). */
  download(...ranges: [ptr: number, bytes: number][]): void;
  /** Starts the work recorded so far without waiting (a training step's end). */
  flush(): void;
  close(): void;
}

/**
 * The GPU forms of the ops whose CPU wrappers need a kernel's result on the host before they go
 * on (src/backend/webgpu/ops.ts): the same arguments, with the result written to the arena at
 * `out` and left on the device until downloaded. The ops wrappers call them on a GPU.
 */
export interface DeviceForms {
  /** ops.magnitudeTopK (unlessAbove included); returns min(k, rows·cols). */
  magnitudeTopK(p: {
    w: number;
    rows: number;
    cols: number;
    k: number;
    j?: number;
    axis?: "row" | "col" | "none";
    unlessAbove?: number;
  }): number;
  /**
   * Every span / (rms + 1e-5); out (2 f32): rms and the factor. The RMS divides by Σ n unless
   * `count` says otherwise: base + the n u32 words whose word indices (byte offset / 4) are
   * listed at `words`, for spans whose real lengths live on the device (entries past them must
   * be 0, so that they add nothing to Σ x²).
   */
  gradRmsNormalizeSpans(
    spans: [ptr: number, n: number][],
    out?: number,
    count?: { base: number; words: number; n: number },
  ): void;
  /** out (3 f32) = Σx², ‖x‖, and the factor x was scaled by (clip/‖x‖ when ‖x‖ > clip, else 1). */
  sumSquares(a: { x: number; n: number; out: number; clip?: number }): void;
  /** out (f32) = mean of losses [N] over tokens with a target ≥ 0. */
  meanLoss(a: { losses: number; targets?: number; N: number; out: number }): void;
  /** out (u32) = nonzero entries of n f32 at w. */
  countNonzero(a: { w: number; n: number; out: number }): void;
  /** out (u32) = rows ("row") or columns ("col") of W [rows, cols] with a nonzero. */
  aliveNeurons(
    a: { w: number; rows: number; cols: number; axis: "row" | "col"; out: number },
  ): void;
  // sparseMatrix(rows, cols), the device's SparseMatrix, is declared in ops/sparse.ts: naming
  // the class here would make this module and that one import each other.
}

export class Backend implements ComputeBackend {
  readonly kind = "cpu" as const;
  readonly sparseProducts = true;
  readonly forms = null;
  readonly arena: Arena;
  readonly #kernels: Record<string, Kernel>;
  readonly #names: string[];
  readonly #index = new Map<string, number>();
  readonly #workers: Worker[];
  readonly #ctrl: Int32Array;
  readonly #args: Float64Array;
  readonly #minWork: number;
  /** When set, run() adds each kernel's calls and wall time here (bench/train_bench.ts). */
  profile: Map<string, { calls: number; ms: number }> | null = null;

  private constructor(
    readonly memory: WebAssembly.Memory,
    exports: WebAssembly.Exports,
    workers: Worker[],
    ctrl: SharedArrayBuffer | ArrayBuffer,
    minWork: number,
  ) {
    this.arena = new Arena(memory, MEMORY_PAGES.maximum * 65536);
    this.#kernels = {};
    this.#names = [];
    for (const [name, v] of Object.entries(exports)) {
      if (typeof v === "function") {
        this.#index.set(name, this.#names.length);
        this.#names.push(name);
        this.#kernels[name] = v as Kernel;
      }
    }
    this.#workers = workers;
    this.#ctrl = new Int32Array(ctrl, 0, CTRL.INTS);
    this.#args = new Float64Array(ctrl, CTRL.INTS * 4, CTRL.MAX_ARGS);
    this.#minWork = minWork;
  }

  /** Number of compute threads (1 + workers). */
  get threads(): number {
    return this.#workers.length + 1;
  }

  static async create(opts: BackendOptions = {}): Promise<Backend> {
    const threads = opts.threads ?? 1;
    if (!Number.isInteger(threads) || threads < 1 || threads > 64) {
      throw new KernelError("backend", `threads must be an integer in 1..64, got ${threads}`);
    }
    const shared = opts.shared ?? true;
    if (!shared && threads > 1) {
      throw new KernelError("backend", "more than one thread needs shared memory");
    }
    const module = opts.wasm instanceof WebAssembly.Module
      ? opts.wasm
      : await compileKernels(opts.wasm, shared);
    const memory = opts.memory ?? createMemory(shared);
    const exports = await instantiateKernels(module, memory);
    const ctrlBytes = CTRL.INTS * 4 + CTRL.MAX_ARGS * 8;
    // One thread never waits on the control block, and SharedArrayBuffer may not exist.
    const ctrl = shared ? new SharedArrayBuffer(ctrlBytes) : new ArrayBuffer(ctrlBytes);
    const names = Object.entries(exports).filter(([, v]) => typeof v === "function").map(([n]) =>
      n
    );
    const workers: Worker[] = [];
    const ready: Promise<void>[] = [];
    for (let tid = 1; tid < threads; tid++) {
      const w = new Worker(opts.workerUrl ?? new URL("./worker.ts", import.meta.url), {
        type: "module",
      });
      ready.push(
        new Promise((resolve, reject) => {
          w.onmessage = () => resolve();
          w.onerror = (e) => reject(new Error(`worker ${tid} failed: ${e.message}`));
        }),
      );
      w.postMessage({ module, memory, ctrl, names, tid, nth: threads });
      workers.push(w);
    }
    await Promise.all(ready);
    return new Backend(memory, exports, workers, ctrl, opts.minParallelWork ?? 1 << 15);
  }

  /** True when the module exports this kernel. */
  has(kernel: string): boolean {
    return this.#index.has(kernel);
  }

  /**
   * Calls `kernel(...args, tid, nth)` on every thread and returns thread 0's result. `work` is
   * a rough cost (flops); small calls run on this thread alone (same results: kernels are
   * partition-independent).
   */
  run(kernel: string, args: readonly number[], work = Infinity): number {
    if (this.profile) {
      const t0 = performance.now();
      const r = this.#run(kernel, args, work);
      const e = this.profile.get(kernel) ?? { calls: 0, ms: 0 };
      e.calls++;
      e.ms += performance.now() - t0;
      this.profile.set(kernel, e);
      return r;
    }
    return this.#run(kernel, args, work);
  }

  #run(kernel: string, args: readonly number[], work: number): number {
    const fn = this.#kernels[kernel];
    if (!fn) throw new KernelError(kernel, "no such kernel in the module (rebuild?)");
    const nth = this.#workers.length + 1;
    if (nth === 1 || work < this.#minWork) return fn(...args, 0, 1);
    if (args.length > CTRL.MAX_ARGS) throw new KernelError(kernel, "too many arguments");
    const c = this.#ctrl;
    c[CTRL.FN] = this.#index.get(kernel)!;
    c[CTRL.NARGS] = args.length;
    for (let i = 0; i < args.length; i++) this.#args[i] = args[i];
    Atomics.store(c, CTRL.DONE, 0);
    Atomics.add(c, CTRL.GEN, 1);
    Atomics.notify(c, CTRL.GEN);
    const result = fn(...args, 0, nth);
    // Short spin first: most shares finish within microseconds of ours.
    for (let spin = 0; spin < 2000 && Atomics.load(c, CTRL.DONE) < nth - 1; spin++);
    let done: number;
    while ((done = Atomics.load(c, CTRL.DONE)) < nth - 1) Atomics.wait(c, CTRL.DONE, done, 1000);
    if (c[CTRL.ERR]) {
      c[CTRL.ERR] = 0;
      throw new KernelError(kernel, "failed on a worker thread");
    }
    return result;
  }

  /** Throws if the f32 data at ptr has NaN or Inf entries. */
  checkFinite(kernel: string, what: string, ptr: number, n: number): void {
    const bad = this.run("count_nonfinite", [ptr, n], 0);
    if (bad > 0) throw new KernelError(kernel, `${what} has ${bad} NaN/Inf value(s) of ${n}`);
  }

  /** The kernels work on the arena itself: nothing to copy. */
  upload(_ptr: number, _bytes: number): void {}
  /** The kernels work on the arena itself: nothing to copy. */
  download(..._ranges: [ptr: number, bytes: number][]): void {}
  /** Kernels run when called: nothing is pending. */
  flush(): void {}

  /** Stops the worker threads. */
  close(): void {
    if (this.#workers.length === 0) return;
    this.#ctrl[CTRL.FN] = -1;
    Atomics.add(this.#ctrl, CTRL.GEN, 1);
    Atomics.notify(this.#ctrl, CTRL.GEN);
    for (const w of this.#workers) w.terminate();
    this.#workers.length = 0;
  }
}
