/**
 * The WebGPU backend: the same `run(kernel, args)` contract as src/backend/backend.ts, recorded
 * into a command buffer instead of executed (docs/webgpu.md has the design and its alternatives).
 *
 * - One arena, two copies. Allocation is the CPU arena's (src/backend/arena.ts: the same bump
 *   allocator, the same byte offsets), over a host memory that mirrors one GPU storage buffer of
 *   the same layout. Kernels read and write the GPU buffer only; the host copy is what the
 *   arena's typed views (`arena.f32(ptr, n)`, `model.view(spec)`) see, and it is current only
 *   where the caller made it so: `upload` after writing through a view, `await download` before
 *   reading one.
 * - `run` records a compute pass into the open command encoder and returns at once; `flush`
 *   submits, `sync` also waits. A training step is one submission with no waits.
 * - Kernels that only return a number the host can compute (scratch sizes) answer on the host;
 *   the few that must run on host data (token-id range checks, the Gaussian init, the lr
 *   schedule) run on the host copy through the WASM module, which owns that memory.
 * - Errors a kernel finds on the GPU (NaN/Inf in a top-k input) are counted in status words and
 *   thrown as KernelError at the next download or sync.
 */
import { Arena, ARENA_BASE } from "../arena.ts";
import { Backend, type DeviceForms } from "../backend.ts";
import { KernelError, UserError } from "../../errors.ts";
import { type GpuDevice, type GpuInfo, requestGpu } from "./device.ts";
import {
  type ArgLayout,
  argsStruct,
  type GpuKernelSpec,
  type KernelArgs,
  parseArgs,
  PRELUDE,
} from "./wgsl.ts";
import { GPU_KERNELS } from "./kernels/index.ts";
import { deviceForms } from "./ops.ts";

/** Bytes of uniforms per dispatch (every kernel's argument block fits). */
const SLOT_BYTES = 256;
/** Dispatches per submission before the uniform ring forces one (a step needs a few hundred). */
const RING_SLOTS = 4096;
/** Status words for deferred GPU errors, at the start of the arena's first allocation. */
export const STATUS_WORDS = 64;

/**
 * WASM kernels that run on the host copy through the module (their data comes from the host),
 * each with the range it filled that the device needs (uploaded), or null.
 */
export const HOST_KERNELS: Record<
  string,
  (a: readonly number[]) => [ptr: number, bytes: number] | null
> = {
  // checkIdsInRange: token ids, targets and positions are written by the host and uploaded.
  i32_find_out_of_range: () => null,
  // Pure arithmetic on its arguments.
  lr_schedule: () => null,
  // Loading a run checks the weights it just wrote into the host copy.
  count_nonfinite: () => null,
  // The Gaussian init, bit for bit the CPU path's; the filled range is uploaded.
  randn_fill: (a) => [a[0], 4 * a[1]],
  // Pruning's calibration: the logit differences are host data (the scores were downloaded) and
  // its results (f64 loss and gradient, per-item losses) are read by the host's LBFGS only.
  calib_loss_grad: () => null,
};

interface Compiled {
  spec: GpuKernelSpec;
  args: ArgLayout;
  derived: ArgLayout | null;
  pipelines: GPUComputePipeline[];
}

/** A deferred error check: which status word counts what. */
interface StatusCheck {
  word: number;
  kernel: string;
  what: string;
  n: number;
}

export interface GpuBackendOptions {
  /**
   * An already acquired device, which close() then leaves alive for its owner (tests share one
   * per process); default: requestGpu(), destroyed by close().
   */
  gpu?: GpuDevice;
  /**
   * Time every kernel on the device (the adapter's timestamp-query feature): each run gets its
   * own compute pass with timestamps, summed per kernel into `profile` as the submissions
   * finish (`await timings()`). Costs a pass per kernel; for benchmarks.
   */
  timestamps?: boolean;
  /**
   * The host copy's module and memory (default: a new one-thread backend on a memory of its
   * own). The WebGPU backend's device thread passes one over the command thread's shared memory.
   */
  host?: Backend;
}

/** Kernel timings per submission at most (two timestamps each). */
const QUERY_PAIRS = 2048;

export class GpuBackend {
  readonly kind = "webgpu" as const;
  /** The products stay dense on a GPU (docs/webgpu.md). */
  readonly sparseProducts = false;
  /**
   * The GPU forms of the result-returning ops (ComputeBackend.forms), so that code that records
   * without reading (a training step's `record`) runs on this backend too.
   */
  readonly forms: DeviceForms;
  /** Compute threads as the ops wrappers see them (per-thread scratch is sized by this). */
  readonly threads = 1;
  readonly device: GPUDevice;
  readonly info: GpuInfo;
  /** The host copy's module: runs the host kernels on it and owns the memory. */
  readonly host: Backend;
  readonly arena: Arena;
  readonly memory: WebAssembly.Memory;
  /**
   * When set, run() counts each kernel's recorded calls here, and with `timestamps` its device
   * time too (summed as the submissions finish: await timings()).
   */
  profile: Map<string, { calls: number; ms: number }> | null = null;

  #buffer: GPUBuffer;
  #retired: GPUBuffer[] = [];
  #uniform: GPUBuffer;
  #ring = new ArrayBuffer(RING_SLOTS * SLOT_BYTES);
  #ringU32 = new Uint32Array(this.#ring);
  #ringI32 = new Int32Array(this.#ring);
  #ringF32 = new Float32Array(this.#ring);
  #slot = 0;
  #layout: GPUBindGroupLayout;
  #pipelineLayout: GPUPipelineLayout;
  #bindGroup: GPUBindGroup | null = null;
  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  #compiled = new Map<string, Compiled>();
  #specs: Map<string, GpuKernelSpec>;
  #status = 0;
  #checks: StatusCheck[] = [];
  #checkWord = new Map<string, number>();
  #errors: string[] = [];
  #maxBytes: number;
  #submits = 0;
  #dispatches = 0;
  #query: GPUQuerySet | null = null;
  #queryResolve: GPUBuffer | null = null;
  /** The kernel timed by each timestamp pair of the open encoder. */
  #queryKernels: string[] = [];
  #pendingTimes: Promise<void>[] = [];
  readonly #ownsDevice: boolean;
  readonly #onError: (e: Event) => void;

  private constructor(gpu: GpuDevice, host: Backend, timestamps: boolean, ownsDevice: boolean) {
    this.device = gpu.device;
    this.info = gpu.info;
    this.host = host;
    this.memory = host.memory;
    // Arithmetic, not bit masks: the limits may exceed 2^31.
    this.#maxBytes = Math.floor(
      Math.min(gpu.info.maxStorageBufferBindingSize, gpu.info.maxBufferSize, host.arena.maxBytes) /
        4,
    ) * 4;
    this.arena = new GpuArena(this, host.memory, host.arena.maxBytes);
    this.forms = deviceForms(this);
    this.#specs = new Map(GPU_KERNELS.map((k) => [k.name, k]));
    const dev = this.device;
    this.#ownsDevice = ownsDevice;
    this.#onError = (e) => this.#errors.push((e as GPUUncapturedErrorEvent).error.message);
    dev.addEventListener("uncapturederror", this.#onError);
    this.#layout = dev.createBindGroupLayout({
      entries: [
        { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: "storage" } },
        {
          binding: 1,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: "uniform", hasDynamicOffset: true, minBindingSize: SLOT_BYTES },
        },
      ],
    });
    this.#pipelineLayout = dev.createPipelineLayout({ bindGroupLayouts: [this.#layout] });
    if (timestamps) {
      this.#query = dev.createQuerySet({ type: "timestamp", count: 2 * QUERY_PAIRS });
      this.#queryResolve = dev.createBuffer({
        size: 16 * QUERY_PAIRS,
        usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
      });
    }
    this.#uniform = dev.createBuffer({
      size: RING_SLOTS * SLOT_BYTES,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    this.#buffer = this.#newBuffer(Math.max(1 << 20, ARENA_BASE * 2));
    // The status words live in the arena (below everything else, kept for the backend's life),
    // so a download of them rides on the same copy machinery.
    this.#status = this.arena.tensor([STATUS_WORDS], "webgpu status words").ptr;
    this.arena.keep();
  }

  /** Acquires the device (UserError when there is none) and sets up an empty arena. */
  static async create(opts: GpuBackendOptions = {}): Promise<GpuBackend> {
    const gpu = opts.gpu ?? await requestGpu(opts.timestamps ? ["timestamp-query"] : []);
    const timestamps = !!opts.timestamps && gpu.device.features.has("timestamp-query");
    if (opts.timestamps && !timestamps) {
      throw new UserError("webgpu: this adapter cannot time kernels (no timestamp-query)");
    }
    const host = opts.host ?? await Backend.create({ threads: 1, shared: false });
    return new GpuBackend(gpu, host, timestamps, !opts.gpu);
  }

  /** Bytes the arena may reach on this device (the storage binding limit: one binding). */
  get maxBytes(): number {
    return this.#maxBytes;
  }

  /** Submissions and dispatches so far (benchmarks report them per step). */
  get stats(): { submits: number; dispatches: number } {
    return { submits: this.#submits, dispatches: this.#dispatches };
  }

  /** True when a GPU kernel (or host kernel) stands behind this WASM kernel name. */
  has(kernel: string): boolean {
    return this.#specs.has(kernel) || kernel in HOST_KERNELS;
  }

  /** Every kernel name the GPU implements. */
  kernelNames(): string[] {
    return [...this.#specs.keys()];
  }

  /**
   * Compiles the named kernels (default: all) now and reports WGSL errors as exceptions, instead
   * of as a failure at the next sync. Lavapipe compiles each in tens of milliseconds.
   */
  async compile(names: string[] = this.kernelNames()): Promise<void> {
    for (const name of names) {
      const spec = this.#specs.get(name);
      if (!spec) throw new KernelError(name, "no WebGPU kernel");
      if (spec.passes.length === 0) continue;
      this.device.pushErrorScope("validation");
      const c = this.#compile(spec);
      const info = await c.module.getCompilationInfo();
      const err = await this.device.popErrorScope();
      const msgs = info.messages.filter((m) => m.type === "error");
      if (msgs.length || err) {
        this.#compiled.delete(name);
        const m = msgs[0];
        throw new Error(
          `WGSL kernel ${name}: ${
            m ? `${m.message} (line ${m.lineNum}: ${lineOf(c.source, m.lineNum)})` : err!.message
          }`,
        );
      }
    }
  }

  #compile(spec: GpuKernelSpec): Compiled & { module: GPUShaderModule; source: string } {
    const args = parseArgs(spec.args);
    const derived = spec.derived ? parseArgs(spec.derived.decl) : null;
    const source = `${argsStruct(args, derived, !!spec.scratch)}\n${PRELUDE}\n${spec.code}`;
    const module = this.device.createShaderModule({ code: source, label: spec.name });
    const pipelines = spec.passes.map((p) =>
      this.device.createComputePipeline({
        label: `${spec.name}.${p.entry}`,
        layout: this.#pipelineLayout,
        compute: { module, entryPoint: p.entry },
      })
    );
    const c = { spec, args, derived, pipelines, module, source };
    this.#compiled.set(spec.name, c);
    return c;
  }

  /**
   * Records `kernel(...args)` (Backend.run's contract; `work` is ignored) and returns the value
   * the host can know now: a scratch size, a host kernel's result, else 0.
   */
  run(kernel: string, args: readonly number[], _work = Infinity): number {
    const host = HOST_KERNELS[kernel];
    if (host) {
      const r = this.host.run(kernel, args, 0);
      const up = host(args as number[]);
      if (up) this.upload(up[0], up[1]);
      return r;
    }
    const spec = this.#specs.get(kernel);
    if (!spec) throw new KernelError(kernel, "no WebGPU kernel for it (docs/webgpu.md)");
    const c = this.#compiled.get(kernel) ?? this.#compile(spec);
    const named: KernelArgs = {};
    if (args.length !== c.args.names.length) {
      throw new KernelError(
        kernel,
        `expected ${c.args.names.length} arguments, got ${args.length}`,
      );
    }
    c.args.names.forEach((n, i) => (named[n] = args[i]));
    // Derived values join the arguments by name: grids, skips and scratch sizes may use them.
    const derivedVals = c.derived ? spec.derived!.values(named) : [];
    c.derived?.names.forEach((n, i) => (named[n] = derivedVals[i]));
    if (this.profile) {
      const e = this.profile.get(kernel) ?? { calls: 0, ms: 0 };
      e.calls++;
      this.profile.set(kernel, e);
    }
    const result = spec.result ? spec.result(named) : 0;
    if (spec.passes.length === 0 || spec.skip?.(named)) return result;
    const mark = this.arena.mark();
    try {
      const scr = spec.scratch
        ? this.arena.allocBytes(Math.max(4, spec.scratch(named)), kernel)
        : 0;
      this.#record(c, named, args, derivedVals, scr);
    } finally {
      // The scratch is dead once the passes that use it ran: anything recorded later that reuses
      // these bytes runs after them (one queue, in order).
      this.arena.reset(mark);
    }
    return result;
  }

  #record(
    c: Compiled,
    named: KernelArgs,
    args: readonly number[],
    derivedVals: number[],
    scr: number,
  ): void {
    this.#ensureCapacity(this.arena.used);
    if (this.#slot + 1 > RING_SLOTS) this.flush();
    const base = (this.#slot * SLOT_BYTES) >> 2;
    let w = base;
    const put = (kind: string, v: number, name: string) => {
      switch (kind) {
        case "p":
          if (v % 4 !== 0) throw new KernelError(c.spec.name, `pointer ${name} is not 4-aligned`);
          this.#ringU32[w++] = v >>> 2;
          return;
        case "b":
        case "u":
          this.#ringU32[w++] = v >>> 0;
          return;
        case "i":
          this.#ringI32[w++] = v | 0;
          return;
        case "f":
          this.#ringF32[w++] = v;
          return;
      }
    };
    c.args.kinds.forEach((k, i) => put(k, args[i], c.args.names[i]));
    c.derived?.kinds.forEach((k, i) => put(k, derivedVals[i], c.derived!.names[i]));
    if (c.spec.scratch) this.#ringU32[w++] = scr >>> 2;
    const offset = this.#slot * SLOT_BYTES;
    this.#slot++;
    const timed = this.#query !== null;
    if (timed && this.#queryKernels.length >= QUERY_PAIRS) this.flush();
    const pass = timed ? this.#timedPass(c.spec.name) : this.#openPass();
    c.spec.passes.forEach((p, i) => {
      const g = p.grid(named);
      if (g.some((x) => x === 0)) return;
      pass.setPipeline(c.pipelines[i]);
      pass.setBindGroup(0, this.#bindGroup!, [offset]);
      pass.dispatchWorkgroups(g[0], g[1] ?? 1, g[2] ?? 1);
      this.#dispatches++;
    });
    if (timed) this.#closePass();
  }

  /** A pass of its own for one kernel, with timestamps at its start and end. */
  #timedPass(kernel: string): GPUComputePassEncoder {
    this.#closePass();
    this.#encoder ??= this.device.createCommandEncoder();
    const i = this.#queryKernels.length;
    this.#queryKernels.push(kernel);
    this.#pass = this.#encoder.beginComputePass({
      timestampWrites: {
        querySet: this.#query!,
        beginningOfPassWriteIndex: 2 * i,
        endOfPassWriteIndex: 2 * i + 1,
      },
    });
    return this.#pass;
  }

  /** Resolves the open encoder's timestamps into a buffer that is summed once it is mapped. */
  #resolveTimes(encoder: GPUCommandEncoder): (() => void) | null {
    const kernels = this.#queryKernels;
    if (!this.#query || kernels.length === 0) return null;
    this.#queryKernels = [];
    const bytes = 16 * kernels.length;
    encoder.resolveQuerySet(this.#query, 0, 2 * kernels.length, this.#queryResolve!, 0);
    const read = this.device.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    encoder.copyBufferToBuffer(this.#queryResolve!, 0, read, 0, bytes);
    return () => {
      this.#pendingTimes.push(
        read.mapAsync(GPUMapMode.READ).then(() => {
          const t = new BigUint64Array(read.getMappedRange());
          kernels.forEach((k, i) => {
            const e = this.profile?.get(k);
            if (e && t[2 * i + 1] >= t[2 * i]) e.ms += Number(t[2 * i + 1] - t[2 * i]) / 1e6;
          });
          read.unmap();
          read.destroy();
        }),
      );
    };
  }

  /** Waits until the kernel times of everything submitted are in `profile`. */
  async timings(): Promise<void> {
    this.flush();
    const pending = this.#pendingTimes;
    this.#pendingTimes = [];
    await Promise.all(pending);
  }

  #openPass(): GPUComputePassEncoder {
    this.#encoder ??= this.device.createCommandEncoder();
    this.#pass ??= this.#encoder.beginComputePass();
    return this.#pass;
  }

  #closePass(): void {
    this.#pass?.end();
    this.#pass = null;
  }

  #newBuffer(size: number): GPUBuffer {
    const buf = this.device.createBuffer({
      size,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      label: "thinwire arena",
    });
    this.#bindGroup = this.device.createBindGroup({
      layout: this.#layout,
      entries: [
        { binding: 0, resource: { buffer: buf } },
        { binding: 1, resource: { buffer: this.#uniform, size: SLOT_BYTES } },
      ],
    });
    return buf;
  }

  /** Grows the GPU buffer (copying what it holds) when the arena reached past its end. */
  #ensureCapacity(bytes: number): void {
    if (bytes <= this.#buffer.size) return;
    if (bytes > this.#maxBytes) {
      throw new KernelError(
        "webgpu arena",
        `needs ${bytes} bytes, more than this device binds at once (${this.#maxBytes}); ` +
          `see docs/webgpu.md`,
      );
    }
    const size = Math.floor(
      Math.min(this.#maxBytes, Math.max(bytes, Math.ceil(this.#buffer.size * 1.5))) / 256,
    ) * 256;
    const old = this.#buffer;
    this.#closePass();
    this.#encoder ??= this.device.createCommandEncoder();
    // The new bind group must not be used by passes recorded before the copy: it is not, since
    // those passes already hold the old one.
    const grown = this.#newBuffer(Math.max(size, Math.ceil(bytes / 4) * 4));
    this.#encoder.copyBufferToBuffer(old, 0, grown, 0, old.size);
    this.#buffer = grown;
    this.#retired.push(old);
  }

  /** Records a zero fill of [ptr, ptr + bytes) (4-aligned): what arena.tensor() does on the host. */
  zero(ptr: number, bytes: number): void {
    if (bytes <= 0) return;
    this.run("fill_f32", [ptr, Math.floor(bytes / 4), 0]);
  }

  /**
   * Copies [ptr, ptr + bytes) of the host copy to the GPU, after everything recorded so far
   * (pending work is submitted first). ptr and bytes must be multiples of 4.
   */
  upload(ptr: number, bytes: number): void {
    if (bytes <= 0) return;
    this.uploadFrom(ptr, new Uint8Array(this.memory.buffer, ptr, bytes));
  }

  /**
   * Copies `data` to the GPU at [ptr, ptr + data.length), after everything recorded so far: an
   * upload of bytes the host copied out when it wrote them (the device thread's uploads).
   */
  uploadFrom(ptr: number, data: Uint8Array): void {
    const bytes = data.byteLength;
    if (bytes <= 0) return;
    if (ptr % 4 !== 0 || bytes % 4 !== 0) {
      throw new KernelError("webgpu upload", `range [${ptr}, +${bytes}) is not 4-byte aligned`);
    }
    this.#ensureCapacity(ptr + bytes);
    this.flush();
    this.device.queue.writeBuffer(
      this.#buffer,
      ptr,
      data.buffer as ArrayBuffer,
      data.byteOffset,
      bytes,
    );
  }

  /** Submits what is recorded (no wait). */
  flush(): void {
    this.#closePass();
    if (!this.#encoder) return;
    if (this.#slot > 0) {
      this.device.queue.writeBuffer(this.#uniform, 0, this.#ring, 0, this.#slot * SLOT_BYTES);
    }
    const afterSubmit = this.#resolveTimes(this.#encoder);
    this.device.queue.submit([this.#encoder.finish()]);
    afterSubmit?.();
    this.#encoder = null;
    this.#slot = 0;
    this.#submits++;
  }

  /**
   * Brings GPU data into the host copy: each [ptr, bytes] range (widened to whole words) after
   * everything recorded so far. One submission and one wait (~12 ms on lavapipe and on an H200)
   * for all ranges. Throws a KernelError for any GPU-side error counted since the last one.
   */
  async download(...ranges: [ptr: number, bytes: number][]): Promise<void> {
    const spans = ranges.filter(([, b]) => b > 0).map(([p, b]) => {
      const s = Math.floor(p / 4) * 4, e = Math.ceil((p + b) / 4) * 4;
      return [s, e - s] as [number, number];
    });
    spans.push([this.#status, STATUS_WORDS * 4]);
    // Bytes allocated but never touched by a kernel may lie past the buffer's current end.
    this.#ensureCapacity(Math.max(...spans.map(([p, b]) => p + b)));
    const total = spans.reduce((t, [, b]) => t + b, 0);
    this.#closePass();
    this.#encoder ??= this.device.createCommandEncoder();
    const staging = this.device.createBuffer({
      size: total,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    let at = 0;
    for (const [p, b] of spans) {
      this.#encoder.copyBufferToBuffer(this.#buffer, p, staging, at, b);
      at += b;
    }
    // The status words are read now: reset them on the GPU behind the copy.
    this.#encoder.clearBuffer(this.#buffer, this.#status, STATUS_WORDS * 4);
    this.flush();
    await staging.mapAsync(GPUMapMode.READ);
    const data = new Uint8Array(staging.getMappedRange());
    const mem = new Uint8Array(this.memory.buffer);
    at = 0;
    for (const [p, b] of spans) {
      mem.set(data.subarray(at, at + b), p);
      at += b;
    }
    staging.unmap();
    staging.destroy();
    for (const b of this.#retired) b.destroy();
    this.#retired = [];
    this.#raiseErrors();
  }

  /** A copy of n f32 at ptr, after everything recorded so far. */
  async readF32(ptr: number, n: number): Promise<Float32Array> {
    await this.download([ptr, 4 * n]);
    return this.arena.f32(ptr, n).slice();
  }

  /** A copy of n i32 at ptr, after everything recorded so far. */
  async readI32(ptr: number, n: number): Promise<Int32Array> {
    await this.download([ptr, 4 * n]);
    return this.arena.i32(ptr, n).slice();
  }

  /** Waits for everything recorded so far to finish; raises deferred errors. */
  async sync(): Promise<void> {
    await this.download();
  }

  #raiseErrors(): void {
    const words = this.arena.u32(this.#status, STATUS_WORDS);
    const bad = this.#checks.find((c) => words[c.word] > 0);
    words.fill(0);
    const gpuErr = this.#errors.shift();
    this.#errors = [];
    if (gpuErr) throw new Error(`WebGPU error: ${gpuErr}`);
    if (bad) {
      throw new KernelError(
        bad.kernel,
        `${bad.what} has NaN/Inf value(s) (of ${bad.n}; on the GPU)`,
      );
    }
  }

  /**
   * Backend.checkFinite, deferred: counts NaN/Inf entries of the n f32 at ptr on the GPU; a
   * nonzero count is thrown at the next download or sync.
   */
  checkFinite(kernel: string, what: string, ptr: number, n: number): void {
    this.run("count_nonfinite_status", [ptr, n, this.statusWord(kernel, what, n)]);
  }

  /** The byte offset of the status word that counts problems of (kernel, what). */
  statusWord(kernel: string, what: string, n: number): number {
    const key = `${kernel}\0${what}`;
    let word = this.#checkWord.get(key);
    if (word === undefined) {
      word = this.#checkWord.size % STATUS_WORDS;
      this.#checkWord.set(key, word);
      this.#checks.push({ word, kernel, what, n });
    }
    return this.#status + 4 * word;
  }

  /** Releases the GPU buffers, and the device when this backend acquired it. */
  close(): void {
    this.#closePass();
    this.#encoder = null;
    this.#buffer.destroy();
    this.#uniform.destroy();
    this.#query?.destroy();
    this.#queryResolve?.destroy();
    for (const b of this.#retired) b.destroy();
    this.device.removeEventListener("uncapturederror", this.#onError);
    if (this.#ownsDevice) this.device.destroy();
    this.host.close();
  }
}

/** Line `n` (1-based) of a shader, for compile errors. */
function lineOf(src: string, n: number): string {
  return (src.split("\n")[n - 1] ?? "").trim();
}

/** What a GPU arena needs of its backend: a recorded zero fill and the binding limit. */
export interface ArenaDevice {
  zero(ptr: number, bytes: number): void;
  readonly maxBytes: number;
}

/**
 * A GPU backend's arena: the CPU arena class over the host copy (the WASM module's memory), whose
 * `tensor()` also zeroes the tensor on the GPU and whose allocations stop at what the device
 * binds at once.
 */
export class GpuArena extends Arena {
  constructor(readonly gpu: ArenaDevice, memory: WebAssembly.Memory, maxBytes: number) {
    super(memory, maxBytes);
  }

  override tensor(shape: readonly number[], what?: string) {
    const t = super.tensor(shape, what);
    this.gpu.zero(t.ptr, 4 * t.size);
    return t;
  }

  override allocBytes(bytes: number, what = "tensor"): number {
    const at = Math.ceil(this.used / 64) * 64;
    if (at + bytes > this.gpu.maxBytes) {
      throw new KernelError(
        "arena",
        `out of WebGPU memory allocating ${what} (${bytes} bytes at ${at}; this device binds ` +
          `${this.gpu.maxBytes} bytes at once)`,
      );
    }
    return super.allocBytes(bytes, what);
  }
}
