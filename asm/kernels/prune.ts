// The node-mask optimiser of circuit pruning (docs/method.md §4) and the logit calibration of a discretised
// circuit. One τ per node; the forward uses m = H(τ) (Heaviside), the backward the sigmoid-
// derivative surrogate dm/dτ ≈ σ'(τ/T)/T. Element-wise kernels: threads split the n nodes.
//
// Calibration: a discretised circuit's logit difference is rescaled, z = s·(l_A − l_B) + b, with
// (s, b) fitted by LBFGS (src/prune/calibrate.ts). Items come in pairs: item 2k has the pair's
// first answer A as its correct token, item 2k+1 the second, so with d = l_correct − l_wrong,
// z·sign = s·d + sign·b (sign = +1 for even items, −1 for odd) and the loss is softplus(−(s·d + sign·b)).
import { part_start } from "./common";

/** g[i] = (dm[i] + kcoef)·σ'(τ[i]·invT)·invT: ∂(task loss + kcoef·Σm)/∂τ through the surrogate. */
export function mask_surrogate_grad(g: usize, tau: usize, dm: usize, n: i32, invT: f64, kcoef: f64, tid: i32, nth: i32): void {
  const s = part_start(n, tid, nth), e = part_start(n, tid + 1, nth);
  for (let i = s; i < e; i++) {
    const o = <usize>i << 2;
    const sg = 1 / (1 + Math.exp(-<f64>load<f32>(tau + o) * invT));
    store<f32>(g + o, <f32>((<f64>load<f32>(dm + o) + kcoef) * (sg * (1 - sg)) * invT));
  }
}

/**
 * dm[i] += ecoef·Σ m[j] over the nodes j joined to i by a possible edge (CSR ptr [n+1], idx i32):
 * ∂(ecoef·Σ_edges m_i·m_j)/∂m_i, the gradient of the edge penalty. Each node's neighbours are
 * summed in index order in f64, so the result does not depend on the thread count.
 */
export function mask_edge_grad(dm: usize, m: usize, ptr: usize, idx: usize, n: i32, ecoef: f64, tid: i32, nth: i32): void {
  const s = part_start(n, tid, nth), e = part_start(n, tid + 1, nth);
  for (let i = s; i < e; i++) {
    const a = load<i32>(ptr + (<usize>i << 2)), b = load<i32>(ptr + (<usize>(i + 1) << 2));
    let sum: f64 = 0;
    for (let k = a; k < b; k++) sum += <f64>load<f32>(m + (<usize>load<i32>(idx + (<usize>k << 2)) << 2));
    const o = <usize>i << 2;
    store<f32>(dm + o, <f32>(<f64>load<f32>(dm + o) + ecoef * sum));
  }
}

/** τ[i] = clamp(τ[i], −1, 1); m[i] = τ[i] > 0 ? 1 : 0 (the forward's Heaviside). */
export function mask_clamp_heaviside(m: usize, tau: usize, n: i32, tid: i32, nth: i32): void {
  const s = part_start(n, tid, nth), e = part_start(n, tid + 1, nth);
  for (let i = s; i < e; i++) {
    const o = <usize>i << 2;
    const t = min<f32>(<f32>1, max<f32>(<f32>-1, load<f32>(tau + o)));
    store<f32>(tau + o, t);
    store<f32>(m + o, t > 0 ? <f32>1 : <f32>0);
  }
}

/** log(1 + e^x) without overflow. */
@inline function softplus(x: f64): f64 {
  return max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));
}

/**
 * Calibrated pair loss over n items with d[i] = l_correct − l_wrong (f32): out[0] = mean loss,
 * out[1] = ∂/∂s, out[2] = ∂/∂b (f64, summed in item order); losses[i] (f32) per item unless
 * losses = 0. Thread 0 computes it.
 */
export function calib_loss_grad(out: usize, losses: usize, d: usize, n: i32, s: f64, b: f64, tid: i32, nth: i32): void {
  if (tid != 0) return;
  let L: f64 = 0, gs: f64 = 0, gb: f64 = 0;
  for (let i = 0; i < n; i++) {
    const di = <f64>load<f32>(d + (<usize>i << 2));
    const sign: f64 = (i & 1) == 0 ? 1 : -1;
    const z = s * di + sign * b;
    const l = softplus(-z);
    // ∂softplus(−z)/∂z = −σ(−z)
    const q = -1 / (1 + Math.exp(z));
    L += l;
    gs += q * di;
    gb += q * sign;
    if (losses) store<f32>(losses + (<usize>i << 2), <f32>l);
  }
  const inv = n > 0 ? 1 / <f64>n : 0;
  store<f64>(out, L * inv);
  store<f64>(out + 8, gs * inv);
  store<f64>(out + 16, gb * inv);
}

/** out[i] = <f32>(acc[i]·scale) for f64 acc: node means from their token sums. */
export function f64_to_f32_scaled(out: usize, acc: usize, n: i32, scale: f64, tid: i32, nth: i32): void {
  const s = part_start(n, tid, nth), e = part_start(n, tid + 1, nth);
  for (let i = s; i < e; i++) store<f32>(out + (<usize>i << 2), <f32>(load<f64>(acc + (<usize>i << 3)) * scale));
}
