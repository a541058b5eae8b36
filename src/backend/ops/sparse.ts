/**
 * Sparse weight × dense activation products (asm/kernels/sparse.ts) for weight-sparse layers.
 *
 * The dense weight W [rows=out, cols=in] stays the master copy (the optimizer updates it densely);
 * after each top-k step `SparseMatrix.update` rebuilds a compressed copy of it, by rows for the
 * forward product and by columns for the input gradient. With feature-major activations:
 *   forward          Y[out,N]  = W · X + b     spmmForward({ w, x: X, y: Y, N, bias })
 *   input gradient   dX[in,N] (+)= Wᵀ · dY     spmmBackwardInput({ w, dy: dY, dx: dX, N, accumulate })
 * The method's weight gradient dW = dY·Xᵀ is dense (docs/method.md §2): use gemm. The sparse-gradient
 * mode (src/train/kept_grads.ts) wants it at the stored positions only:
 *   kept weight gradient  g[nnz] = (dY·Xᵀ)[pattern]  sddmm({ w, dy: dY, x: X, N, out: g })
 * in CSR order, equal to the dense gemm's dW at those positions bit for bit; csrGather picks the
 * same values out of a dense dW.
 *
 * Results equal the dense gemm's bit for bit up to the sign of zero (same summation order with
 * zero weights skipped), whatever the thread count.
 */
import type { ComputeBackend } from "../backend.ts";
import { KernelError } from "../../errors.ts";

declare module "../backend.ts" {
  interface DeviceForms {
    /**
     * A SparseMatrix whose forms the device rebuilds (GpuSparseMatrix): its `nnz` is the
     * capacity rows·cols, the kernels read the real count at rowPtr[rows].
     */
    sparseMatrix(rows: number, cols: number): SparseMatrix;
  }
}

function checkCount(kernel: string, name: string, v: number, shapes: string): void {
  if (!Number.isInteger(v) || v < 1 || v > 0x7fffffff) {
    throw new KernelError(kernel, `${name} must be a positive integer, got ${v} (${shapes})`);
  }
}

function checkPtr(kernel: string, name: string, p: number, shapes: string): void {
  if (!Number.isInteger(p) || p <= 0 || p % 4 !== 0) {
    throw new KernelError(
      kernel,
      `pointer ${name} must be a positive multiple of 4, got ${p} (${shapes})`,
    );
  }
}

/**
 * Arena storage for a compressed copy of a rows×cols f32 weight, by rows (CSR, for y = W·x) and by
 * columns (CSC, for dx = Wᵀ·dy): an index and a value per stored entry in each form, 16 bytes an
 * entry. The capacity is the dense worst case by default (rows·cols entries), so a matrix being
 * trained can go from dense to sparse during L0 annealing without reallocating; a model opened
 * for inference sizes it to the weight's nonzeros (src/model/linear.ts).
 */
export class SparseMatrix {
  /** CSR row pointers [rows+1]: entries of row r at [rowPtr[r], rowPtr[r+1]). */
  readonly rowPtr: number;
  /** CSR column indices (i32) and values (f32), by increasing column within a row. */
  readonly rowIdx: number;
  readonly rowVal: number;
  /** CSC column pointers [cols+1]. */
  readonly colPtr: number;
  /** CSC row indices and values, by increasing row within a column. */
  readonly colIdx: number;
  readonly colVal: number;
  /** Per row part, per column: counts of rebuild pass 1, then each part's first CSC slot. */
  readonly #colPart: number;
  #nnz = 0;

  /** Entries each form can hold. */
  readonly capacity: number;

  constructor(
    readonly be: ComputeBackend,
    readonly rows: number,
    readonly cols: number,
    capacity = rows * cols,
  ) {
    const shapes = `W [${rows}, ${cols}]`;
    checkCount("SparseMatrix", "rows", rows, shapes);
    checkCount("SparseMatrix", "cols", cols, shapes);
    if (rows * cols > 0x7fffffff) {
      throw new KernelError("SparseMatrix", `too many entries (${shapes})`);
    }
    if (!Number.isInteger(capacity) || capacity < 0 || capacity > rows * cols) {
      throw new KernelError("SparseMatrix", `capacity must be in [0, rows·cols], got ${capacity}`);
    }
    this.capacity = capacity;
    const n = Math.max(1, capacity);
    const a = be.arena;
    // tensor() zeroes: before the first update the matrix is empty (all zeros).
    this.rowPtr = a.tensor([rows + 1], "sparse row pointers").ptr;
    this.colPtr = a.tensor([cols + 1], "sparse column pointers").ptr;
    this.#colPart = a.allocBytes(be.threads * cols * 4, "sparse column counts");
    this.rowIdx = a.allocBytes(n * 4, "sparse row indices");
    this.rowVal = a.allocBytes(n * 4, "sparse row values");
    this.colIdx = a.allocBytes(n * 4, "sparse column indices");
    this.colVal = a.allocBytes(n * 4, "sparse column values");
  }

  /** Number of stored (nonzero) entries. */
  get nnz(): number {
    return this.#nnz;
  }

  /**
   * Rebuilds both forms from the dense row-major weight at wPtr (entries equal to ±0 skipped).
   * Returns nnz.
   */
  update(wPtr: number): number {
    const { be, rows, cols } = this;
    const shapes = `W [${rows}, ${cols}]`;
    checkPtr("sparse_count_f32", "w", wPtr, shapes);
    const work = rows * cols;
    const parts = be.run("sparse_count_f32", [wPtr, rows, cols, this.rowPtr, this.#colPart], work);
    // Counts → offsets (integer bookkeeping): row pointers in place; column pointers from the
    // per-part column counts, which become each part's first slot in every column.
    const a = be.arena;
    const nnz = toPrefix(a.i32(this.rowPtr, rows + 1));
    if (nnz > this.capacity) {
      throw new KernelError(
        "sparse_fill_f32",
        `${nnz} nonzeros exceed the matrix's capacity of ${this.capacity} (${shapes})`,
      );
    }
    const colPtr = a.i32(this.colPtr, cols + 1);
    const part = a.i32(this.#colPart, parts * cols);
    let at = 0;
    for (let c = 0; c < cols; c++) {
      colPtr[c] = at;
      for (let t = 0; t < parts; t++) {
        const count = part[t * cols + c];
        part[t * cols + c] = at;
        at += count;
      }
    }
    colPtr[cols] = at;
    if (at !== nnz) throw new Error(`SparseMatrix.update: row nnz ${nnz} != column nnz ${at}`);
    be.run("sparse_fill_f32", [
      wPtr,
      rows,
      cols,
      parts,
      this.rowPtr,
      this.rowIdx,
      this.rowVal,
      this.#colPart,
      this.colIdx,
      this.colVal,
    ], work);
    this.#nnz = nnz;
    return nnz;
  }

  /**
   * Re-reads both forms' values from the dense weight at wPtr, keeping the stored positions (after
   * an optimizer step that touched only those). Returns how many stored positions now hold ±0:
   * when that is not 0 the pattern no longer matches the weight's nonzeros, and `update` must run.
   */
  refreshValues(wPtr: number): number {
    const { be, rows, cols } = this;
    checkPtr("sparse_refresh_values_f32", "w", wPtr, `W [${rows}, ${cols}]`);
    const mark = be.arena.mark();
    try {
      const zeros = be.arena.allocBytes(be.threads * 4, "sparse zero counts");
      const parts = be.run("sparse_refresh_values_f32", [
        wPtr,
        rows,
        cols,
        this.rowPtr,
        this.rowIdx,
        this.rowVal,
        this.colPtr,
        this.colIdx,
        this.colVal,
        zeros,
      ], 2 * this.#nnz);
      return be.arena.i32(zeros, parts).reduce((a, b) => a + b, 0);
    } finally {
      be.arena.reset(mark);
    }
  }
}

/** Counts c[0..n-1] → exclusive prefix sums in place, total at c[n]; returns the total. */
function toPrefix(c: Int32Array): number {
  let sum = 0;
  const n = c.length - 1;
  for (let i = 0; i < n; i++) {
    const v = c[i];
    c[i] = sum;
    sum += v;
  }
  c[n] = sum;
  return sum;
}

/**
 * Columns per tile when the source has S rows: a tile of every row (S·T·4 bytes) should stay in
 * one core's L2 while all output rows use it; T is a multiple of the kernel's 32-column step.
 */
function tileWidth(S: number): number {
  return S <= 2048 ? 64 : 32;
}

/**
 * Runs `product(src, T, packed)` for a source src [S, N] read through nnz entries, in column
 * tiles of width T. Rows 1 KiB or more apart (N >= 256) alias in the caches; when such a source
 * has more than one tile and its rows are read more than about twice, it is packed tile by tile
 * into scratch first (spmm_pack_f32).
 */
function withTiles(
  be: ComputeBackend,
  src: number,
  S: number,
  N: number,
  nnz: number,
  product: (src: number, T: number, packed: number) => void,
): void {
  const T = Math.min(tileWidth(S), N);
  if (N <= T || N < 256 || nnz < 2 * S) return product(src, T, 0);
  const mark = be.arena.mark();
  try {
    const packed = be.arena.allocBytes(S * N * 4, "spmm packed source");
    be.run("spmm_pack_f32", [src, S, N, T, packed], S * N);
    product(packed, T, 1);
  } finally {
    be.arena.reset(mark);
  }
}

/** y[rows,N] = W·x[cols,N] + bias[rows] (bias optional, omitted or 0 for none); overwrites y. */
export function spmmForward(
  be: ComputeBackend,
  p: { w: SparseMatrix; x: number; y: number; N: number; bias?: number },
): void {
  const name = "spmm_forward_f32";
  const { w, N } = p;
  const shapes = `W [${w.rows}, ${w.cols}] x [${w.cols}, ${N}] y [${w.rows}, ${N}]`;
  checkCount(name, "N", N, shapes);
  checkPtr(name, "x", p.x, shapes);
  checkPtr(name, "y", p.y, shapes);
  if (p.bias) checkPtr(name, "bias", p.bias, shapes);
  if (w.be !== be) throw new KernelError(name, `W belongs to another backend (${shapes})`);
  withTiles(
    be,
    p.x,
    w.cols,
    N,
    w.nnz,
    (x, T, packed) =>
      be.run(
        name,
        [w.rowPtr, w.rowIdx, w.rowVal, x, T, packed, p.y, p.bias ?? 0, w.rows, w.cols, N],
        2 * (w.nnz + w.rows) * N,
      ),
  );
}

/**
 * dx[cols,N] (+)= Wᵀ·dy[rows,N]; accumulate adds to dx instead of overwriting it (like gemm).
 *
 * live (optional, CPU only): an f32 per row of dy, 0 where that row holds only zeros (±0), as an
 * ablated node's gradient rows do after the ablation's backward (m·dout with m = 0). Those rows'
 * entries are left out of the product (csc_live_rows_f32), which then costs what the live rows
 * cost. Overwriting, the result is the same bits: an accumulator that starts at +0 never becomes
 * −0 in round-to-nearest, so adding ±0 never changes it. Accumulating (dx may hold −0), and on
 * a device (no sparse products), every row is used.
 */
export function spmmBackwardInput(
  be: ComputeBackend,
  p: { w: SparseMatrix; dy: number; dx: number; N: number; accumulate?: boolean; live?: number },
): void {
  const name = "spmm_backward_input_f32";
  const { w, N } = p;
  const shapes = `W [${w.rows}, ${w.cols}] dy [${w.rows}, ${N}] dx [${w.cols}, ${N}]`;
  checkCount(name, "N", N, shapes);
  checkPtr(name, "dy", p.dy, shapes);
  checkPtr(name, "dx", p.dx, shapes);
  if (w.be !== be) throw new KernelError(name, `W belongs to another backend (${shapes})`);
  const product = (colPtr: number, colIdx: number, colVal: number, nnz: number) =>
    withTiles(be, p.dy, w.rows, N, nnz, (dy, T, packed) =>
      be.run(name, [
        colPtr,
        colIdx,
        colVal,
        dy,
        T,
        packed,
        p.dx,
        p.accumulate ? 1 : 0,
        w.rows,
        w.cols,
        N,
      ], 2 * (nnz + w.cols) * N));
  if (!p.live || p.accumulate || be.kind !== "cpu") {
    return product(w.colPtr, w.colIdx, w.colVal, w.nnz);
  }
  checkPtr(name, "live", p.live, shapes);
  const a = be.arena, mark = a.mark();
  try {
    const ptr = a.allocBytes(4 * (w.cols + 1), "live column pointers");
    const idx = a.allocBytes(4 * Math.max(1, w.nnz), "live row indices");
    const val = a.allocBytes(4 * Math.max(1, w.nnz), "live values");
    const nnz = be.run("csc_live_rows_f32", [
      w.colPtr,
      w.colIdx,
      w.colVal,
      p.live,
      w.cols,
      ptr,
      idx,
      val,
    ], 0);
    product(ptr, idx, val, nnz);
  } finally {
    a.reset(mark);
  }
}

/**
 * Tokens per tile of sddmm. Every stored entry reads a run of this many floats of two rows, so
 * long runs keep the prefetchers busy (bench at the small preset's shapes, ef 1 and 4: 512 and
 * whole rows of 2048 tokens ran 1.5-3× faster than packed 64-token tiles), while a tile of x
 * (rows × 2 KiB) still fits a laptop's last-level cache.
 */
const SDDMM_TILE = 512;

/**
 * The weight gradient at W's stored positions only (a sampled dense-dense product):
 * out[e] = Σ_n dy[r, n]·x[c, n] for the e-th entry (r, c) of the CSR form, in CSR order; out
 * [w.nnz] is overwritten. dy [rows, N], x [cols, N]. Sums in the dense gemm's order, so out equals
 * gemm's dW = dy·xᵀ at those positions bit for bit.
 */
export function sddmm(
  be: ComputeBackend,
  p: { w: SparseMatrix; dy: number; x: number; N: number; out: number },
): void {
  const name = "sddmm_f32";
  const { w, N } = p;
  const shapes = `W [${w.rows}, ${w.cols}] dy [${w.rows}, ${N}] x [${w.cols}, ${N}] out [${w.nnz}]`;
  checkCount(name, "N", N, shapes);
  checkPtr(name, "dy", p.dy, shapes);
  checkPtr(name, "x", p.x, shapes);
  checkPtr(name, "out", p.out, shapes);
  if (w.be !== be) throw new KernelError(name, `W belongs to another backend (${shapes})`);
  if (w.nnz === 0) return;
  be.run(
    name,
    [w.rowPtr, w.rowIdx, w.rows, p.dy, p.x, Math.min(SDDMM_TILE, N), N, p.out],
    2 * w.nnz * N,
  );
}

/** out[e] = dense[r, c] for the e-th entry (r, c) of W's CSR form; dense is [rows, cols]. */
export function csrGather(
  be: ComputeBackend,
  p: { w: SparseMatrix; dense: number; out: number },
): void {
  const name = "csr_gather_f32";
  const { w } = p;
  const shapes = `W [${w.rows}, ${w.cols}] dense [${w.rows}, ${w.cols}] out [${w.nnz}]`;
  checkPtr(name, "dense", p.dense, shapes);
  checkPtr(name, "out", p.out, shapes);
  if (w.be !== be) throw new KernelError(name, `W belongs to another backend (${shapes})`);
  if (w.nnz === 0) return;
  be.run(name, [w.rowPtr, w.rowIdx, w.rows, w.cols, p.dense, p.out], w.nnz);
}
