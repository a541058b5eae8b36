/**
 * A linear layer y = W·x + b over feature-major activations, forward and backward side by side.
 * The forward and input-gradient products use the sparse kernels once the weight is sparse enough
 * (docs/method.md §2: "forward and dX sparse; dW is dense by the method"); the weight gradient is a dense
 * GEMM. Both paths sum in the same order, so switching changes no bits (up to the sign of zero).
 *
 * The sparse-gradient mode (src/train/kept_grads.ts) can ask for the weight gradient at W's
 * nonzero positions only (weightGrad = "kept"): an SDDMM over the compressed form, or on the
 * dense path the GEMM's dW picked at those positions; the two give the same bits, which are the
 * dense dW's there. A GPU (no sparse products, and no nonzero count on the host to choose by)
 * always takes the SDDMM, whose cost follows the nonzeros: at the tiny preset on lavapipe it was
 * no slower than the GEMM and gather.
 */
import type { ComputeBackend } from "../backend/backend.ts";
import { biasBackward, gemm } from "../backend/ops/gemm.ts";
import {
  csrGather,
  sddmm,
  SparseMatrix,
  spmmBackwardInput,
  spmmForward,
} from "../backend/ops/sparse.ts";
import { countNonzero } from "../backend/ops/topk.ts";

/** Below this density the sparse kernels beat the dense GEMM (bench/sparse_bench.ts). */
export const SPARSE_DENSITY = 0.3;

export class Linear {
  /** out × in */
  readonly rows: number;
  readonly cols: number;
  #sparse: SparseMatrix | null = null;
  #useSparse = false;
  /** Compact weight gradient [nnz] in CSR order, once enableKeptGrads ran (else 0). */
  #keptGrad = 0;
  /** What backward computes for W: dense dW += dy·xᵀ, or that product at W's nonzeros only. */
  weightGrad: "dense" | "kept" = "dense";

  constructor(
    readonly be: ComputeBackend,
    /** Byte offsets of the weight [rows, cols], its gradient, the bias [rows] and its gradient. */
    readonly w: number,
    readonly dw: number,
    readonly b: number,
    readonly db: number,
    rows: number,
    cols: number,
    /**
     * A model opened for inference: the compressed forms hold the weight's nonzeros, not the
     * dense worst case that a weight being annealed needs (16 bytes per nonzero, not per entry).
     */
    readonly compact = false,
    /**
     * A packed weight (an opened model's, sparse enough for the sparse products): the compressed
     * forms are the weight, loaded by `pack`; `w` is 0, there is no dense copy.
     */
    readonly packed = false,
  ) {
    if (packed && (!compact || w !== 0 || !be.sparseProducts)) {
      throw new Error("Linear: a packed weight is compact, has no dense copy and a CPU's products");
    }
    this.rows = rows;
    this.cols = cols;
  }

  /**
   * Re-reads the weight after an optimizer/top-k step; picks the sparse or dense path (a backend
   * without sparse products, a GPU, stays dense and never counts the nonzeros on the host).
   */
  refresh(allowSparse: boolean): void {
    // A packed weight changes only through pack.
    if (this.packed) return;
    const n = this.rows * this.cols;
    const products = allowSparse && this.be.sparseProducts;
    const nnz = products ? countNonzero(this.be, { w: this.w, n }) : n;
    this.#useSparse = products && nnz < SPARSE_DENSITY * n;
    // Kept gradients need the pattern of nonzeros whichever path the products take.
    if (this.#useSparse || (allowSparse && this.#keptGrad)) {
      this.#matrix(nnz).update(this.w);
    }
  }

  /**
   * The compressed forms, able to hold `nnz` entries: for a weight being trained, the dense worst
   * case, made once (its count changes through the anneal); for an opened model's (`compact`),
   * its nonzeros, made again only when a rewrite has more (its weights are written once, so the
   * smaller forms' arena space is simply left behind). A GPU makes its own.
   */
  #matrix(nnz = this.rows * this.cols): SparseMatrix {
    const forms = this.be.forms;
    if (forms) return this.#sparse ??= forms.sparseMatrix(this.rows, this.cols);
    const capacity = this.compact && !this.#keptGrad ? nnz : this.rows * this.cols;
    if (this.#sparse === null || this.#sparse.capacity < capacity) {
      this.#sparse = new SparseMatrix(this.be, this.rows, this.cols, capacity);
    }
    return this.#sparse;
  }

  /**
   * Loads a packed weight from its values (rows·cols, row-major) holding `nnz` nonzeros: forms
   * sized to them, filled from a copy in arena scratch that is released again, so nothing dense
   * stays behind. `check` sees that copy first (the caller's finiteness check) and may throw.
   * The same forms, bit for bit, as `refresh` builds from a dense copy of the same values.
   */
  pack(values: Float32Array, nnz: number, check: (ptr: number) => void = () => {}): void {
    const n = this.rows * this.cols;
    if (!this.packed || values.length !== n) {
      throw new Error(
        `Linear.pack: ${this.packed ? `${values.length} values for ${n}` : "not packed"}`,
      );
    }
    const m = this.#matrix(nnz), arena = this.be.arena, mark = arena.mark();
    try {
      const tmp = arena.allocBytes(4 * n, "weight to pack");
      arena.f32(tmp, n).set(values);
      check(tmp);
      m.update(tmp);
    } finally {
      arena.reset(mark);
    }
    this.#useSparse = true;
  }

  /**
   * The weight's value at (r, c): the dense copy's, or a packed weight's from its row form (the
   * columns of a row are stored in increasing order). For reading a few entries (circuit edges);
   * `values()` gives the whole matrix.
   */
  reader(): (r: number, c: number) => number {
    const a = this.be.arena;
    if (!this.packed) {
      const v = a.f32(this.w, this.rows * this.cols), cols = this.cols;
      return (r, c) => v[r * cols + c];
    }
    const m = this.#sparse!, rp = a.i32(m.rowPtr, this.rows + 1);
    const ri = a.i32(m.rowIdx, m.nnz), rv = a.f32(m.rowVal, m.nnz);
    return (r, c) => {
      let lo = rp[r], hi = rp[r + 1];
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (ri[mid] < c) lo = mid + 1;
        else hi = mid;
      }
      return lo < rp[r + 1] && ri[lo] === c ? rv[lo] : 0;
    };
  }

  /** A packed weight unpacked from its row form into a new row-major matrix (zeros are +0). */
  values(): Float32Array {
    if (!this.packed) throw new Error("Linear.values: not packed (read the dense copy)");
    const n = this.rows * this.cols, a = this.be.arena;
    const m = this.#sparse!, out = new Float32Array(n);
    const rp = a.i32(m.rowPtr, this.rows + 1), ri = a.i32(m.rowIdx, m.nnz);
    const rv = a.f32(m.rowVal, m.nnz);
    for (let r = 0; r < this.rows; r++) {
      for (let e = rp[r]; e < rp[r + 1]; e++) out[r * this.cols + ri[e]] = rv[e];
    }
    return out;
  }

  /**
   * Allows weightGrad = "kept": allocates the compact gradient (rows·cols floats, the dense
   * worst case) and keeps the compressed form from the next refresh on. On a GPU the form is
   * made now: the sparse step's RMS reads its count (rowPtr[rows]) on the device, from a list of
   * addresses written once (src/train/kept_grads.ts).
   */
  enableKeptGrads(): void {
    if (!this.#keptGrad) {
      this.#keptGrad = this.be.arena.tensor([this.rows * this.cols], "kept weight gradient").ptr;
      if (this.be.forms) this.#matrix();
    }
  }

  /** Byte offset of the compact weight gradient [pattern.nnz] that weightGrad "kept" writes. */
  get keptGrad(): number {
    if (!this.#keptGrad) throw new Error("Linear: enableKeptGrads was not called");
    return this.#keptGrad;
  }

  /** W's nonzero positions (and values) as of the last refresh, once enableKeptGrads ran. */
  get pattern(): SparseMatrix {
    if (!this.#keptGrad || !this.#sparse) {
      throw new Error("Linear: no pattern (enableKeptGrads, refresh)");
    }
    return this.#sparse;
  }

  /**
   * Re-reads W after a step that changed it only at the pattern's positions: the values, keeping
   * the pattern, or a full refresh when one of them became zero (the pattern is always exactly
   * W's nonzeros, so a run resumed from the weights alone continues bit for bit).
   */
  refreshKept(): void {
    if (this.pattern.refreshValues(this.w) > 0) this.refresh(true);
  }

  get sparse(): boolean {
    return this.#useSparse;
  }

  /** y[rows, N] = W·x[cols, N] + b */
  forward(x: number, y: number, N: number): void {
    if (this.#useSparse) {
      spmmForward(this.be, { w: this.#sparse!, x, y, N, bias: this.b || undefined });
    } else {
      gemm(this.be, {
        M: this.rows,
        N,
        K: this.cols,
        a: this.w,
        b: x,
        c: y,
        bias: this.b || undefined,
      });
    }
  }

  /**
   * dW += dy·xᵀ and db += Σ_n dy (unless weightGrads is false: pruning trains no weights; with
   * weightGrad "kept", keptGrad = (dy·xᵀ) at the pattern, overwritten, and dW is scratch), and
   * dx (+)= Wᵀ·dy (skipped when dx = 0). live (an f32 per row of dy, 0 where the row is all
   * zeros: an ablation's node mask) lets the sparse product leave those rows out
   * (spmmBackwardInput); dx is the same either way.
   */
  backward(
    dy: number,
    x: number,
    dx: number,
    N: number,
    accumulateDx = false,
    weightGrads = true,
    live = 0,
  ): void {
    const be = this.be;
    if (weightGrads) {
      if (!this.dw) throw new Error("Linear.backward: weight gradients of a model without them");
      const kept = this.weightGrad === "kept";
      if (kept && (this.#useSparse || !be.sparseProducts)) {
        sddmm(be, { w: this.pattern, dy, x, N, out: this.keptGrad });
      } else {
        gemm(be, {
          M: this.rows,
          N: this.cols,
          K: N,
          a: dy,
          b: x,
          transB: true,
          c: this.dw,
          accumulate: !kept,
        });
        if (kept) csrGather(be, { w: this.pattern, dense: this.dw, out: this.keptGrad });
      }
      if (this.db) biasBackward(be, { dbias: this.db, dout: dy, C: this.rows, N });
    }
    if (dx === 0) return;
    if (this.#useSparse) {
      spmmBackwardInput(be, { w: this.#sparse!, dy, dx, N, accumulate: accumulateDx, live });
    } else {
      gemm(be, {
        M: this.cols,
        N,
        K: this.rows,
        a: this.w,
        transA: true,
        b: dy,
        c: dx,
        accumulate: accumulateDx,
      });
    }
  }
}
