/**
 * Scalar reference for src/backend/ops/sparse.ts (the test oracle). The weight is the dense
 * W [rows, cols]; zero entries are skipped, every other one is added in increasing order with f32
 * rounding (Math.fround), so results match the kernels bit for bit.
 */

/** y[rows,N] = W·x[cols,N] + bias[rows] (bias optional); overwrites y. */
export function spmmForward(p: {
  w: Float32Array;
  rows: number;
  cols: number;
  x: Float32Array;
  y: Float32Array;
  N: number;
  bias?: Float32Array;
}): void {
  const { w, rows, cols, x, y, N, bias } = p;
  const f = Math.fround;
  for (let o = 0; o < rows; o++) {
    for (let n = 0; n < N; n++) {
      let acc = bias ? bias[o] : 0;
      for (let i = 0; i < cols; i++) {
        const wv = w[o * cols + i];
        if (wv !== 0) acc = f(acc + f(wv * x[i * N + n]));
      }
      y[o * N + n] = acc;
    }
  }
}

/**
 * dx[cols,N] (+)= Wᵀ·dy[rows,N]; accumulate adds to dx instead of overwriting it. Overwriting,
 * rows o with live[o] === 0 are left out (they hold zeros; the result is the same bits).
 */
export function spmmBackwardInput(p: {
  w: Float32Array;
  rows: number;
  cols: number;
  dy: Float32Array;
  dx: Float32Array;
  N: number;
  accumulate?: boolean;
  live?: Float32Array;
}): void {
  const { w, rows, cols, dy, dx, N } = p;
  const f = Math.fround;
  for (let i = 0; i < cols; i++) {
    for (let n = 0; n < N; n++) {
      let acc = p.accumulate ? dx[i * N + n] : 0;
      for (let o = 0; o < rows; o++) {
        const wv = w[o * cols + i];
        if (wv !== 0 && (p.accumulate || !p.live || p.live[o] !== 0)) {
          acc = f(acc + f(wv * dy[o * N + n]));
        }
      }
      dx[i * N + n] = acc;
    }
  }
}

/**
 * The weight gradient at W's nonzero positions: out[e] = Σ_n dy[r, n]·x[c, n] for the e-th
 * nonzero (r, c) of W in row-major order, summed over n in order from 0 with f32 rounding (the
 * dense gemm's order). Returns out [nnz].
 */
export function sddmm(p: {
  w: Float32Array;
  rows: number;
  cols: number;
  dy: Float32Array;
  x: Float32Array;
  N: number;
}): Float32Array {
  const { w, rows, cols, dy, x, N } = p;
  const f = Math.fround;
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      if (w[r * cols + c] === 0) continue;
      let acc = 0;
      for (let n = 0; n < N; n++) acc = f(acc + f(dy[r * N + n] * x[c * N + n]));
      out.push(acc);
    }
  }
  return new Float32Array(out);
}

/** dense[r, c] at W's nonzero positions (r, c), in row-major order. */
export function csrGather(
  p: { w: Float32Array; rows: number; cols: number; dense: Float32Array },
): Float32Array {
  const out: number[] = [];
  for (let i = 0; i < p.rows * p.cols; i++) if (p.w[i] !== 0) out.push(p.dense[i]);
  return new Float32Array(out);
}
