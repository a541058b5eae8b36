/**
 * Magnitude top-k of a weight tensor, in place (asm/kernels/topk.ts), and the sparsity counts
 * the training metrics report. docs/method.md §2: after every optimizer step each sparse tensor keeps
 * its k largest-|w| entries; block matrices first protect the j = 4 largest of every neuron.
 *
 * The rule mirrors `apply_topk_` in openai/circuit_sparsity's train.py (minimal release,
 * "achyuta_mixed_neuronwise_v2" with minimum_alive_per_neuron = j):
 *   - k is clamped to the tensor size;
 *   - the j largest |w| of every neuron (every row for axis "row" — c_fc, c_attn; every column
 *     for "col" — the c_proj matrices) get score 1e10 (here: +∞, so they are kept even above
 *     1e10), then the global top-k of the scores is kept: k INCLUDES the rows·j (or cols·j)
 *     protected entries, and the number kept is exactly k;
 *   - k < j·neurons is an error there ("ur L0 is too small for ur min alive") and here.
 * torch.topk leaves ties unspecified; here the lower flat index wins, both within a neuron and
 * globally. Kept positions that hold zeros stay zero (the count kept is positions, not nonzeros).
 */
import type { ComputeBackend } from "../backend.ts";
import { KernelError } from "../../errors.ts";
import { deviceResult } from "./layer_args.ts";

const HI_BINS = 1 << 16;
const LO_BINS = 1 << 15;
/** High bucket of +∞'s key: above every finite key's, below that of protected entries' MARK. */
const BUCKET_INF = 0x7f800000 >>> 15;

export type NeuronAxis = "row" | "col" | "none";

function checkPtr(kernel: string, name: string, p: number, shapes: string): void {
  if (!Number.isInteger(p) || p <= 0 || p % 4 !== 0) {
    throw new KernelError(
      kernel,
      `pointer ${name} must be a positive multiple of 4, got ${p} (${shapes})`,
    );
  }
}

function checkShape(kernel: string, rows: number, cols: number, shapes: string): void {
  for (const [name, v] of [["rows", rows], ["cols", cols]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new KernelError(kernel, `${name} must be a positive integer, got ${v} (${shapes})`);
    }
  }
  if (rows * cols > 0x7fffffff) throw new KernelError(kernel, `too many entries (${shapes})`);
}

/**
 * Keeps the k largest-|w| entries of W[rows, cols] (row-major f32) in place, zeroing the rest;
 * first protects the j largest of every neuron (axis "row": each row; "col": each column;
 * "none": no protection), and those count towards k. Ties: lower flat index wins.
 * Returns the number of positions kept, min(k, rows·cols). Throws KernelError on NaN/Inf in W,
 * on k < j·neurons, or j > neuron length.
 *
 * unlessAbove (a GPU only): the byte offset of a u32 on the device; W is left as it is unless
 * that count exceeds k. It lets a caller that would prune only past k nonzeros (the
 * sparse-gradient mode, src/train/kept_grads.ts) record the decision without reading the count.
 */
export function magnitudeTopK(
  be: ComputeBackend,
  p: {
    w: number;
    rows: number;
    cols: number;
    k: number;
    j?: number;
    axis?: NeuronAxis;
    unlessAbove?: number;
  },
): number {
  const name = "magnitude_topk";
  const { w, rows, cols } = p;
  const axis = p.axis ?? "none";
  const j = axis === "none" ? 0 : p.j ?? 4;
  const shapes = `W [${rows}, ${cols}] k=${p.k} j=${j} axis=${axis}`;
  checkShape(name, rows, cols, shapes);
  checkPtr(name, "w", w, shapes);
  const n = rows * cols;
  if (!Number.isInteger(p.k) || p.k < 0) {
    throw new KernelError(name, `k must be a non-negative integer (${shapes})`);
  }
  if (!["row", "col", "none"].includes(axis)) {
    throw new KernelError(name, `axis must be "row", "col" or "none" (${shapes})`);
  }
  if (!Number.isInteger(j) || j < 0) {
    throw new KernelError(name, `j must be a non-negative integer (${shapes})`);
  }
  const neurons = axis === "row" ? rows : axis === "col" ? cols : 0;
  const length = axis === "row" ? cols : rows;
  if (j > 0 && j > length) {
    throw new KernelError(name, `j exceeds the neuron length ${length} (${shapes})`);
  }
  const k = Math.min(p.k, n);
  const nProt = neurons * j;
  if (k < nProt) {
    throw new KernelError(name, `k is below the ${nProt} protected entries j·neurons (${shapes})`);
  }
  if (be.forms) return be.forms.magnitudeTopK(p);
  if (p.unlessAbove !== undefined) {
    throw new KernelError(name, `unlessAbove is for a GPU, whose caller cannot read the count`);
  }
  if (k === n) {
    be.checkFinite(name, "W", w, n);
    return n;
  }

  const arena = be.arena;
  const mark = arena.mark();
  try {
    const parts = be.threads;
    const hist = arena.allocBytes(parts * HI_BINS * 4, "topk histograms");
    const prot = arena.allocBytes(Math.max(1, nProt) * 8, "topk protected entries");
    const aux = arena.allocBytes(Math.max(1, cols) * 4, "topk column state");
    const state = arena.allocBytes(8 * 4, "topk state");
    const st = () => arena.i32(state, 8);
    const axisCode = j === 0 ? 0 : axis === "row" ? 1 : 2;
    if (axisCode === 2) be.run("topk_aux_reset", [aux, cols], cols);
    const scanned = be.run("topk_scan_f32", [w, rows, cols, axisCode, j, prot, aux, hist], n);
    const need = k - nProt;
    be.run("topk_select_bucket", [hist, scanned, prot, nProt, Math.max(need, 1), state], 0);
    if (st()[0] > 0) be.checkFinite(name, "W", w, n); // throws, naming the count
    if (nProt > 0) be.run("topk_mark_protected", [w, prot, nProt], nProt);
    const counts = arena.allocBytes(parts * 4, "topk candidate counts");
    if (need === 0) {
      // Nothing unprotected stays: a bucket above every finite key zeroes them all.
      be.run("topk_split_bucket", [w, n, BUCKET_INF, counts, 0, counts], n);
    } else {
      const [, bucket, take, size] = st();
      // One list per thread; the branch-free append writes one slot past a list's end.
      const cap = size + 4;
      const cand = arena.allocBytes(parts * cap * 4, "topk candidates");
      const hist2 = arena.allocBytes(LO_BINS * 4, "topk refine histogram");
      const lists = be.run("topk_split_bucket", [w, n, bucket, cand, cap, counts], n);
      be.run("topk_refine", [w, cand, cap, counts, lists, bucket, take, hist2], 0);
    }
    if (nProt > 0) be.run("topk_restore_protected", [w, prot, nProt], nProt);
    return k;
  } finally {
    arena.reset(mark);
  }
}

/** Number of nonzero entries among the n f32 at w (±0 count as zero). */
export function countNonzero(be: ComputeBackend, p: { w: number; n: number }): number {
  const name = "count_nonzero_f32";
  const shapes = `w [${p.n}]`;
  if (!Number.isInteger(p.n) || p.n < 0 || p.n > 0x7fffffff) {
    throw new KernelError(name, `n must be a non-negative integer (${shapes})`);
  }
  checkPtr(name, "w", p.w, shapes);
  const gpu = be.forms;
  if (gpu) return deviceResult(be, 1, (out) => gpu.countNonzero({ ...p, out })).u32[0];
  const arena = be.arena;
  const mark = arena.mark();
  try {
    const out = arena.allocBytes(be.threads * 4, "nonzero counts");
    const parts = be.run(name, [p.w, p.n, out], p.n);
    return arena.i32(out, parts).reduce((a, b) => a + b, 0);
  } finally {
    arena.reset(mark);
  }
}

/** Neurons of W[rows, cols] with at least one nonzero: rows for axis "row", columns for "col". */
export function aliveNeurons(
  be: ComputeBackend,
  p: { w: number; rows: number; cols: number; axis: "row" | "col" },
): number {
  const name = "alive_neurons_f32";
  const shapes = `W [${p.rows}, ${p.cols}] axis=${p.axis}`;
  checkShape(name, p.rows, p.cols, shapes);
  checkPtr(name, "w", p.w, shapes);
  if (p.axis !== "row" && p.axis !== "col") {
    throw new KernelError(name, `axis must be "row" or "col" (${shapes})`);
  }
  const gpu = be.forms;
  if (gpu) return deviceResult(be, 1, (out) => gpu.aliveNeurons({ ...p, out })).u32[0];
  const arena = be.arena;
  const mark = arena.mark();
  try {
    const out = arena.allocBytes(be.threads * 4, "alive counts");
    const flags = arena.allocBytes(p.cols * 4, "alive column flags");
    const parts = be.run(name, [
      p.w,
      p.rows,
      p.cols,
      p.axis === "row" ? 1 : 2,
      flags,
      out,
    ], p.rows * p.cols);
    return arena.i32(out, parts).reduce((a, b) => a + b, 0);
  } finally {
    arena.reset(mark);
  }
}
