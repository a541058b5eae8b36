// Node ablation for circuit pruning (docs/method.md §4), applied right after a node location's AbsTopK, and
// the per-channel statistics pruning needs. Activations are feature-major [C, N]; one node is one
// channel c, shared by every token.
//
//   forward   raw[c,n] = x[c,n];  x[c,n] = m[c]·x[c,n] + t[c],  t[c] = (1 − m[c])·μ[c]
//   backward  dinp[c,n] = m[c]·dout[c,n];  dm[c] += Σ_n (raw[c,n] − μ[c])·dout[c,n]
//
// m = 1 gives x + 0 (the value itself) and m = 0 gives μ exactly, so a binary mask changes no bits
// of a kept node. μ = 0 (pointer 0) is zero ablation. The token sum of dm[c] runs in 4 lanes
// (n mod 4) over the first N & ~3 tokens, adds them as (l0 + l1) + (l2 + l3), then the remaining
// tokens in order; threads split channels, so each dm[c] is summed by one thread in a fixed order.
import { part_start } from "./common";

/**
 * In place: x[C,N] = m·x + (1 − m)·μ per channel, after copying x to raw[C,N] (raw = 0: no copy,
 * for passes without a backward). mu = 0: μ = 0.
 */
export function ablate_forward(x: usize, raw: usize, m: usize, mu: usize, C: i32, N: i32, tid: i32, nth: i32): void {
  const cs = part_start(C, tid, nth), ce = part_start(C, tid + 1, nth);
  const rowBytes = <usize>N << 2;
  const N4 = N & ~3;
  for (let c = cs; c < ce; c++) {
    const off = <usize>c * rowBytes;
    const mc = load<f32>(m + (<usize>c << 2));
    const muc: f32 = mu ? load<f32>(mu + (<usize>c << 2)) : 0;
    const t: f32 = (<f32>1 - mc) * muc;
    const mv = f32x4.splat(mc), tv = f32x4.splat(t);
    let n = 0;
    for (; n < N4; n += 4) {
      const p = off + (<usize>n << 2);
      const v = v128.load(x + p);
      if (raw) v128.store(raw + p, v);
      v128.store(x + p, f32x4.add(f32x4.mul(mv, v), tv));
    }
    for (; n < N; n++) {
      const p = off + (<usize>n << 2);
      const v = load<f32>(x + p);
      if (raw) store<f32>(raw + p, v);
      store<f32>(x + p, mc * v + t);
    }
  }
}

/** dinp[C,N] = m·dout (dinp may be dout); dm[C] += Σ_n (raw − μ)·dout. mu = 0: μ = 0. */
export function ablate_backward(dinp: usize, dm: usize, dout: usize, raw: usize, m: usize, mu: usize, C: i32, N: i32, tid: i32, nth: i32): void {
  const cs = part_start(C, tid, nth), ce = part_start(C, tid + 1, nth);
  const rowBytes = <usize>N << 2;
  const N4 = N & ~3;
  for (let c = cs; c < ce; c++) {
    const off = <usize>c * rowBytes;
    const mc = load<f32>(m + (<usize>c << 2));
    const muc: f32 = mu ? load<f32>(mu + (<usize>c << 2)) : 0;
    const mv = f32x4.splat(mc), muv = f32x4.splat(muc);
    let acc = f32x4.splat(0);
    let n = 0;
    for (; n < N4; n += 4) {
      const p = off + (<usize>n << 2);
      const d = v128.load(dout + p);
      acc = f32x4.add(acc, f32x4.mul(f32x4.sub(v128.load(raw + p), muv), d));
      v128.store(dinp + p, f32x4.mul(mv, d));
    }
    let s = (f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1)) +
      (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
    for (; n < N; n++) {
      const p = off + (<usize>n << 2);
      const d = load<f32>(dout + p);
      s += (load<f32>(raw + p) - muc) * d;
      store<f32>(dinp + p, mc * d);
    }
    const pd = dm + (<usize>c << 2);
    store<f32>(pd, load<f32>(pd) + s);
  }
}

/** acc[C] (f64) += Σ_n x[c,n], summed in order n = 0..N−1 in f64 (node means over many batches). */
export function row_sum_f64(acc: usize, x: usize, C: i32, N: i32, tid: i32, nth: i32): void {
  const cs = part_start(C, tid, nth), ce = part_start(C, tid + 1, nth);
  const rowBytes = <usize>N << 2;
  for (let c = cs; c < ce; c++) {
    const row = x + <usize>c * rowBytes;
    let s: f64 = 0;
    for (let n = 0; n < N; n++) s += <f64>load<f32>(row + (<usize>n << 2));
    const pa = acc + (<usize>c << 3);
    store<f64>(pa, load<f64>(pa) + s);
  }
}
