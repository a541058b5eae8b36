/**
 * Scalar reference for src/backend/ops/prune.ts (the test oracle): the same f64 formulas, items
 * and nodes in order.
 */
const f = Math.fround;
const softplus = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));

/** g = (dm + kcoef)·σ'(τ/T)/T. */
export function maskSurrogateGrad(a: {
  g: Float32Array;
  tau: Float32Array;
  dm: Float32Array;
  n: number;
  temperature: number;
  kcoef: number;
}): void {
  const invT = 1 / a.temperature;
  for (let i = 0; i < a.n; i++) {
    const s = 1 / (1 + Math.exp(-a.tau[i] * invT));
    a.g[i] = f((a.dm[i] + a.kcoef) * (s * (1 - s)) * invT);
  }
}

/** dm[i] += ecoef·Σ m[j] over i's neighbours in the CSR graph (ptr, idx), in index order. */
export function maskEdgeGrad(a: {
  dm: Float32Array;
  m: Float32Array;
  ptr: Int32Array;
  idx: Int32Array;
  n: number;
  ecoef: number;
}): void {
  for (let i = 0; i < a.n; i++) {
    let s = 0;
    for (let k = a.ptr[i]; k < a.ptr[i + 1]; k++) s += a.m[a.idx[k]];
    a.dm[i] = f(a.dm[i] + a.ecoef * s);
  }
}

/** τ = clamp(τ, −1, 1); m = [τ > 0]. */
export function maskClampHeaviside(a: { m: Float32Array; tau: Float32Array; n: number }): void {
  for (let i = 0; i < a.n; i++) {
    a.tau[i] = Math.min(1, Math.max(-1, a.tau[i]));
    a.m[i] = a.tau[i] > 0 ? 1 : 0;
  }
}

/** Mean softplus(−(scale·d + sign·shift)) and its gradient; sign = +1 even, −1 odd items. */
export function calibLossGrad(a: {
  d: Float32Array;
  n: number;
  scale: number;
  shift: number;
  losses?: Float32Array;
}): { loss: number; dScale: number; dShift: number } {
  let L = 0, gs = 0, gb = 0;
  for (let i = 0; i < a.n; i++) {
    const sign = i % 2 === 0 ? 1 : -1;
    const z = a.scale * a.d[i] + sign * a.shift;
    const q = -1 / (1 + Math.exp(z));
    const l = softplus(-z);
    L += l;
    gs += q * a.d[i];
    gb += q * sign;
    if (a.losses) a.losses[i] = f(l);
  }
  const inv = a.n > 0 ? 1 / a.n : 0;
  return { loss: L * inv, dScale: gs * inv, dShift: gb * inv };
}

/** out = f32(acc·scale). */
export function f64ToF32Scaled(
  a: { out: Float32Array; acc: Float64Array; n: number; scale: number },
): void {
  for (let i = 0; i < a.n; i++) a.out[i] = f(a.acc[i] * a.scale);
}
