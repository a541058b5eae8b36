/**
 * Scalar reference for src/backend/ops/ablate.ts (the test oracle): the same operations in the
 * same order, each rounded to f32, so results match bit for bit.
 */
const f = Math.fround;

/** raw = x; x = m·x + (1 − m)·μ per channel (μ omitted = 0). */
export function ablateForward(a: {
  x: Float32Array;
  raw: Float32Array | null;
  m: Float32Array;
  mean: Float32Array | null;
  C: number;
  N: number;
}): void {
  const { x, raw, m, mean, C, N } = a;
  for (let c = 0; c < C; c++) {
    const t = f(f(1 - m[c]) * (mean ? mean[c] : 0));
    for (let n = 0; n < N; n++) {
      const i = c * N + n;
      if (raw) raw[i] = x[i];
      x[i] = f(f(m[c] * x[i]) + t);
    }
  }
}

/**
 * dinp = m·dout; dm[c] += Σ_n (raw − μ)·dout, summed as the kernel does: four partial sums over
 * tokens n ≡ 0..3 (mod 4) for n < N − N mod 4, combined (s0 + s1) + (s2 + s3), then the rest.
 */
export function ablateBackward(a: {
  dinp: Float32Array;
  dm: Float32Array;
  dout: Float32Array;
  raw: Float32Array;
  m: Float32Array;
  mean: Float32Array | null;
  C: number;
  N: number;
}): void {
  const { dinp, dm, dout, raw, m, mean, C, N } = a;
  const N4 = N - (N % 4);
  for (let c = 0; c < C; c++) {
    const mu = mean ? mean[c] : 0;
    const lane = [0, 0, 0, 0];
    for (let n = 0; n < N4; n++) {
      const i = c * N + n;
      lane[n % 4] = f(lane[n % 4] + f(f(raw[i] - mu) * dout[i]));
    }
    let s = f(f(lane[0] + lane[1]) + f(lane[2] + lane[3]));
    for (let n = N4; n < N; n++) {
      const i = c * N + n;
      s = f(s + f(f(raw[i] - mu) * dout[i]));
    }
    for (let n = 0; n < N; n++) dinp[c * N + n] = f(m[c] * dout[c * N + n]);
    dm[c] = f(dm[c] + s);
  }
}

/** acc[c] += Σ_n x[c,n] in f64, tokens in order. */
export function rowSumF64(a: { acc: Float64Array; x: Float32Array; C: number; N: number }): void {
  const { acc, x, C, N } = a;
  for (let c = 0; c < C; c++) {
    let s = 0;
    for (let n = 0; n < N; n++) s += x[c * N + n];
    acc[c] += s;
  }
}
