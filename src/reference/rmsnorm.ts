/**
 * Scalar reference for src/backend/ops/rmsnorm.ts (the test oracle). Same operation order as the
 * kernel with every step rounded to f32, so results match bit for bit. Activations [C,N]
 * feature-major: channel c of token n at c·N + n.
 */
const f = Math.fround;
const EPS = 2 ** -23;

/** out = (inp·rstd)·weight, rstd[n] = 1/sqrt(Σ_c inp² / C + eps) (sum over c in order, in f32). */
export function rmsnormForward(a: {
  out: Float32Array;
  rstd: Float32Array;
  inp: Float32Array;
  weight: Float32Array;
  C: number;
  N: number;
}): void {
  const { rstd, inp, C, N } = a;
  for (let n = 0; n < N; n++) {
    let ss = 0;
    for (let c = 0; c < C; c++) ss = f(ss + f(inp[c * N + n] * inp[c * N + n]));
    rstd[n] = f(1 / f(Math.sqrt(f(f(ss / C) + EPS))));
  }
  rmsnormScale(a);
}

/**
 * dinp += rstd·(dout·w) − inp·g[n] with g[n] = rstd³·Σ_c (dout·w)·inp / C;
 * dweight[c] += Σ_n dout·inp·rstd, summed as the kernel does: four partial sums over tokens
 * n ≡ 0, 1, 2, 3 (mod 4) for n < N − N mod 4, combined (s0 + s1) + (s2 + s3), then the rest in order.
 */
export function rmsnormBackward(a: {
  dinp: Float32Array;
  dweight: Float32Array;
  dout: Float32Array;
  inp: Float32Array;
  weight: Float32Array;
  rstd: Float32Array;
  C: number;
  N: number;
  /** AbsTopK's mask: dout is read as 0 + (dout where the mask is set, else 0). */
  doutMask?: Uint8Array;
  /** Write dinp (as a zero-filled dinp would end up) instead of adding to it. */
  write?: boolean;
  /** rstd was given (rmsnormScale): g = 0. */
  frozen?: boolean;
}): void {
  const { dinp, dweight, weight, inp, rstd, C, N } = a;
  let dout = a.dout;
  if (a.doutMask) {
    const m = a.doutMask;
    dout = dout.map((d, i) => m[i] ? f(0 + d) : 0);
  }
  if (a.write) dinp.fill(0, 0, C * N);
  const g = new Float32Array(N);
  for (let n = 0; n < N && !a.frozen; n++) {
    let dot = 0;
    for (let c = 0; c < C; c++) dot = f(dot + f(f(dout[c * N + n] * weight[c]) * inp[c * N + n]));
    const r = rstd[n];
    g[n] = f(f(f(f(dot * r) * r) * r) / C);
  }
  const N4 = N - (N % 4);
  for (let c = 0; c < C; c++) {
    const w = weight[c];
    const lane = [0, 0, 0, 0];
    for (let n = 0; n < N; n++) {
      const i = c * N + n, r = rstd[n];
      dinp[i] = f(dinp[i] + f(f(r * f(dout[i] * w)) - f(inp[i] * g[n])));
      const t = f(f(dout[i] * inp[i]) * r);
      if (n < N4) lane[n % 4] = f(lane[n % 4] + t);
    }
    let dw = f(f(lane[0] + lane[1]) + f(lane[2] + lane[3]));
    for (let n = N4; n < N; n++) {
      const i = c * N + n;
      dw = f(dw + f(f(dout[i] * inp[i]) * rstd[n]));
    }
    dweight[c] = f(dweight[c] + dw);
  }
}

/** out = (inp·rstd)·weight with rstd given (RMSNorm with a frozen scale). */
export function rmsnormScale(a: {
  out: Float32Array;
  rstd: Float32Array;
  inp: Float32Array;
  weight: Float32Array;
  C: number;
  N: number;
}): void {
  const { out, rstd, inp, weight, C, N } = a;
  for (let c = 0; c < C; c++) {
    for (let n = 0; n < N; n++) out[c * N + n] = f(f(inp[c * N + n] * rstd[n]) * weight[c]);
  }
}
