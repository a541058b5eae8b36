/**
 * Scalar reference for src/backend/ops/gemm.ts (the test oracle). Same summation order as the
 * kernel, each multiply and add rounded to f32 with Math.fround, so results match bit for bit.
 */

/**
 * C[M,N] (+)= op(A)[M,K] · op(B)[K,N] + bias[M]. A is [M,K] ([K,M] if transA), B is [K,N]
 * ([N,K] if transB). Per element: acc = accumulate ? C (+ bias) : bias (or 0), then
 * acc = acc + A[i,k]·B[k,j] for k = 0..K-1.
 */
export function gemm(p: {
  M: number;
  N: number;
  K: number;
  a: Float32Array;
  transA?: boolean;
  b: Float32Array;
  transB?: boolean;
  c: Float32Array;
  bias?: Float32Array;
  accumulate?: boolean;
}): void {
  const { M, N, K, a, b, c, bias } = p;
  const f = Math.fround;
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let acc: number;
      if (p.accumulate) acc = bias ? f(c[i * N + j] + bias[i]) : c[i * N + j];
      else acc = bias ? bias[i] : 0;
      for (let k = 0; k < K; k++) {
        const aik = p.transA ? a[k * M + i] : a[i * K + k];
        const bkj = p.transB ? b[j * K + k] : b[k * N + j];
        acc = f(acc + f(aik * bkj));
      }
      c[i * N + j] = acc;
    }
  }
}

/**
 * dbias[C] += Σ_n dout[C,N]. Order per channel: four lane sums over n ≡ l (mod 4) for
 * n < N - N%4, combined as (s0 + s1) + (s2 + s3), then the last N%4 entries, then added to dbias.
 */
export function biasBackward(
  p: { dbias: Float32Array; dout: Float32Array; C: number; N: number },
): void {
  const { dbias, dout, C, N } = p;
  const f = Math.fround;
  const n4 = N - (N % 4);
  for (let c = 0; c < C; c++) {
    const s = [0, 0, 0, 0];
    for (let n = 0; n < n4; n++) s[n % 4] = f(s[n % 4] + dout[c * N + n]);
    let t = f(f(s[0] + s[1]) + f(s[2] + s[3]));
    for (let n = n4; n < N; n++) t = f(t + dout[c * N + n]);
    dbias[c] = f(dbias[c] + t);
  }
}
