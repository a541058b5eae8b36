/**
 * Scalar reference for src/backend/ops/attention.ts (the test oracle): causal multi-head
 * attention with an optional sink, plain loops in float64 (the kernel sums in f32 and uses its
 * own exp, so tests compare with a tight tolerance). Works on Float64Array too, for finite
 * differences.
 *
 * Shapes: B sequences of T tokens, N = B·T, token n = b·T + t; H heads of dh channels; q, k, v,
 * out [H·dh, N] feature-major (channel c of token n at c·N + n); att [H, B, T, T].
 */

type Vec = Float32Array | Float64Array;

/** The scores z[t, j] = q[:, t]·k[:, j] / sqrt(dh) of head h, sequence b, query t, keys j ≤ t. */
function scores(q: Vec, k: Vec, h: number, b: number, t: number, N: number, T: number, dh: number) {
  const z: number[] = [];
  for (let j = 0; j <= t; j++) {
    let dot = 0;
    for (let i = 0; i < dh; i++) {
      const c = (h * dh + i) * N;
      dot += q[c + b * T + t] * k[c + b * T + j];
    }
    z.push(dot / Math.sqrt(dh));
  }
  return z;
}

/**
 * out[h·dh + i, b·T + t] = Σ_{j≤t} p[h,b,t,j] v[h·dh + i, b·T + j], p = softmax over keys j ≤ t
 * plus the sink (an extra logit sink[h] with a zero value; null: none). att gets p, zeros above
 * the diagonal.
 */
export function attentionForward(a: {
  out: Vec;
  att: Vec;
  q: Vec;
  k: Vec;
  v: Vec;
  sink: Vec | null;
  B: number;
  T: number;
  H: number;
  dh: number;
}): void {
  const { out, att, q, k, v, sink, B, T, H, dh } = a;
  const N = B * T;
  for (let h = 0; h < H; h++) {
    const s = sink ? sink[h] : -Infinity;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const z = scores(q, k, h, b, t, N, T, dh);
        const m = Math.max(s, ...z);
        let denom = Math.exp(s - m);
        for (const zj of z) denom += Math.exp(zj - m);
        const row = ((h * B + b) * T + t) * T;
        for (let j = 0; j < T; j++) att[row + j] = j <= t ? Math.exp(z[j] - m) / denom : 0;
        for (let i = 0; i < dh; i++) {
          const c = (h * dh + i) * N + b * T;
          let acc = 0;
          for (let j = 0; j <= t; j++) acc += att[row + j] * v[c + j];
          out[c + t] = acc;
        }
      }
    }
  }
}

/**
 * Backward of attentionForward: accumulates dq, dk, dv and (with a sink) dsink. The softmax
 * Jacobian gives dz[t,j] = p[t,j]·(dp[t,j] − Σ_j' p[t,j']·dp[t,j']) over real keys; the sink's
 * value is zero, so its logit gets −p_sink·Σ_j p·dp. datt [H, B, T, T] holds dz afterwards.
 */
export function attentionBackward(a: {
  dq: Vec;
  dk: Vec;
  dv: Vec;
  dsink: Vec | null;
  datt: Vec;
  dout: Vec;
  q: Vec;
  k: Vec;
  v: Vec;
  att: Vec;
  sink: Vec | null;
  B: number;
  T: number;
  H: number;
  dh: number;
}): void {
  const { dq, dk, dv, dsink, datt, dout, q, k, v, att, sink, B, T, H, dh } = a;
  const N = B * T;
  const scale = 1 / Math.sqrt(dh);
  for (let h = 0; h < H; h++) {
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        const row = ((h * B + b) * T + t) * T;
        const dp: number[] = [];
        for (let j = 0; j <= t; j++) {
          let acc = 0;
          for (let i = 0; i < dh; i++) {
            const c = (h * dh + i) * N + b * T;
            acc += dout[c + t] * v[c + j];
            dv[c + j] += att[row + j] * dout[c + t];
          }
          dp.push(acc);
        }
        let dot = 0;
        for (let j = 0; j <= t; j++) dot += att[row + j] * dp[j];
        for (let j = 0; j <= t; j++) {
          const dz = att[row + j] * (dp[j] - dot) * scale;
          datt[row + j] = dz;
          for (let i = 0; i < dh; i++) {
            const c = (h * dh + i) * N + b * T;
            dq[c + t] += dz * k[c + j];
            dk[c + j] += dz * q[c + t];
          }
        }
        if (sink && dsink) {
          const z = scores(q, k, h, b, t, N, T, dh);
          const m = Math.max(sink[h], ...z);
          let denom = Math.exp(sink[h] - m);
          for (const zj of z) denom += Math.exp(zj - m);
          dsink[h] -= Math.exp(sink[h] - m) / denom * dot;
        }
      }
    }
  }
}

/** attentionBackward into zero-filled dq, dk, dv (dsink still accumulates). */
export function attentionBackwardWrite(a: Parameters<typeof attentionBackward>[0]): void {
  const n = a.H * a.dh * a.B * a.T;
  for (const g of [a.dq, a.dk, a.dv]) g.fill(0, 0, n);
  attentionBackward(a);
}
