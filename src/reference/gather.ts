/** Scalar reference for src/backend/ops/gather.ts (the test oracle); exact. */

/** out [C, R] = inp [C, N] at columns idx. */
export function gatherCols(
  a: { out: Float32Array; inp: Float32Array; idx: Int32Array; C: number; N: number; R: number },
): void {
  for (let c = 0; c < a.C; c++) {
    for (let r = 0; r < a.R; r++) a.out[c * a.R + r] = a.inp[c * a.N + a.idx[r]];
  }
}

/** out [C, N] at columns idx += inp [C, R], r in order. */
export function scatterAddCols(
  a: { out: Float32Array; inp: Float32Array; idx: Int32Array; C: number; N: number; R: number },
): void {
  for (let c = 0; c < a.C; c++) {
    for (let r = 0; r < a.R; r++) {
      const i = c * a.N + a.idx[r];
      a.out[i] = Math.fround(a.out[i] + a.inp[c * a.R + r]);
    }
  }
}
