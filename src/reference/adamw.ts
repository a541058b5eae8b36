/**
 * Scalar reference for src/backend/ops/adamw.ts (the test oracle). Same f32 operation order as
 * the kernel, so Adam matches bit for bit (given the same f64 pow); the schedule is f64 arithmetic.
 */
import type { LrScheduleArgs } from "../backend/ops/adamw.ts";
import { scale } from "./residual.ts";

const f = Math.fround;

/** One Adam step with bias correction (t ≥ 1); param, m, v updated in place. */
export function adamStep(a: {
  param: Float32Array;
  grad: Float32Array;
  m: Float32Array;
  v: Float32Array;
  n: number;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  t: number;
}): void {
  const b1 = f(a.beta1), b2 = f(a.beta2), omb1 = f(1 - a.beta1), omb2 = f(1 - a.beta2);
  const ibc1 = f(1 / (1 - Math.pow(a.beta1, a.t))), ibc2 = f(1 / (1 - Math.pow(a.beta2, a.t)));
  const lr = f(a.lr), eps = f(a.eps);
  for (let i = 0; i < a.n; i++) {
    const g = a.grad[i];
    const m = f(f(b1 * a.m[i]) + f(omb1 * g));
    const v = f(f(b2 * a.v[i]) + f(omb2 * f(g * g)));
    a.m[i] = m;
    a.v[i] = v;
    const den = f(f(Math.sqrt(f(v * ibc2))) + eps);
    a.param[i] = f(a.param[i] - f(lr * f(f(m * ibc1) / den)));
  }
}

/** param *= factor (the scale reference). */
export function decayWeights(a: { param: Float32Array; n: number; factor: number }): void {
  scale({ x: a.param, n: a.n, factor: a.factor });
}

/** base · (warmup (step+1)/W, then (total − step)/(total − W)) · sqrt(pfracTarget/pfracNow). */
export function lrSchedule(a: LrScheduleArgs): number {
  const w = a.warmupFrac * a.total;
  const fac = a.step < w
    ? Math.min(1, (a.step + 1) / w)
    : a.total > w
    ? Math.max(0, (a.total - a.step) / (a.total - w))
    : 0;
  return a.base * fac * Math.sqrt(a.pfracTarget / a.pfracNow);
}

/**
 * adamStep at the nonzero entries of param [rows·cols] only, in row-major order, the e-th
 * reading grad[e] (compact); then each updated entry × f32(factor). Other entries (and their
 * moments) are left as they are.
 */
export function adamStepCsr(a: {
  param: Float32Array;
  grad: Float32Array;
  m: Float32Array;
  v: Float32Array;
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  t: number;
  factor: number;
}): void {
  const b1 = f(a.beta1), b2 = f(a.beta2), omb1 = f(1 - a.beta1), omb2 = f(1 - a.beta2);
  const ibc1 = f(1 / (1 - Math.pow(a.beta1, a.t))), ibc2 = f(1 / (1 - Math.pow(a.beta2, a.t)));
  const lr = f(a.lr), eps = f(a.eps), factor = f(a.factor);
  let e = 0;
  for (let i = 0; i < a.param.length; i++) {
    if (a.param[i] === 0) continue;
    const g = a.grad[e++];
    const m = f(f(b1 * a.m[i]) + f(omb1 * g));
    const v = f(f(b2 * a.v[i]) + f(omb2 * f(g * g)));
    a.m[i] = m;
    a.v[i] = v;
    const den = f(f(Math.sqrt(f(v * ibc2))) + eps);
    a.param[i] = f(f(a.param[i] - f(lr * f(f(m * ibc1) / den))) * factor);
  }
}
