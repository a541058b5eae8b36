/**
 * A linear layer y = W·x + b over feature-major activations, forward and backward side by side.
 * The forward and input-gradient products use the sparse kernels once the weight is sparse enough
 * (PAPER §2: "forward and dX sparse; dW is dense by the method"); the weight gradient is a dense
 * GEMM. Both paths sum in the same order, so switching changes no bits (up to the sign of zero).
 */
import type { Backend } from "../backend/backend.ts";
import { biasBackward, gemm } from "../backend/ops/gemm.ts";
import { SparseMatrix, spmmBackwardInput, spmmForward } from "../backend/ops/sparse.ts";
import { countNonzero } from "../backend/ops/topk.ts";

/** Below this density the sparse kernels beat the dense GEMM (bench/sparse_bench.ts). */
export const SPARSE_DENSITY = 0.3;

export class Linear {
  /** out × in */
  readonly rows: number;
  readonly cols: number;
  #sparse: SparseMatrix | null = null;
  #useSparse = false;

  constructor(
    readonly be: Backend,
    /** Byte offsets of the weight [rows, cols], its gradient, the bias [rows] and its gradient. */
    readonly w: number,
    readonly dw: number,
    readonly b: number,
    readonly db: number,
    rows: number,
    cols: number,
  ) {
    this.rows = rows;
    this.cols = cols;
  }

  /** Re-reads the weight after an optimizer/top-k step; picks the sparse or dense path. */
  refresh(allowSparse: boolean): void {
    const n = this.rows * this.cols;
    const nnz = allowSparse ? countNonzero(this.be, { w: this.w, n }) : n;
    this.#useSparse = allowSparse && nnz < SPARSE_DENSITY * n;
    if (this.#useSparse) {
      this.#sparse ??= new SparseMatrix(this.be, this.rows, this.cols);
      this.#sparse.update(this.w);
    }
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
   * dW += dy·xᵀ and db += Σ_n dy (unless weightGrads is false: pruning trains no weights), and
   * dx (+)= Wᵀ·dy (skipped when dx = 0).
   */
  backward(
    dy: number,
    x: number,
    dx: number,
    N: number,
    accumulateDx = false,
    weightGrads = true,
  ): void {
    const be = this.be;
    if (weightGrads) {
      gemm(be, {
        M: this.rows,
        N: this.cols,
        K: N,
        a: dy,
        b: x,
        transB: true,
        c: this.dw,
        accumulate: true,
      });
      if (this.db) biasBackward(be, { dbias: this.db, dout: dy, C: this.rows, N });
    }
    if (dx === 0) return;
    if (this.#useSparse) {
      spmmBackwardInput(be, { w: this.#sparse!, dy, dx, N, accumulate: accumulateDx });
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
