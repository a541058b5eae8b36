// The optimizer (docs/method.md §2): Adam with bias correction, decoupled weight decay applied separately
// (after the weight top-k, so pruned zeros stay zero: see scale_f32 in residual.ts), and the
// learning-rate schedule. Scalars arrive as f64 and are rounded to f32 here, once per call.
//
//   m = β1·m + (1−β1)·g        v = β2·v + (1−β2)·g²
//   p −= lr · (m/(1−β1^t)) / (sqrt(v/(1−β2^t)) + eps)
import { part_start_aligned } from "./common";
import { row_split } from "./sparse";

/** One Adam step over n parameters (t ≥ 1 is the 1-based step number). */
export function adam_step(param: usize, grad: usize, m: usize, v: usize, n: i32, lr: f64, beta1: f64, beta2: f64, eps: f64, t: i32, tid: i32, nth: i32): void {
  const s = part_start_aligned(n, 4, tid, nth), e = part_start_aligned(n, 4, tid + 1, nth);
  const b1 = <f32>beta1, b2 = <f32>beta2, omb1 = <f32>(1 - beta1), omb2 = <f32>(1 - beta2);
  const ibc1 = <f32>(1 / (1 - Math.pow(beta1, <f64>t))), ibc2 = <f32>(1 / (1 - Math.pow(beta2, <f64>t)));
  const lr32 = <f32>lr, eps32 = <f32>eps;
  const B1 = f32x4.splat(b1), B2 = f32x4.splat(b2), OMB1 = f32x4.splat(omb1), OMB2 = f32x4.splat(omb2);
  const IBC1 = f32x4.splat(ibc1), IBC2 = f32x4.splat(ibc2), LR = f32x4.splat(lr32), EPS = f32x4.splat(eps32);
  let i = s;
  for (; i + 4 <= e; i += 4) {
    const o = <usize>i << 2;
    const g = v128.load(grad + o);
    const mi = f32x4.add(f32x4.mul(B1, v128.load(m + o)), f32x4.mul(OMB1, g));
    const vi = f32x4.add(f32x4.mul(B2, v128.load(v + o)), f32x4.mul(OMB2, f32x4.mul(g, g)));
    v128.store(m + o, mi);
    v128.store(v + o, vi);
    const den = f32x4.add(f32x4.sqrt(f32x4.mul(vi, IBC2)), EPS);
    const upd = f32x4.mul(LR, f32x4.div(f32x4.mul(mi, IBC1), den));
    v128.store(param + o, f32x4.sub(v128.load(param + o), upd));
  }
  for (; i < e; i++) {
    const o = <usize>i << 2;
    const g = load<f32>(grad + o);
    const mi = b1 * load<f32>(m + o) + omb1 * g;
    const vi = b2 * load<f32>(v + o) + omb2 * (g * g);
    store<f32>(m + o, mi);
    store<f32>(v + o, vi);
    const den = Mathf.sqrt(vi * ibc2) + eps32;
    store<f32>(param + o, load<f32>(param + o) - lr32 * ((mi * ibc1) / den));
  }
}

/**
 * Learning rate at 0-based `step` of `total` (docs/method.md §2): linear warmup over the first
 * W = warmupFrac·total steps ((step+1)/W), then linear decay to 0 at `total`
 * ((total − step)/(total − W)), times the sharkfin factor sqrt(pfracTarget / pfracNow).
 */
export function lr_schedule(step: f64, total: f64, warmupFrac: f64, base: f64, pfracTarget: f64, pfracNow: f64, tid: i32, nth: i32): f64 {
  const w = warmupFrac * total;
  let f: f64;
  if (step < w) f = min(1.0, (step + 1) / w);
  else f = total > w ? max(0.0, (total - step) / (total - w)) : 0;
  return base * f * Math.sqrt(pfracTarget / pfracNow);
}

/**
 * The Adam step of adam_step, for the kept entries of one weight W [R, K] only (the
 * sparse-gradient mode): the CSR pattern's entry e = (r, idx[e]) reads grad[e] (compact, in CSR
 * order) and updates param, m and v at r·K + idx[e]; every other position is left as it is. The
 * updated weight is then multiplied by `factor` (the decoupled weight decay 1 − lr·wd when no
 * top-k runs between the two, else 1), the same f32 product as scale_f32. Threads split rows by
 * their entry counts; the arithmetic is adam_step's, entry by entry.
 */
export function adam_step_csr_f32(
  rowPtr: usize, idx: usize, R: i32, K: i32, grad: usize, param: usize, m: usize, v: usize,
  lr: f64, beta1: f64, beta2: f64, eps: f64, t: i32, factor: f32, tid: i32, nth: i32,
): void {
  const r0 = row_split(rowPtr, R, tid, nth), r1 = row_split(rowPtr, R, tid + 1, nth);
  const b1 = <f32>beta1, b2 = <f32>beta2, omb1 = <f32>(1 - beta1), omb2 = <f32>(1 - beta2);
  const ibc1 = <f32>(1 / (1 - Math.pow(beta1, <f64>t))), ibc2 = <f32>(1 / (1 - Math.pow(beta2, <f64>t)));
  const lr32 = <f32>lr, eps32 = <f32>eps;
  for (let r = r0; r < r1; r++) {
    const pr = rowPtr + (<usize>r << 2);
    const e0 = load<i32>(pr), e1 = load<i32>(pr, 4);
    const row = <usize>r * <usize>K;
    for (let e = e0; e < e1; e++) {
      const o = (row + <usize>load<i32>(idx + (<usize>e << 2))) << 2;
      const g = load<f32>(grad + (<usize>e << 2));
      const mi = b1 * load<f32>(m + o) + omb1 * g;
      const vi = b2 * load<f32>(v + o) + omb2 * (g * g);
      store<f32>(m + o, mi);
      store<f32>(v + o, vi);
      const den = Mathf.sqrt(vi * ibc2) + eps32;
      store<f32>(param + o, (load<f32>(param + o) - lr32 * ((mi * ibc1) / den)) * factor);
    }
  }
}
