/**
 * Scalar reference for src/backend/ops/xent.ts (the test oracle), in float64 and rounded to f32
 * at the end (the kernel's f32 exp/log agree to a few ulp; tests use a tolerance). Logits [V,N]
 * feature-major; targets -1 = ignore.
 */

function logSoftmaxColumn(logits: Float32Array, V: number, N: number, n: number): Float64Array {
  let m = -Infinity;
  for (let v = 0; v < V; v++) m = Math.max(m, logits[v * N + n]);
  let s = 0;
  for (let v = 0; v < V; v++) s += Math.exp(logits[v * N + n] - m);
  const out = new Float64Array(V);
  for (let v = 0; v < V; v++) out[v] = logits[v * N + n] - m - Math.log(s);
  return out;
}

/** losses[n] = −log softmax(logits[:,n])[targets[n]] (0 if ignored). */
export function crossEntropyForward(a: {
  losses: Float32Array;
  logits: Float32Array;
  targets: Int32Array;
  V: number;
  N: number;
}): void {
  const { losses, logits, targets, V, N } = a;
  for (let n = 0; n < N; n++) {
    losses[n] = targets[n] < 0 ? 0 : -logSoftmaxColumn(logits, V, N, n)[targets[n]];
  }
}

/** dlogits[v,n] = (softmax − onehot)·scale (0 if ignored); overwrites. */
export function crossEntropyBackward(a: {
  dlogits: Float32Array;
  logits: Float32Array;
  targets: Int32Array;
  V: number;
  N: number;
  scale: number;
}): void {
  const { dlogits, logits, targets, V, N, scale } = a;
  for (let n = 0; n < N; n++) {
    const ls = targets[n] < 0 ? null : logSoftmaxColumn(logits, V, N, n);
    for (let v = 0; v < V; v++) {
      dlogits[v * N + n] = ls ? (Math.exp(ls[v]) - (v === targets[n] ? 1 : 0)) * scale : 0;
    }
  }
}

/** Mean of losses over tokens with targets ≥ 0 (all when targets is omitted); 0 if none. */
export function meanLoss(a: { losses: Float32Array; targets?: Int32Array; N: number }): number {
  let s = 0, count = 0;
  for (let n = 0; n < a.N; n++) {
    if (a.targets && a.targets[n] < 0) continue;
    s += a.losses[n];
    count++;
  }
  return count > 0 ? s / count : 0;
}

interface PairItems {
  logits: Float32Array;
  pos: Int32Array;
  a: Int32Array;
  b: Int32Array;
  count: number;
  V: number;
  N: number;
}

/** losses[i] = softplus(l_b − l_a) = −log(e^l_a/(e^l_a + e^l_b)) at pos[i]. */
export function pairLossForward(p: PairItems & { losses: Float32Array }): void {
  const { logits, pos, a, b, N } = p;
  for (let i = 0; i < p.count; i++) {
    const d = logits[b[i] * N + pos[i]] - logits[a[i] * N + pos[i]];
    p.losses[i] = Math.max(d, 0) + Math.log1p(Math.exp(-Math.abs(d)));
  }
}

/**
 * dlogits += ∂(scale·Σ losses)/∂logits with the losses on logits × logitScale (default 1):
 * +scale·s·σ(s·d) at b, −scale·s·σ(s·d) at a, items in order.
 */
export function pairLossBackward(
  p: PairItems & { dlogits: Float32Array; scale: number; logitScale?: number },
): void {
  const { logits, pos, a, b, N, dlogits } = p;
  const s = p.logitScale ?? 1;
  for (let i = 0; i < p.count; i++) {
    const ia = a[i] * N + pos[i], ib = b[i] * N + pos[i];
    const g = Math.fround(p.scale * s / (1 + Math.exp(-s * (logits[ib] - logits[ia]))));
    dlogits[ib] = Math.fround(dlogits[ib] + g);
    dlogits[ia] = Math.fround(dlogits[ia] - g);
  }
}
