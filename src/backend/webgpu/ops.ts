/**
 * GPU forms of the ops whose CPU wrappers need a kernel's result on the host before they go on
 * (src/backend/ops/: top-k reads its selection state, SparseMatrix.update does its prefix sums
 * in TypeScript, the reductions return numbers). Same arguments and rules as the CPU wrappers;
 * what the CPU returns is written to an arena pointer `out` instead and stays on the device
 * until the caller downloads it, so a training step records without waiting. Errors the CPU
 * throws at once (NaN/Inf in a top-k input) surface at the next download or sync.
 */
import type { ComputeBackend, DeviceForms } from "../backend.ts";
import { SparseMatrix } from "../ops/sparse.ts";
import { KernelError } from "../../errors.ts";
import { SUMSQ_BLOCK } from "./kernels/reduce.ts";
import { TOPK_CHUNK } from "./kernels/topk.ts";

/**
 * What the GPU forms record through: either WebGPU backend (the commands' WebGpuBackend, or the
 * in-thread GpuBackend the kernel tests drive).
 */
export type GpuRecorder = Pick<ComputeBackend, "run" | "arena" | "checkFinite">;

/** Runs fn with `bytes` of arena scratch, released afterwards (safe: the queue runs in order). */
function withScratch<T>(g: GpuRecorder, bytes: number, fn: (ptr: number) => T): T {
  const mark = g.arena.mark();
  try {
    return fn(g.arena.allocBytes(Math.max(64, bytes), "webgpu op scratch"));
  } finally {
    g.arena.reset(mark);
  }
}

function checkPtr(kernel: string, name: string, p: number): void {
  if (!Number.isInteger(p) || p <= 0 || p % 4 !== 0) {
    throw new KernelError(kernel, `pointer ${name} must be a positive multiple of 4, got ${p}`);
  }
}

/**
 * ops.magnitudeTopK on the GPU: keeps the k largest |w| of W [rows, cols] in place (the j
 * largest of every neuron protected and counted in k; ties to the lower flat index). Returns
 * min(k, rows·cols), known on the host. NaN/Inf in W is reported at the next sync. Reached only
 * through ops.magnitudeTopK, after its argument checks.
 */
export function magnitudeTopK(
  g: GpuRecorder,
  p: Parameters<DeviceForms["magnitudeTopK"]>[0],
): number {
  const name = "magnitude_topk";
  const { w, rows, cols } = p;
  const axis = p.axis ?? "none";
  const j = axis === "none" ? 0 : p.j ?? 4;
  const n = rows * cols;
  const neurons = axis === "row" ? rows : axis === "col" ? cols : 0;
  const k = Math.min(p.k, n);
  const nProt = neurons * j;
  if (p.unlessAbove !== undefined) checkPtr(name, "unlessAbove", p.unlessAbove);
  g.checkFinite(name, "W", w, n);
  if (k === n) return n;
  const groups = Math.ceil(n / TOPK_CHUNK);
  const axisCode = j === 0 ? 0 : axis === "row" ? 1 : 2;
  const need = k - nProt;
  const words = 2 * Math.max(1, neurons) + 4 + 256 * groups + groups;
  withScratch(g, 4 * words, (s) => {
    const prot = s, state = prot + 8 * Math.max(1, neurons), partials = state + 16;
    const counts = partials + 4 * 256 * groups;
    const shape = [w, n, rows, cols, axisCode, j, prot, state];
    if (nProt > 0) g.run("topk_protect", [w, rows, cols, axisCode, j, prot]);
    if (need > 0) {
      for (let round = 0; round < 4; round++) {
        g.run("topk_hist", [...shape, partials, round]);
        g.run("topk_scan", [partials, groups, state, need, round]);
      }
      g.run("topk_tie_count", [...shape, counts]);
      g.run("topk_tie_find", [...shape, counts]);
    }
    g.run("topk_apply", [...shape, need === 0 ? 1 : 0, k, p.unlessAbove ?? 0]);
  });
  return k;
}

/**
 * A weight's CSR and CSC forms rebuilt on the GPU (SparseMatrix with update done by kernels).
 * The host does not know the entry count: `nnz` is the capacity rows·cols, an upper bound every
 * wrapper accepts (buffers are sized for it); the kernels read the real count at rowPtr[rows].
 */
export class GpuSparseMatrix extends SparseMatrix {
  constructor(
    readonly gpu: GpuRecorder & { readonly threads: number },
    rows: number,
    cols: number,
  ) {
    // SparseMatrix allocates and runs kernels only: what a recorder has.
    super(gpu as ComputeBackend, rows, cols);
  }

  override get nnz(): number {
    return this.rows * this.cols;
  }

  /** Rebuilds both forms from the dense weight at wPtr; returns the capacity (see nnz). */
  override update(wPtr: number): number {
    checkPtr("sparse_update", "w", wPtr);
    const { gpu: g, rows, cols } = this;
    g.run("sparse_row_counts", [wPtr, rows, cols, this.rowPtr]);
    g.run("scan_u32", [this.rowPtr, rows]);
    g.run("sparse_col_counts", [wPtr, rows, cols, this.colPtr]);
    g.run("scan_u32", [this.colPtr, cols]);
    g.run("sparse_fill_rows", [wPtr, rows, cols, this.rowPtr, this.rowIdx, this.rowVal]);
    g.run("sparse_fill_cols", [wPtr, rows, cols, this.colPtr, this.colIdx, this.colVal]);
    return this.nnz;
  }

  /**
   * The CPU re-reads values at the kept positions and reports positions that became zero; here
   * the forms are rebuilt, which keeps them equal to W's nonzeros, so there is never a stale
   * position to report (0).
   */
  override refreshValues(wPtr: number): number {
    this.update(wPtr);
    return 0;
  }
}

/** Σ x² of one or more spans into block partials at `partials` (one f32 per 8192 floats). */
function sumsqSpans(g: GpuRecorder, spans: [number, number][], partials: number): number {
  let blocks = 0;
  for (const [ptr, n] of spans) {
    if (n < 0 || !Number.isInteger(n)) {
      throw new KernelError("grad_rms_normalize", `span length must be a non-negative integer`);
    }
    if (n > 0) g.run("sumsq_partials", [ptr, n, partials + 4 * blocks]);
    blocks += Math.ceil(n / SUMSQ_BLOCK);
  }
  return blocks;
}

/**
 * ops.gradRmsNormalizeSpans on the GPU: every span divided by (rms + 1e-5), rms over their
 * union. out (2 f32, optional) receives rms and 1/(rms + 1e-5). With `count` the RMS divides by
 * a count only the device knows (DeviceForms.gradRmsNormalizeSpans).
 */
export function gradRmsNormalizeSpans(
  g: GpuRecorder,
  spans: [ptr: number, n: number][],
  out?: number,
  count?: { base: number; words: number; n: number },
): void {
  const name = "grad_rms_normalize";
  const total = spans.reduce((t, [, n]) => t + n, 0);
  if (total <= 0) throw new KernelError(name, "no entries to normalise");
  if (count) {
    const { base, n } = count;
    if (!Number.isInteger(base) || base < 0 || !Number.isInteger(n) || n < 1) {
      throw new KernelError(name, `count needs a base ≥ 0 and n ≥ 1 words, got ${base}, ${n}`);
    }
    checkPtr(name, "count.words", count.words);
  }
  const blocks = spans.reduce((b, [, n]) => b + Math.ceil(n / SUMSQ_BLOCK), 0);
  withScratch(g, 4 * blocks + 16, (s) => {
    const res = out ?? s + 4 * blocks;
    if (out !== undefined) checkPtr(name, "out", out);
    sumsqSpans(g, spans, s);
    if (count) g.run("rms_finish_words", [s, blocks, count.base, count.words, count.n, res]);
    else g.run("rms_finish", [s, blocks, total, res]);
    for (const [ptr, n] of spans) if (n > 0) g.run("scale_by_word", [ptr, n, res + 4]);
  });
}

/** ops.gradRmsNormalize on the GPU (one span); out as gradRmsNormalizeSpans. */
export function gradRmsNormalize(g: GpuRecorder, a: { grad: number; n: number; out?: number }) {
  gradRmsNormalizeSpans(g, [[a.grad, a.n]], a.out);
}

/**
 * ops.sumSquares on the GPU, and the clipping pruning does with it (`if (norm > clip) scale`):
 * out (3 f32) = Σx², ‖x‖, and the factor applied; with `clip`, x is scaled by clip/‖x‖ when
 * ‖x‖ > clip (by 1, which changes no bit, otherwise).
 */
export function sumSquares(
  g: GpuRecorder,
  a: { x: number; n: number; out: number; clip?: number },
): void {
  checkPtr("sum_squares", "out", a.out);
  if (!Number.isInteger(a.n) || a.n < 1) {
    throw new KernelError("sum_squares", `n must be a positive integer, got ${a.n}`);
  }
  const blocks = Math.ceil(a.n / SUMSQ_BLOCK);
  withScratch(g, 4 * blocks, (s) => {
    sumsqSpans(g, [[a.x, a.n]], s);
    g.run("norm_finish", [s, blocks, a.clip ?? Infinity, a.out]);
    if (a.clip !== undefined) g.run("scale_by_word", [a.x, a.n, a.out + 8]);
  });
}

/** ops.meanLoss on the GPU: out (f32) = mean of losses [N] over tokens with a target ≥ 0. */
export function meanLoss(
  g: GpuRecorder,
  a: { losses: number; targets?: number; N: number; out: number },
): void {
  checkPtr("mean_loss", "out", a.out);
  g.run("mean_loss_to", [a.losses, a.targets ?? 0, a.N, a.out]);
}

/** ops.countNonzero on the GPU: out (u32) = nonzero entries among n f32 at w. */
export function countNonzero(g: GpuRecorder, a: { w: number; n: number; out: number }): void {
  checkPtr("count_nonzero", "out", a.out);
  g.run("count_nonzero_to", [a.w, a.n, a.out]);
}

/** ops.aliveNeurons on the GPU: out (u32) = rows ("row") or columns ("col") with a nonzero. */
export function aliveNeurons(
  g: GpuRecorder,
  a: { w: number; rows: number; cols: number; axis: "row" | "col"; out: number },
): void {
  checkPtr("alive_neurons", "out", a.out);
  g.run("alive_neurons_to", [a.w, a.rows, a.cols, a.axis === "row" ? 1 : 2, a.out]);
}

/** The GPU forms as a backend's `forms` (ComputeBackend.forms), recording through `g`. */
export function deviceForms(g: GpuRecorder & { readonly threads: number }): DeviceForms {
  return {
    magnitudeTopK: (p) => magnitudeTopK(g, p),
    gradRmsNormalizeSpans: (spans, out, count) => gradRmsNormalizeSpans(g, spans, out, count),
    sumSquares: (a) => sumSquares(g, a),
    meanLoss: (a) => meanLoss(g, a),
    countNonzero: (a) => countNonzero(g, a),
    aliveNeurons: (a) => aliveNeurons(g, a),
    sparseMatrix: (rows, cols) => new GpuSparseMatrix(g, rows, cols),
  };
}
